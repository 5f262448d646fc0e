# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Whole-volume reconstruction: aligned NIfTI and DICOM round trips, batch-size invariance, bounded batches read
lazily, shared noise across slices, multi-slice fastMRI files, the slice-range option."""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import numpy as np
import pytest
import sigpy
import torch

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.inference import MRIVolumeRunner
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.volume import VolumeReconstruction
from monai_d3gm.errors import InputTooLargeError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.io import MRIVolume, read_dicom_series, write_fastmri, write_nifti
from monai_d3gm.io.geometry import volume_slice_range
from monai_d3gm.memory import MemoryGuard
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.masks import CartesianMask
from tests.io.test_dicom import make_dicom_series


def _reconstructor(sampler: str = "sde") -> D3GMReconstructor:
    torch.manual_seed(0)
    net = ScoreUNet(image_channels=2, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    return D3GMReconstructor(
        net, inferer, mask=CartesianMask("random", 4, 0.16), num_inference_steps=3, sampler=sampler
    )


def _oblique_nifti(tmp_path, slices: int = 8):
    volume = np.abs(sigpy.shepp_logan((slices, 24, 20))).astype(np.float32).transpose(1, 2, 0) + 0.01
    affine = np.array([[0.0, 0.9, 0.1, -40.0], [1.1, 0.0, 0.0, 12.0], [0.0, 0.05, 3.0, -7.5], [0, 0, 0, 1.0]])
    return write_nifti(volume, affine, tmp_path / "vol.nii.gz"), volume, affine


@pytest.mark.parametrize("axis", [2, 0])
def test_nifti_volume_round_trip_is_aligned(tmp_path, axis):
    path, volume, affine = _oblique_nifti(tmp_path)
    runner = MRIVolumeRunner(
        _reconstructor(), tmp_path / "out", input_path=path, batch_size=2, progress=False,
        slice_axis=axis,
    )  # fmt: skip
    summary = runner()
    record = summary["cases"]["vol"]
    out = nib.load(record["files"]["reconstruction"])
    assert out.shape == volume.shape
    np.testing.assert_allclose(out.affine, affine, atol=1e-5)  # opens aligned with the input
    assert record["num_slices"] == volume.shape[axis] and record["slices_per_second"] > 0
    assert set(record["metrics"]) == {"d3gm", "zero_filled"}
    assert nib.load(record["files"]["zero_filled"]).shape == volume.shape
    for key in ("comparison", "through_plane"):
        assert (tmp_path / "out" / "vol" / f"{key}.png").is_file()
    assert json.loads((tmp_path / "out" / "vol" / "metrics.json").read_text())["num_slices"] == volume.shape[axis]


def test_slice_range_keeps_world_coordinates(tmp_path):
    path, volume, affine = _oblique_nifti(tmp_path, slices=6)
    runner = MRIVolumeRunner(_reconstructor(), tmp_path / "out", input_path=path, slices="2:5", progress=False)
    out = nib.load(runner()["cases"]["vol"]["files"]["reconstruction"])
    assert out.shape == (24, 20, 3)
    # voxel (i, j, 0) of the output is voxel (i, j, 2) of the input: the same point in the scanner
    np.testing.assert_allclose(out.affine @ [3, 4, 0, 1], affine @ [3, 4, 2, 1], atol=1e-5)
    with pytest.raises(MRIInputError, match="selects nothing"):
        volume_slice_range("7:9", 6)
    with pytest.raises(MRIInputError, match="start:stop"):
        volume_slice_range("a:b", 6)
    assert list(volume_slice_range(":2", 6)) == [0, 1] and list(volume_slice_range(None, 3)) == [0, 1, 2]


def test_dicom_series_round_trip_is_aligned(tmp_path):
    made = make_dicom_series(tmp_path / "series", n=4, rows=24, cols=20)
    runner = MRIVolumeRunner(
        _reconstructor(), tmp_path / "out", input_path=tmp_path / "series", batch_size=3,
        progress=False,
    )  # fmt: skip
    record = runner()["cases"]["series"]
    source = read_dicom_series(tmp_path / "series")
    written = read_dicom_series(tmp_path / "out" / "series" / "dicom")
    assert len(record["files"]["dicom"]) == 4
    assert written.volume.shape == source.volume.shape
    np.testing.assert_allclose(written.affine, source.affine, atol=1e-4)  # same position and orientation
    for a, b in zip(written.datasets, source.datasets):
        assert a.FrameOfReferenceUID == b.FrameOfReferenceUID == made["frame_uid"]
        assert a.SeriesInstanceUID != b.SeriesInstanceUID  # a derived series
    nifti = nib.load(record["files"]["reconstruction"])
    np.testing.assert_allclose(nifti.affine, source.affine, atol=1e-4)
    np.testing.assert_allclose(np.asarray(nifti.dataobj), written.volume, rtol=1e-3, atol=1e-3 * written.volume.max())


def test_batch_size_changes_speed_not_result(tmp_path):
    path, _, _ = _oblique_nifti(tmp_path)
    volume = MRIVolume(path)
    one = VolumeReconstruction(_reconstructor(), batch_size=1, progress=False)(volume)
    three = VolumeReconstruction(_reconstructor(), batch_size=3, progress=False)(volume)
    np.testing.assert_allclose(one["magnitude"], three["magnitude"], atol=1e-4 * one["magnitude"].max())


def test_batches_are_bounded_and_read_lazily(tmp_path, monkeypatch):
    images = np.stack([sigpy.shepp_logan((16, 16)) * (1 + 0.1 * i) for i in range(7)])
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(images, axes=(-2, -1))), axes=(-2, -1))
    write_fastmri(tmp_path / "multi.h5", k.astype(np.complex64))
    volume = MRIVolume(tmp_path / "multi.h5")
    assert len(volume) == 7 and volume.format == "fastmri"
    reads, batches = [], []
    original_getitem = MRIVolume.__getitem__
    monkeypatch.setattr(MRIVolume, "__getitem__", lambda self, i: reads.append(i) or original_getitem(self, i))
    recon = _reconstructor()
    original_batch = recon.reconstruct_batch

    def spy(batch, seeds, verbose=None):
        batches.append((len(batch), len(reads)))
        return original_batch(batch, seeds, verbose)

    recon.reconstruct_batch = spy
    result = VolumeReconstruction(recon, batch_size=3, progress=False)(volume)
    assert [b for b, _ in batches] == [3, 3, 1]
    assert [r for _, r in batches] == [3, 6, 7]  # each batch is read just before it is sampled, not the file at once
    assert result["magnitude"].shape == (7, 16, 16)
    runner = MRIVolumeRunner(_reconstructor(), tmp_path / "out", input_path=tmp_path / "multi.h5", progress=False)
    out = nib.load(runner()["cases"]["multi"]["files"]["reconstruction"])
    assert out.shape == (16, 16, 7)  # k-space inputs stack their slices along the last axis


def test_shared_noise_gives_identical_slices_the_same_sample(tmp_path):
    volume = np.repeat(np.abs(sigpy.shepp_logan((24, 20)))[..., None], 3, axis=2).astype(np.float32)
    path = write_nifti(volume, np.eye(4), tmp_path / "same.nii.gz")
    shared = VolumeReconstruction(_reconstructor(), batch_size=3, noise="shared", progress=False)(MRIVolume(path))
    independent = VolumeReconstruction(_reconstructor(), batch_size=3, progress=False)(MRIVolume(path))
    np.testing.assert_allclose(shared["magnitude"][0], shared["magnitude"][2], atol=1e-5)
    assert np.abs(independent["magnitude"][0] - independent["magnitude"][2]).max() > 1e-3
    with pytest.raises(MRIInputError, match="noise must be one of"):
        VolumeReconstruction(_reconstructor(), noise="correlated")
    with pytest.raises(MRIInputError, match="batch_size"):
        VolumeReconstruction(_reconstructor(), batch_size=0)


def test_batch_too_large_for_memory_is_shrunk_with_the_same_result(tmp_path):
    path, _, _ = _oblique_nifti(tmp_path, slices=7)
    volume = MRIVolume(path)
    reference = VolumeReconstruction(_reconstructor(), batch_size=1, progress=False)(volume)
    recon = _reconstructor()
    per_slice = recon.inferer.memory_guard.estimate(recon.network, (1, 2, 24, 20))
    recon.inferer.memory_guard = MemoryGuard(budget=int(2.5 * per_slice))  # room for two slices, not eight
    batches = []
    original_batch = recon.reconstruct_batch

    def spy(batch, seeds, verbose=None):
        batches.append(len(batch))
        return original_batch(batch, seeds, verbose)

    recon.reconstruct_batch = spy
    with pytest.warns(UserWarning, match="batch_size 8 does not fit.*batches of 2"):
        shrunk = VolumeReconstruction(recon, batch_size=8, progress=False)(volume)
    assert batches == [2, 2, 2, 1]
    np.testing.assert_allclose(shrunk["magnitude"], reference["magnitude"], atol=1e-4 * reference["magnitude"].max())
    assert shrunk["slices"] == reference["slices"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a batch larger than the volume is no memory problem: no warning
        VolumeReconstruction(_reconstructor(), batch_size=8, progress=False)(volume, slices=range(3))
    recon.inferer.memory_guard = MemoryGuard(budget=int(0.5 * per_slice))
    with pytest.raises(InputTooLargeError, match=r"\(1, 2, 24, 20\)"):
        VolumeReconstruction(recon, batch_size=8, progress=False)(volume)


def test_empty_padding_slices_pass_through_as_zeros(tmp_path):
    """Exported volumes often carry all-zero slices at their ends (the real niivue FLAIR has six): they are written
    as zeros with one warning, the others are reconstructed as if the padding were not there."""
    path, data, affine = _oblique_nifti(tmp_path, slices=6)
    padded = data.copy()
    padded[:, :, [0, 1, 5]] = 0
    volume = MRIVolume(write_nifti(padded, affine, tmp_path / "padded.nii.gz"))
    with pytest.warns(UserWarning, match=r"3 slice\(s\) hold only zeros \(0-1, 5\)"):
        result = VolumeReconstruction(_reconstructor(), batch_size=2, progress=False)(volume)
    assert result["empty"] == [0, 1, 5] and len(result["metrics"]) == 3
    assert not result["magnitude"][[0, 1, 5]].any() and result["magnitude"][[2, 3, 4]].min(axis=(1, 2)).max() >= 0
    assert all(result["magnitude"][i].any() for i in (2, 3, 4))
    alone = VolumeReconstruction(_reconstructor(), batch_size=2, progress=False)(MRIVolume(path), range(2, 5))
    np.testing.assert_allclose(result["magnitude"][2:5], alone["magnitude"], atol=1e-4 * alone["magnitude"].max())
    runner = MRIVolumeRunner(_reconstructor(), tmp_path / "out", input_path=volume.path, progress=False)
    with pytest.warns(UserWarning, match="hold only zeros"):
        record = runner()["cases"]["padded"]
    assert record["empty_slices"] == [0, 1, 5]
    assert nib.load(record["files"]["reconstruction"]).shape == padded.shape
    with pytest.raises(MRIInputError, match="every chosen slice"):
        VolumeReconstruction(_reconstructor(), progress=False)(volume, range(0, 2))
