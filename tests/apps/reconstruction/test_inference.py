# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The bundle's per-slice inference pipeline (``inference.json``'s evaluator, run here with a tiny untrained network):
input discovery, outputs per format, geometry, atomic files, the embedded demo case."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import sigpy
import torch
from monai.bundle import ConfigParser

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.inference import demo_case
from monai_d3gm.data.demo import mni152_template_path
from monai_d3gm.errors import documented_cause
from monai_d3gm.io import read_dicom_series, write_cfl, write_fastmri, write_nifti
from monai_d3gm.io.inputs import find_mri_inputs
from monai_d3gm.physics.masks import CartesianMask
from tests.bundles.bundle_checks import BUNDLES
from tests.io.test_dicom import make_dicom_series

#: a tiny untrained network in place of the bundle's (its weights are not loaded)
TINY_NETWORK = {
    "_target_": "monai_d3gm.networks.nets.ScoreUNet",
    "spatial_dims": 2,
    "image_channels": 2,
    "channels": [8, 8],
    "attention_levels": [False, False],
    "num_res_blocks": 1,
    "norm_num_groups": 4,
}


def run_pipeline(input_path, output_dir, **overrides) -> dict:
    """The reconstruction bundle's ``restore`` (its per-slice evaluator) with the tiny network; returns the summary."""
    parser = ConfigParser()
    parser.read_config(BUNDLES / "mri_reconstruction_d3gm" / "configs" / "inference.json")
    settings = {"center_fraction": 0.16, "num_inference_steps": 2, "progress": False, "device": "$torch.device('cpu')"}
    parser.update({"network_def": TINY_NETWORK, "input_path": str(input_path), "output_dir": str(output_dir),
                   **settings, **overrides})  # fmt: skip
    torch.manual_seed(0)
    parser.get_parsed_content("restore")
    return json.loads((output_dir / "metrics.json").read_text())


def _phantom(n: int = 32) -> np.ndarray:
    return np.abs(sigpy.shepp_logan((n, n))).astype(np.float32)


def test_find_inputs_in_a_folder(tmp_path):
    k = np.fft.fft2(_phantom()).astype(np.complex64)
    write_fastmri(tmp_path / "a.h5", k[None])
    write_cfl(tmp_path / "b", k[None, :, :, None])
    write_nifti(_phantom()[..., None], np.eye(4), tmp_path / "c.nii.gz")
    make_dicom_series(tmp_path / "d_series", n=2, rows=16, cols=16)
    (tmp_path / ".hidden.h5").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an input")
    names = [p.name for p in find_mri_inputs(tmp_path)]
    assert names == ["a.h5", "b", "c.nii.gz", "d_series"]  # b.cfl and b.hdr are one BART case
    assert find_mri_inputs(tmp_path / "a.h5") == [tmp_path / "a.h5"]
    assert find_mri_inputs(tmp_path / "d_series") == [tmp_path / "d_series"]  # a folder of DICOM files


