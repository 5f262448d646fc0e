# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The MRI x4 super-resolution bundle as a Model Zoo user meets it."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import sigpy

from monai_d3gm.apps.super_resolution import upsampled_affine
from monai_d3gm.io import write_nifti
from tests.bundles.bundle_checks import (
    BUNDLES,
    check_layout_and_metadata,
    check_monai_bundle_load,
    check_ships_no_data,
    check_state_dict,
    check_train_two_iterations,
    check_verify_net_in_out,
    phantom_volume,
    run_bundle,
    run_ddp_against_one_process,
    run_tiny_calibration,
    zip_and_install,
)

BUNDLE = BUNDLES / "mri_super_resolution_d3gm"


def test_layout_and_metadata_required_fields():
    check_layout_and_metadata(BUNDLE)


def test_state_dict_is_plain_tensors():
    check_state_dict(BUNDLE)


def test_verify_net_in_out_with_timesteps():
    check_verify_net_in_out(BUNDLE, n=12)


def test_monai_bundle_load_gives_the_shipped_weights():
    check_monai_bundle_load(BUNDLE)


def test_bundle_ships_no_data():
    check_ships_no_data(BUNDLE)


def test_zip_download_and_inference_on_a_tiny_low_resolution_volume(tmp_path):
    """A generated 16 x 16 x 3 LR volume (3.2 x 3.6 mm in-plane) comes back 64 x 64 at 0.8 x 0.9 mm, same FOV."""
    installed = zip_and_install(BUNDLE, tmp_path)
    affine = np.diag([3.2, 3.6, 5.0, 1.0])
    lr = np.abs(sigpy.shepp_logan((3, 16, 16))).astype(np.float32).transpose(1, 2, 0)
    write_nifti(lr, affine, tmp_path / "lr.nii.gz")
    out = tmp_path / "out"
    proc = run_bundle(installed, "inference.json", input_path=str(tmp_path / "lr.nii.gz"), output_dir=str(out),
                      progress=False)  # fmt: skip
    assert "lr:" in proc.stdout
    img = nib.load(out / "lr" / "super_resolution.nii.gz")
    assert img.shape == (64, 64, 1)
    slice_affine = affine.copy()
    slice_affine[2, 3] = 5.0  # the middle slice (index 1)
    np.testing.assert_allclose(img.affine, upsampled_affine(slice_affine, 4, axes=(0, 1)), atol=1e-5)
    assert (out / "lr" / "comparison.png").is_file()


def test_simulated_blur_evaluation_reports_three_methods(tmp_path):
    hr = np.abs(sigpy.shepp_logan((1, 48, 48))).astype(np.float32).transpose(1, 2, 0)
    write_nifti(hr, np.eye(4), tmp_path / "hr.nii.gz")
    run_bundle(BUNDLE, "inference.json", input_path=str(tmp_path / "hr.nii.gz"), output_dir=str(tmp_path / "out"),
               simulate="blur", progress=False)  # fmt: skip
    record = json.loads((tmp_path / "out" / "hr" / "metrics.json").read_text())
    assert set(record["metrics"]) == {"d3gm", "bicubic", "sinc"} and record["simulate"] == "blur"


def test_train_two_iterations(tmp_path):
    check_train_two_iterations(BUNDLE, tmp_path, dataset_dir=str(phantom_volume(tmp_path, slices=64)))


def test_multi_gpu_train_config_runs_ddp_on_cpu(tmp_path):
    """``multi_gpu_train.json`` with torchrun (gloo on CPU): 2 processes reproduce the loss curve of 1 process."""
    run_ddp_against_one_process(BUNDLE, tmp_path, port=29518, dataset_dir=str(phantom_volume(tmp_path, slices=64)))


@pytest.mark.slow
def test_embedded_demo_beats_interpolation(tmp_path):
    """The README's main job: no --input_path super-resolves the MNI152 demo slice, better than sinc and bicubic."""
    run_bundle(BUNDLE, "inference.json", output_dir=str(tmp_path), progress=False)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    ((_, record),) = summary["cases"].items()
    m = record["metrics"]
    assert m["d3gm"]["psnr"] > max(m["sinc"]["psnr"], m["bicubic"]["psnr"])
    assert m["d3gm"]["ssim"] > max(m["sinc"]["ssim"], m["bicubic"]["ssim"])


def test_calibrated_intervals_end_to_end(tmp_path):
    """``calibrate.json`` on generated held-out slices (a group per degradation) writes ``models/calibration.json``
    and records it; ``--num_samples 2 --interval 0.8`` then writes lower and upper bounds around the output on its
    grid, with the coverage in ``metrics.json``."""
    installed = zip_and_install(BUNDLE, tmp_path)
    proc, metadata = run_tiny_calibration(installed, tmp_path)
    assert "calibrated 10 images" in proc.stdout and "groups ['blur', 'kspace']" in proc.stdout
    assert metadata["calibration"]["sample_counts"] == [2]
    out = tmp_path / "out"
    run_bundle(installed, "inference.json", output_dir=str(out), num_samples=2, interval=0.8, num_inference_steps=1,
               progress=False)  # fmt: skip
    ((folder, record),) = [(p.parent, json.loads(p.read_text())) for p in out.glob("*/metrics.json")]
    names = ("lower", "upper", "super_resolution")
    lower, upper, output = (np.asarray(nib.load(folder / f"{n}.nii.gz").dataobj) for n in names)
    assert lower.shape == output.shape and np.all(lower <= output + 1e-6) and np.all(output <= upper + 1e-6)
    # the demo simulates k-space truncation: the "kspace" group's scales
    assert record["interval"]["calibration_group"] == "kspace" and 0 <= record["interval"]["coverage"] <= 1
    volume = tmp_path / "volume"
    run_bundle(installed, "inference.json", output_dir=str(volume), whole_volume=True, slices="104:106", num_samples=2,
               interval=0.8, num_inference_steps=1, progress=False)  # fmt: skip
    slab = volume / "demo_mni152_volume"
    assert nib.load(slab / "lower.nii.gz").shape == nib.load(slab / "super_resolution.nii.gz").shape
    assert "coverage" in json.loads((slab / "metrics.json").read_text())["interval"]
