# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The super-resolution bundle's inference (``inference.json``'s evaluator and whole-volume runner, with a tiny
untrained network): HR geometry of NIfTI and DICOM outputs, simulated evaluation, early errors, the demo."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pytest
import sigpy
import torch
from monai.bundle import ConfigParser

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.super_resolution import upsampled_affine
from monai_d3gm.apps.super_resolution.inference import SuperResolutionVolumeRunner, demo_case
from monai_d3gm.apps.super_resolution.restore import D3GMSuperResolver
from monai_d3gm.errors import documented_cause
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.io import read_dicom_series, write_fastmri, write_nifti
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from tests.bundles.bundle_checks import BUNDLES
from tests.io.test_dicom import make_dicom_series


@pytest.fixture(scope="module")
def resolver():
    torch.manual_seed(0)
    net = ScoreUNet(image_channels=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    return D3GMSuperResolver(net, inferer, scale=4, num_inference_steps=2)


def run_pipeline(resolver, input_path, output_dir, **overrides) -> dict:
    """The super-resolution bundle's ``restore`` with ``resolver``'s network (its weights are not loaded); returns the
    summary."""
    parser = ConfigParser()
    parser.read_config(BUNDLES / "mri_super_resolution_d3gm" / "configs" / "inference.json")
    settings = {"num_inference_steps": 2, "progress": False, "device": "$torch.device('cpu')"}
    parser.update({"network": resolver.network, "input_path": str(input_path), "output_dir": str(output_dir),
                   **settings, **overrides})  # fmt: skip
    parser.get_parsed_content("restore")
    return json.loads((output_dir / "metrics.json").read_text())


def _refused(match: str, resolver, input_path, output_dir) -> None:
    with pytest.raises(Exception) as raised:
        run_pipeline(resolver, input_path, output_dir)
    cause = documented_cause(raised.value)
    assert isinstance(cause, MRIInputError) and re.search(match, str(cause)), raised.value


def _phantom(n: int = 32) -> np.ndarray:
    return np.abs(sigpy.shepp_logan((n, n))).astype(np.float32)


def test_upsampled_affine_keeps_the_field_of_view():
    affine = np.array([[0, 0, 2.0, -10], [-3.0, 0, 0, 20], [0, 1.5, 0, 5], [0, 0, 0, 1]])
    hr = upsampled_affine(affine, 4, axes=(0, 1))
    for j in range(8):  # HR voxel j is LR coordinate (j + 0.5) / 4 - 0.5
        u = (j + 0.5) / 4 - 0.5
        np.testing.assert_allclose(hr @ [j, j, 3, 1], affine @ [u, u, 3, 1])
    # the outer edge of the first voxel is the same in both grids
    np.testing.assert_allclose(hr @ [-0.5, -0.5, 0, 1], affine @ [-0.5, -0.5, 0, 1])
    np.testing.assert_allclose(hr[:3, 2], affine[:3, 2])  # the slice axis is untouched


def test_nifti_low_resolution_input_gets_the_fine_grid(tmp_path, resolver):
    affine = np.diag([3.2, 3.6, 5.0, 1.0])
    affine[:3, 3] = [-50, 40, 12]
    write_nifti(np.stack([_phantom(16)] * 3, axis=-1), affine, tmp_path / "lr.nii.gz")
    summary = run_pipeline(resolver, tmp_path / "lr.nii.gz", tmp_path / "out", slice_index=1)
    record = summary["cases"]["lr"]
    assert record["simulate"] == "none" and record["metrics"] == {}
    assert record["input_shape"] == [16, 16] and record["output_shape"] == [64, 64]
    img = nib.load(tmp_path / "out" / "lr" / "super_resolution.nii.gz")
    assert img.shape == (64, 64, 1)
    expected = affine.copy()
    expected[:3, 3] += affine[:3, 2] * 1  # slice 1
    np.testing.assert_allclose(img.affine, upsampled_affine(expected, 4, axes=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.9, 5.0), atol=1e-6)
    assert (tmp_path / "out" / "lr" / "comparison.png").stat().st_size > 0


def test_simulated_evaluation_scores_three_methods(tmp_path, resolver):
    write_nifti(_phantom(34)[..., None], np.eye(4), tmp_path / "hr.nii.gz")
    summary = run_pipeline(resolver, tmp_path / "hr.nii.gz", tmp_path / "out", simulate="blur")
    record = summary["cases"]["hr"]
    assert set(record["metrics"]) == {"d3gm", "bicubic", "sinc"}
    assert record["input_shape"] == [8, 8] and record["output_shape"] == [32, 32]  # cropped to a multiple of 4
    img = nib.load(tmp_path / "out" / "hr" / "super_resolution.nii.gz")
    np.testing.assert_allclose(img.affine, np.eye(4))  # a simulated reference keeps its grid
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["mean"]["metrics"]["bicubic"]["psnr"] == pytest.approx(record["metrics"]["bicubic"]["psnr"])


def test_dicom_series_round_trip_is_aligned(tmp_path, resolver):
    make_dicom_series(tmp_path / "series", n=3, rows=12, cols=8)
    series = read_dicom_series(tmp_path / "series")
    run_pipeline(resolver, tmp_path / "series", tmp_path / "out", slice_index=2)
    written = read_dicom_series(tmp_path / "out" / "series" / "dicom")
    assert written.volume.shape == (1, 48, 32)
    np.testing.assert_allclose(written.spacing[1:], np.array(series.spacing[1:]) / 4, rtol=1e-6)
    shift = np.eye(4)
    shift[0, 3] = 2
    expected = upsampled_affine(series.affine @ shift, 4, axes=(1, 2))
    np.testing.assert_allclose(written.affine[:, 1:], expected[:, 1:], atol=1e-4)
    assert written.datasets[0].SeriesDescription == "D3GM super-resolution"


def test_kspace_inputs_and_bad_options_fail_before_any_output(tmp_path, resolver):
    write_fastmri(tmp_path / "k.h5", np.ones((1, 16, 16), np.complex64))
    _refused("reconstruction bundle", resolver, tmp_path / "k.h5", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    write_nifti(np.zeros((16, 16, 1), np.float32), np.eye(4), tmp_path / "zero.nii.gz")
    _refused("slice 0 holds only zeros.*whole_volume", resolver, tmp_path / "zero.nii.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(MRIInputError, match="simulate"):
        D3GMSuperResolver(resolver.network, resolver.inferer, simulate="bicubic")


def test_demo_case_is_a_simulated_mni_slice():
    case = demo_case()
    assert case["simulate"] == "kspace" and case["image"].shape == (233, 197)
    assert 0.0 <= case["image"].min() and case["image"].max() <= 1.0


def test_whole_volume_matches_the_slices_and_keeps_the_geometry(tmp_path, resolver):
    """Every slice super-resolved as the single-slice mode does it, stacked on the fine grid; padding slices stay
    zeros; the DICOM series is written whole and aligned."""
    affine = np.diag([3.2, 3.6, 5.0, 1.0])
    affine[:3, 3] = [-50, 40, 12]
    volume = np.stack([_phantom(16) * (1 + 0.2 * k) for k in range(4)], axis=-1)
    volume[..., 0] = 0  # an empty end slice, as exports have
    write_nifti(volume, affine, tmp_path / "lr.nii.gz")
    runner = SuperResolutionVolumeRunner(resolver, tmp_path / "out", tmp_path / "lr.nii.gz", slices="0:3",
                                         progress=False)  # fmt: skip
    with pytest.warns(UserWarning, match="1 slice"):
        record = runner()["cases"]["lr"]
    assert record["empty_slices"] == [0] and record["output_shape"] == [64, 64, 3]
    img = nib.load(tmp_path / "out" / "lr" / "super_resolution.nii.gz")
    np.testing.assert_allclose(img.affine, upsampled_affine(affine, 4, axes=(0, 1)), atol=1e-5)
    data = img.get_fdata()
    assert not data[..., 0].any()
    one = run_pipeline(resolver, tmp_path / "lr.nii.gz", tmp_path / "one", slice_index=2)
    single = nib.load(one["cases"]["lr"]["files"]["super_resolution"]).get_fdata()[..., 0]
    np.testing.assert_allclose(data[..., 2], single, atol=1e-4 * single.max())

    make_dicom_series(tmp_path / "series", n=3, rows=12, cols=8)
    series = read_dicom_series(tmp_path / "series")
    SuperResolutionVolumeRunner(resolver, tmp_path / "dcm", tmp_path / "series", progress=False)()
    written = read_dicom_series(tmp_path / "dcm" / "series" / "dicom")
    assert written.volume.shape == (3, 48, 32)
    np.testing.assert_allclose(written.affine, upsampled_affine(series.affine, 4, axes=(1, 2)), atol=1e-4)


@pytest.mark.parametrize("degradation", ["kspace", "blur"])
def test_training_and_inference_build_the_same_mu(degradation):
    """One HR slice through train.json's SimulateLowResolutiond and through the super-resolver's prepare: the same
    target and, up to prepare's normalisation, the same μ (one code path degrades both)."""
    from monai_d3gm.apps.super_resolution import D3GMSuperResolver, SimulateLowResolutiond
    from monai_d3gm.inferers import D3GMInferer
    from monai_d3gm.networks.schedulers import D3GMScheduler

    image = torch.rand(37, 42) + 0.1
    train = SimulateLowResolutiond("image", scale=4, degradation=degradation, sigma=1.5)({"image": image})
    resolver = D3GMSuperResolver(torch.nn.Identity(), D3GMInferer(D3GMScheduler()), scale=4, sigma=1.5)
    prepared = resolver.prepare({"image": image.numpy(), "simulate": degradation})
    torch.testing.assert_close(prepared.reference, train["target"][0], rtol=0, atol=0)
    torch.testing.assert_close(prepared.mu * prepared.norm, train["mu"][0], rtol=1e-6, atol=1e-6)


def test_kspace_simulation_does_not_use_sigma():
    """sigma is the blur's; a k-space truncation neither needs nor checks it."""
    from monai_d3gm.apps.super_resolution import D3GMSuperResolver
    from monai_d3gm.inferers import D3GMInferer
    from monai_d3gm.networks.schedulers import D3GMScheduler

    resolver = D3GMSuperResolver(torch.nn.Identity(), D3GMInferer(D3GMScheduler()), scale=4, sigma=None)
    image = np.random.default_rng(0).random((32, 32)) + 0.1
    assert resolver.prepare({"image": image, "simulate": "kspace"}).lr.shape == (8, 8)
    with pytest.raises(MRIInputError, match="num_samples must be >= 1"):  # checked before the scale, as it was
        D3GMSuperResolver(torch.nn.Identity(), D3GMInferer(D3GMScheduler()), scale=1, num_samples=0)


def test_whole_volume_through_the_config_prepares_no_single_slice(tmp_path, resolver):
    """``whole_volume`` runs the volume runner only: the per-slice evaluator's cases stay empty, so an all-zero middle
    slice (which single-slice mode refuses) passes through as zeros."""
    volume = np.stack([_phantom(16), np.zeros((16, 16), np.float32), _phantom(16)], axis=-1)
    write_nifti(volume, np.eye(4), tmp_path / "gap.nii.gz")
    with pytest.warns(UserWarning, match="1 slice"):
        summary = run_pipeline(resolver, tmp_path / "gap.nii.gz", tmp_path / "out", whole_volume=True)
    assert summary["cases"]["gap"]["empty_slices"] == [1]
    _refused("slice 1 holds only zeros", resolver, tmp_path / "gap.nii.gz", tmp_path / "single")
