# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the ISMRMRD/MRD reader and of noise pre-whitening (synthetic files and the real Gadgetron phantom)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import noise_prewhitening_matrix, prewhiten, read_ismrmrd
from monai_d3gm.io.ismrmrd import ISMRMRD_NAMESPACE
from tests.utils import shared_data

_IDX = np.dtype(
    [(k, "<u2") for k in ("kspace_encode_step_1", "kspace_encode_step_2", "average", "slice", "contrast", "phase")]
    + [(k, "<u2") for k in ("repetition", "set", "segment")]
    + [("user", "<u2", (8,))]
)
_HEAD = np.dtype(
    [("version", "<u2"), ("flags", "<u8"), ("measurement_uid", "<u4"), ("scan_counter", "<u4")]
    + [("acquisition_time_stamp", "<u4"), ("physiology_time_stamp", "<u4", (3,)), ("number_of_samples", "<u2")]
    + [("available_channels", "<u2"), ("active_channels", "<u2"), ("channel_mask", "<u8", (16,))]
    + [("discard_pre", "<u2"), ("discard_post", "<u2"), ("center_sample", "<u2"), ("encoding_space_ref", "<u2")]
    + [("trajectory_dimensions", "<u2"), ("sample_time_us", "<f4")]
    + [(k, "<f4", (3,)) for k in ("position", "read_dir", "phase_dir", "slice_dir", "patient_table_position")]
    + [("idx", _IDX), ("user_int", "<i4", (8,)), ("user_float", "<f4", (8,))]
)
_ACQUISITION = np.dtype([("head", _HEAD), ("traj", h5py.vlen_dtype(np.float32)), ("data", h5py.vlen_dtype(np.float32))])
NOISE, CALIB, REVERSE = 1 << 18, 1 << 19, 1 << 21
PHANTOM = ("gadgetron-ismrmrd-phantom-14ch", "meas_MID00349_FID09273_SNR_R3.h5")


def mrd_xml(nx: int, ny: int, recon_x: int, center: int, trajectory: str = "cartesian", channels: int = 3) -> str:
    """A minimal ISMRMRD header."""
    return f"""<?xml version="1.0"?>
<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}">
<acquisitionSystemInformation><receiverChannels>{channels}</receiverChannels></acquisitionSystemInformation>
<encoding>
<encodedSpace><matrixSize><x>{nx}</x><y>{ny}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>{2 * nx}</x><y>{ny}</y><z>5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>{recon_x}</x><y>{ny}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>{2 * recon_x}</x><y>{ny}</y><z>5</z></fieldOfView_mm></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{ny - 1}</maximum><center>{center}</center>
</kspace_encoding_step_1></encodingLimits>
<trajectory>{trajectory}</trajectory>
<parallelImaging><accelerationFactor><kspace_encoding_step_1>2</kspace_encoding_step_1>
<kspace_encoding_step_2>1</kspace_encoding_step_2></accelerationFactor><calibrationMode>embedded</calibrationMode>
</parallelImaging></encoding></ismrmrdHeader>"""