def test_find_inputs_errors(tmp_path):
    with pytest.raises(MRIInputError, match="does not exist"):
        find_mri_inputs(tmp_path / "missing.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MRIInputError, match="holds no MRI input"):
        find_mri_inputs(tmp_path / "empty")
    (tmp_path / "x.xyz").write_text("?")
    with pytest.raises(MRIInputError, match="unknown MRI format"):
        find_mri_inputs(tmp_path / "x.xyz")


def test_pipeline_writes_nifti_png_metrics_with_slice_geometry(tmp_path):
    volume = np.stack([_phantom()] * 3, axis=-1) * 100.0
    affine = np.diag([0.9, 0.8, 2.5, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 20.0]
    write_nifti(volume, affine, tmp_path / "vol.nii.gz")
    summary = run_pipeline(tmp_path / "vol.nii.gz", tmp_path / "out", slice_index=2)
    out = tmp_path / "out" / "vol"
    img = nib.load(out / "reconstruction.nii.gz")
    assert img.shape == (32, 32, 1)
    # the one-slice volume sits where slice 2 of the input sits
    np.testing.assert_allclose(img.affine @ [0, 0, 0, 1], affine @ [0, 0, 2, 1])
    assert (out / "comparison.png").stat().st_size > 1000
    record = json.loads((out / "metrics.json").read_text())
    assert set(record["metrics"]) == {"d3gm", "zero_filled"} and record["slice_index"] == 2
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == summary
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_pipeline_dicom_input_writes_a_derived_series(tmp_path):
    make_dicom_series(tmp_path / "series", n=3, rows=32, cols=32)
    run_pipeline(tmp_path / "series", tmp_path / "out")
    source = read_dicom_series(tmp_path / "series")
    derived = read_dicom_series(tmp_path / "out" / "series" / "dicom")
    assert derived.volume.shape == (1, 32, 32)
    np.testing.assert_allclose(derived.positions[0], source.positions[1], atol=1e-4)  # the middle slice
    assert derived.series_instance_uid != source.series_instance_uid


def test_pipeline_dicom_input_writes_the_interval_bounds_as_series(tmp_path):
    from monai_d3gm.uncertainty import IntervalCalibration, IntervalScales

    calibration = IntervalCalibration({"all": {0.9: {2: IntervalScales([], [2.0], 0.0)}}})
    path = calibration.save(tmp_path / "calibration.json")
    make_dicom_series(tmp_path / "series", n=3, rows=32, cols=32)
    summary = run_pipeline(
        tmp_path / "series", tmp_path / "out", num_samples=2, interval=0.9, calibration_file=str(path)
    )
    folder = tmp_path / "out" / "series"
    series = {n: read_dicom_series(folder / n) for n in ("dicom", "dicom_lower", "dicom_upper")}
    assert len({s.series_instance_uid for s in series.values()}) == 3
    numbers = sorted(int(s.datasets[0].SeriesNumber) for s in series.values())
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    assert np.all(
        series["dicom_lower"].volume <= series["dicom_upper"].volume + 1e-3 * series["dicom_upper"].volume.max()
    )
    assert summary["cases"]["series"]["interval"]["calibration_group"] == "all"
    assert {"lower", "upper", "dicom_lower", "dicom_upper"} <= set(summary["cases"]["series"]["files"])


def test_pipeline_kspace_without_reference_and_posterior_std(tmp_path):
    k = np.fft.fft2(_phantom()).astype(np.complex64)
    mask = CartesianMask("equispaced", 4, 0.16, seed=0)((32, 32)).numpy()
    np.save(tmp_path / "acq.npy", (k * mask)[None])
    summary = run_pipeline(tmp_path / "acq.npy", tmp_path / "out", use_acquired_mask=True, num_samples=2, sampler="sde")
    assert summary["cases"]["acq"]["metrics"] == {} and summary["cases"]["acq"]["acceleration"] > 2.5
    assert summary["mean"] == {}
    assert nib.load(tmp_path / "out" / "acq" / "std.nii.gz").shape == (32, 32, 1)


def test_pipeline_checks_every_input_before_reconstructing(tmp_path):
    with pytest.raises(Exception) as raised:
        run_pipeline(tmp_path / "nothing_here.h5", tmp_path / "out")
    assert isinstance(documented_cause(raised.value), MRIInputError)
    assert not (tmp_path / "out").exists()


def test_demo_case_is_real_offline_data():
    path = mni152_template_path()
    assert path.is_file() and "nilearn" in str(path)
    case = demo_case(num_coils=4, slice_index=100)
    k = case["kspace"]
    assert k.shape == (4, 233, 197) and np.isfinite(k).all()
    image = np.sqrt((np.abs(np.fft.ifft2(np.fft.ifftshift(k, (-2, -1)))) ** 2).sum(0))
    assert image.max() > 0 and case["slice_affine"].shape == (4, 4)
    np.testing.assert_array_equal(demo_case(4, 100)["kspace"], k)  # deterministic


def test_undersampled_kspace_keeps_its_acquired_samples(tmp_path):
    """A mask is asked for, but the file is already undersampled: warn and use what was acquired (not R = 16)."""
    k = np.fft.fft2(_phantom()).astype(np.complex64)
    mask = CartesianMask("equispaced", 4, 0.16, seed=0)((32, 32)).numpy()
    np.save(tmp_path / "acq.npy", (k * mask)[None])
    with pytest.warns(UserWarning, match="already undersampled"):
        summary = run_pipeline(tmp_path / "acq.npy", tmp_path / "out")
    assert summary["cases"]["acq"]["acceleration"] == pytest.approx(32 / mask[0].sum())