def write_mrd(path: Path, lines: list[dict], xml: str | None, with_data: bool = True) -> Path:
    """Write an MRD file; each line is a dict with ``data`` (channels, samples) and head fields/idx fields."""
    acq = np.zeros(len(lines), dtype=_ACQUISITION)
    for i, line in enumerate(lines):
        data = np.ascontiguousarray(line["data"], dtype=np.complex64)
        head = acq[i]["head"]
        head["version"] = 1
        head["flags"] = line.get("flags", 0)
        head["active_channels"] = head["available_channels"] = data.shape[0]
        head["number_of_samples"] = data.shape[1]
        head["center_sample"] = line.get("center_sample", data.shape[1] // 2)
        head["sample_time_us"] = line.get("sample_time_us", 5.0)
        head["trajectory_dimensions"] = line.get("trajectory_dimensions", 0)
        head["idx"]["kspace_encode_step_1"] = line.get("ky", 0)
        head["idx"]["slice"] = line.get("slice", 0)
        head["idx"]["average"] = line.get("average", 0)
        acq[i]["head"] = head
        acq[i]["traj"] = np.asarray(line.get("traj", []), dtype=np.float32)
        acq[i]["data"] = data.view(np.float32).ravel()
    with h5py.File(path, "w") as f:
        grp = f.create_group("dataset")
        if xml is not None:
            grp.create_dataset("xml", data=np.array([xml.encode()], dtype=object), dtype=h5py.string_dtype())
        if with_data:
            grp.create_dataset("data", data=acq)
    return path


def make_acquisition(tmp_path: Path, slices: int = 1, reverse_ky: int | None = None, seed: int = 0):
    """A synthetic 3-coil, 16x12 Cartesian acquisition: noise scan, every 2nd ky, 4 calibration lines."""
    rng = np.random.default_rng(seed)
    coils, ny, nx = 3, 12, 16
    truth = (rng.standard_normal((slices, coils, ny, nx)) + 1j * rng.standard_normal((slices, coils, ny, nx))).astype(
        np.complex64
    )
    mix = np.array([[1.0, 0, 0], [0.5, 1.0, 0], [0.2, 0.3, 0.8]])
    noise = (mix @ (rng.standard_normal((coils, 400)) + 1j * rng.standard_normal((coils, 400)))).astype(np.complex64)
    acquired = sorted(set(range(0, ny, 2)) | {5, 6, 7})
    lines = [{"data": noise, "flags": NOISE, "center_sample": 0, "sample_time_us": 10.0}]
    for s in range(slices):
        for ky in acquired:
            data = truth[s, :, ky]
            flags = CALIB if ky in (4, 5, 6, 7) else 0
            if ky == reverse_ky:
                data, flags = data[:, ::-1], flags | REVERSE
            lines.append({"data": data, "flags": flags, "ky": ky, "slice": s})
    path = write_mrd(tmp_path / "synthetic.h5", lines, mrd_xml(nx, ny, nx // 2, center=ny // 2))
    return path, truth, noise, acquired


def test_synthetic_single_slice(tmp_path):
    path, truth, noise, acquired = make_acquisition(tmp_path, reverse_ky=2)
    mrd = read_ismrmrd(path)
    assert mrd.kspace.shape == (3, 12, 16) and mrd.kspace.dtype == np.complex64 and mrd.num_coils == 3
    assert mrd.mask.shape == (12,) and np.flatnonzero(mrd.mask).tolist() == acquired
    assert np.flatnonzero(mrd.calibration).tolist() == [4, 5, 6, 7]
    np.testing.assert_array_equal(mrd.kspace[:, mrd.mask], truth[0][:, mrd.mask])  # the reversed line is flipped back
    assert not mrd.kspace[:, ~mrd.mask].any()
    np.testing.assert_array_equal(mrd.noise, noise)
    assert mrd.ky_offset == 0 and mrd.noise_dwell_time_us == 10.0 and mrd.acquisition_dwell_time_us == 5.0
    assert mrd.header["encoded_matrix"] == (16, 12, 1) and mrd.header["recon_matrix"] == (8, 12, 1)
    assert mrd.header["receiver_channels"] == 3 and mrd.header["acceleration"] == (2, 1)


def test_synthetic_multi_slice_and_averages(tmp_path):
    path, truth, _, acquired = make_acquisition(tmp_path, slices=2)
    mrd = read_ismrmrd(path)
    assert mrd.kspace.shape == (2, 3, 12, 16) and mrd.mask.shape == (2, 12) and mrd.slices == [0, 1]
    np.testing.assert_array_equal(mrd.kspace[1][:, acquired], truth[1][:, acquired])
    # two averages of one line are averaged
    data = np.ones((2, 8), np.complex64)
    lines = [{"data": data, "ky": 1}, {"data": 3 * data, "ky": 1, "average": 1}, {"data": data, "ky": 2}]
    mrd = read_ismrmrd(write_mrd(tmp_path / "avg.h5", lines, mrd_xml(8, 4, 8, center=2, channels=2)))
    np.testing.assert_allclose(mrd.kspace[:, 1], 2 * data)
    assert mrd.noise is None


def test_ky_centre_shift(tmp_path):
    """Lines 0..5 with the encoding centre at 3 in a 10-line matrix land on rows 2..7 (centre at 10 // 2)."""
    lines = [{"data": np.full((2, 8), ky + 1, np.complex64), "ky": ky} for ky in range(6)]
    path = write_mrd(tmp_path / "pf.h5", lines, mrd_xml(8, 10, 8, center=3, channels=2))
    mrd = read_ismrmrd(path)
    assert mrd.ky_offset == 2 and np.flatnonzero(mrd.mask).tolist() == [2, 3, 4, 5, 6, 7]
    assert mrd.kspace[0, 5, 0] == 4  # ky index 3 (the centre) at row 5
    raw = read_ismrmrd(path, center_ky=False)
    assert raw.ky_offset == 0 and np.flatnonzero(raw.mask).tolist() == list(range(6))


def test_remove_oversampling(tmp_path):
    """An object inside the central half of the readout FOV survives the crop unchanged (unitary FFTs)."""
    rng = np.random.default_rng(3)
    image = np.zeros((2, 12, 16), np.complex64)
    image[:, :, 5:11] = rng.standard_normal((2, 12, 6))

    def fft(x):
        return np.fft.fftshift(np.fft.fft(np.fft.ifftshift(x, axes=-1), axis=-1, norm="ortho"), axes=-1)

    kspace = fft(image)
    lines = [{"data": kspace[:, ky], "ky": ky} for ky in range(12)]
    path = write_mrd(tmp_path / "os.h5", lines, mrd_xml(16, 12, 8, center=6, channels=2))
    mrd = read_ismrmrd(path, remove_oversampling=True)
    assert mrd.oversampling_removed and mrd.kspace.shape == (2, 12, 8)
    np.testing.assert_allclose(mrd.kspace, fft(image[:, :, 4:12]), atol=1e-5)


def test_prewhitening(tmp_path):
    path, *_ = make_acquisition(tmp_path)
    mrd = read_ismrmrd(path)
    w = noise_prewhitening_matrix(mrd.noise)
    assert w.shape == (3, 3) and np.allclose(np.triu(w, 1), 0)
    white = w @ mrd.noise
    np.testing.assert_allclose(white @ white.conj().T / white.shape[1], np.eye(3), atol=1e-5)
    out = prewhiten(mrd.kspace, w)
    np.testing.assert_allclose(out, np.einsum("cd,dyx->cyx", w, mrd.kspace), rtol=1e-5, atol=1e-5)
    assert prewhiten(mrd.kspace[None], w).shape == (1, 3, 12, 16)
    with pytest.raises(MRIInputError, match="more samples than channels"):
        noise_prewhitening_matrix(mrd.noise[:, :3])
    with pytest.raises(MRIInputError, match="positive definite"):
        noise_prewhitening_matrix(np.concatenate([mrd.noise[:2], np.zeros_like(mrd.noise[:1])]))  # a dead channel
    with pytest.raises(MRIInputError, match="does not match"):
        prewhiten(mrd.kspace[:2], w)


@pytest.mark.parametrize(
    "trajectory, traj, match",
    [("radial", [], "trajectory is 'radial'"), ("cartesian", [0.1, 0.2], "non-Cartesian")],
)
def test_non_cartesian(tmp_path, trajectory, traj, match):
    lines = [{"data": np.ones((2, 8), np.complex64), "ky": 0, "traj": traj, "trajectory_dimensions": len(traj) > 0}]
    path = write_mrd(tmp_path / "nc.h5", lines, mrd_xml(8, 4, 8, center=2, trajectory=trajectory, channels=2))
    with pytest.raises(MRIInputError, match=match):
        read_ismrmrd(path)


def test_no_imaging_lines(tmp_path):
    lines = [{"data": np.ones((2, 8), np.complex64), "flags": NOISE}]
    with pytest.raises(MRIInputError, match="no imaging lines"):
        read_ismrmrd(write_mrd(tmp_path / "noise_only.h5", lines, mrd_xml(8, 4, 8, center=2, channels=2)))


def test_missing_xml(tmp_path):
    lines = [{"data": np.ones((2, 8), np.complex64)}]
    with pytest.raises(MRIInputError, match="dataset/xml"):
        read_ismrmrd(write_mrd(tmp_path / "no_xml.h5", lines, None))


def test_gadgetron_phantom():
    path = shared_data(*PHANTOM)
    mrd = read_ismrmrd(path)
    assert mrd.kspace.shape == (14, 144, 384) and mrd.kspace.dtype == np.complex64
    assert mrd.header["encoded_matrix"] == (384, 144, 1) and mrd.header["recon_matrix"] == (192, 144, 1)
    assert mrd.header["encoded_fov_mm"] == (560.0, 210.0, 8.0) and mrd.header["receiver_channels"] == 14
    assert mrd.header["acceleration"] == (3, 1) and mrd.header["calibration_mode"] == "embedded"
    assert mrd.noise.shape == (14, 384)  # the one noise scan, kept apart
    assert int(mrd.mask.sum()) == 68  # 68 imaging lines
    calib = np.flatnonzero(mrd.calibration)
    assert calib.size == 48 and np.all(np.diff(calib) == 1)  # 48 contiguous calibration lines
    assert calib[0] - mrd.ky_offset == 30 and calib[-1] - mrd.ky_offset == 77  # flagged ky 30..77
    assert mrd.ky_offset == 144 // 2 - 54  # encoding centre 54 moved to row 72
    rows = np.flatnonzero(mrd.mask)
    assert not mrd.kspace[:, ~mrd.mask].any() and np.abs(mrd.kspace[:, rows]).max() > 0
    # the k-space peak lies at the centre of the matrix
    energy = (np.abs(mrd.kspace) ** 2).sum(0)
    peak = np.unravel_index(energy.argmax(), energy.shape)
    assert abs(peak[0] - 72) <= 2 and abs(peak[1] - 192) <= 2

    w = noise_prewhitening_matrix(mrd.noise)
    white = w @ mrd.noise
    np.testing.assert_allclose(white @ white.conj().T / white.shape[1], np.eye(14), atol=1e-4)
    cropped = read_ismrmrd(path, remove_oversampling=True)
    assert cropped.kspace.shape == (14, 144, 192)
    assert np.isfinite(prewhiten(cropped.kspace, w)).all()
