# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The MRI reconstruction bundle as a Model Zoo user meets it: metadata, network I/O, loading, download, running."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import sigpy

from monai_d3gm.io import write_fastmri
from tests.bundles.bundle_checks import (
    BUNDLES,
    check_layout_and_metadata,
    check_monai_bundle_load,
    check_resume_mid_epoch,
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

BUNDLE = BUNDLES / "mri_reconstruction_d3gm"


def test_layout_and_metadata_required_fields():
    check_layout_and_metadata(BUNDLE)


def test_state_dict_is_plain_tensors():
    check_state_dict(BUNDLE)


def test_verify_net_in_out_with_timesteps():
    check_verify_net_in_out(BUNDLE, n=12)


def test_monai_bundle_load_gives_the_shipped_weights():
    check_monai_bundle_load(BUNDLE)


def _tiny_fastmri(path: Path, n: int = 48) -> Path:
    """A single-coil fastMRI-style file of a Shepp-Logan phantom with a smooth phase (made here, nothing shipped)."""
    image = np.abs(sigpy.shepp_logan((n, n))).astype(np.float32)
    yy, xx = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    complex_image = image * np.exp(1j * 0.5 * (yy + xx))
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(complex_image), norm="ortho"))
    return write_fastmri(path, kspace[None].astype(np.complex64), reconstruction=image[None])


def test_zip_download_and_inference_on_a_tiny_file(tmp_path):
    """Zip the bundle, install it with ``monai.bundle.download(url="file://...")`` and run its inference there."""
    installed = zip_and_install(BUNDLE, tmp_path)
    data = _tiny_fastmri(tmp_path / "case.h5")
    out = tmp_path / "out"
    proc = run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(out),
                      num_inference_steps=4, progress=False)  # fmt: skip
    assert re.search(r"case: \d\.\dx, .* d3gm PSNR [\d.]+ dB SSIM [\d.]+ \| zero_filled PSNR", proc.stdout)
    record = json.loads((out / "case" / "metrics.json").read_text())
    assert set(record["metrics"]) == {"d3gm", "zero_filled"}
    assert nib.load(out / "case" / "reconstruction.nii.gz").shape == (48, 48, 1)
    assert (out / "case" / "comparison.png").is_file()


def test_train_two_iterations(tmp_path):
    """``train.json`` on a generated volume: two iterations, an atomic checkpoint and the final EMA weights."""
    check_train_two_iterations(BUNDLE, tmp_path, dataset_dir=str(phantom_volume(tmp_path)))


def test_train_resumes_mid_epoch_like_an_uninterrupted_run(tmp_path):
    check_resume_mid_epoch(BUNDLE, tmp_path, dataset_dir=str(phantom_volume(tmp_path)))


def test_multi_gpu_train_config_runs_ddp_on_cpu(tmp_path):
    """``multi_gpu_train.json`` with torchrun (gloo on CPU): 2 processes reproduce the loss curve of 1 process."""
    # every slice (slice_step 1): 14 central slices, enough for 3 global batches of 4
    run_ddp_against_one_process(
        BUNDLE, tmp_path, port=29517, dataset_dir=str(phantom_volume(tmp_path, slices=24)), slice_step=1
    )


@pytest.mark.slow
def test_embedded_demo_beats_zero_filling(tmp_path):
    """The README's main job: no --input_path reconstructs the MNI152 demo case, better than zero-filling."""
    proc = run_bundle(BUNDLE, "inference.json", output_dir=str(tmp_path), progress=False)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    ((name, record),) = summary["cases"].items()
    assert name in proc.stdout
    d3gm, zero_filled = record["metrics"]["d3gm"], record["metrics"]["zero_filled"]
    assert d3gm["psnr"] > zero_filled["psnr"] + 1.0 and d3gm["ssim"] > zero_filled["ssim"]


def test_bundle_ships_no_data():
    check_ships_no_data(BUNDLE)


def test_posterior_spread_grows_where_information_is_missing():
    """``num_samples > 1``: the pixel-wise standard deviation of the posterior samples (shipped weights, MNI152 demo
    slice) grows with the acceleration, i.e. with the k-space information that is missing (measured: 0.016, 0.035,
    0.066 of the image maximum in the brain at 2x, 4x, 8x), and vanishes on the measured k-space lines."""
    import torch
    from monai.bundle import ConfigParser

    from monai_d3gm.apps.reconstruction.inference import demo_case
    from monai_d3gm.physics.fft import fft2c

    spreads = {}
    for acceleration, center in ((2, 0.16), (8, 0.04)):
        parser = ConfigParser()
        parser.read_config(BUNDLE / "configs" / "inference.json")
        parser.update({"bundle_root": str(BUNDLE), "progress": False, "num_samples": 4,
                       "acceleration": acceleration, "center_fraction": center})  # fmt: skip
        parser.get_parsed_content("initialize")
        reconstructor = parser.get_parsed_content("reconstructor")
        result = reconstructor(demo_case(num_coils=1))
        reference = result["reference"]
        brain = reference > 0.1 * reference.max()
        spreads[acceleration] = float(result["std"][brain].mean() / reference.max())
        prepared = reconstructor.prepare(demo_case(num_coils=1))
        samples = [r["reconstruction"] for r in reconstructor.reconstruct_batch([prepared] * 3, seeds=[1, 2, 3])]
        kspace = torch.stack([fft2c(s) for s in samples])
        sampled = prepared.mask.bool().expand_as(kspace[0])
        spread_k = kspace.std(0).abs()
        assert float(spread_k[sampled].max()) < 1e-3 * float(spread_k[~sampled].mean())  # measured lines are fixed
    assert spreads[8] > 2 * spreads[2] > 0, spreads


def test_whole_volume_through_the_bundle(tmp_path):
    """``--whole_volume True`` on a NIfTI volume: one reconstructed volume with the input's affine, uncertainty maps."""
    affine = np.diag([0.9, 1.1, 3.0, 1.0])
    affine[:3, 3] = [-20.0, 14.0, -6.0]
    volume = np.abs(sigpy.shepp_logan((3, 48, 40))).astype(np.float32).transpose(1, 2, 0) + 0.05
    from monai_d3gm.io import write_nifti

    path = write_nifti(volume, affine, tmp_path / "head.nii.gz")
    out = tmp_path / "out"
    proc = run_bundle(BUNDLE, "inference.json", input_path=str(path), output_dir=str(out), whole_volume=True,
                      batch_size=2, num_samples=2, num_inference_steps=2, progress=False)  # fmt: skip
    assert "head: " in proc.stdout
    for name in ("reconstruction", "std", "zero_filled"):
        image = nib.load(out / "head" / f"{name}.nii.gz")
        assert image.shape == volume.shape
        np.testing.assert_allclose(image.affine, affine, atol=1e-5)
    assert float(np.asarray(nib.load(out / "head" / "std.nii.gz").dataobj).max()) > 0
    record = json.loads((out / "head" / "metrics.json").read_text())
    assert record["num_slices"] == 3 and (out / "head" / "through_plane.png").is_file()


def test_calibrated_intervals_end_to_end(tmp_path):
    """``calibrate.json`` on generated held-out volumes writes ``models/calibration.json`` and records it in
    ``metadata.json``; inference with ``--num_samples 2 --interval 0.8`` then writes lower and upper bounds around the
    reconstruction (per slice and in whole-volume mode) and the coverage; without a calibration it says so and writes
    the std only."""
    installed = zip_and_install(BUNDLE, tmp_path)
    (installed / "models" / "calibration.json").unlink()
    data = _tiny_fastmri(tmp_path / "case.h5")
    settings = {"num_samples": 2, "interval": 0.8, "num_inference_steps": 1, "progress": False}
    proc = run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(tmp_path / "raw"), **settings)
    assert "no interval calibration" in proc.stderr and "calibrate.json" in proc.stderr
    written = sorted(p.name for p in (tmp_path / "raw" / "case").glob("*.nii.gz"))
    assert written == ["reconstruction.nii.gz", "std.nii.gz"]

    proc, metadata = run_tiny_calibration(installed, tmp_path)
    assert "calibrated 10 images" in proc.stdout and "groups ['4x', '8x']" in proc.stdout
    calibration = json.loads((installed / "models" / "calibration.json").read_text())
    assert sorted(calibration["groups"]) == ["4x", "8x"]
    assert metadata["calibration"]["file"] == "models/calibration.json"
    assert metadata["calibration"]["weights_sha256"] == calibration["weights_sha256"]

    out = tmp_path / "calibrated"
    run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(out), **settings)
    folder = out / "case"
    names = ("lower", "upper", "reconstruction")
    lower, upper, recon = (np.asarray(nib.load(folder / f"{n}.nii.gz").dataobj) for n in names)
    assert np.all(lower <= recon + 1e-6) and np.all(recon <= upper + 1e-6) and np.all(lower >= 0)
    record = json.loads((folder / "metrics.json").read_text())
    assert record["interval"]["level"] == 0.8 and record["interval"]["calibration_group"] == "4x"
    assert 0 <= record["interval"]["coverage"] <= 1 and {"lower", "upper"} <= set(record["files"])

    volume = phantom_volume(tmp_path, slices=4)
    run_bundle(installed, "inference.json", input_path=str(volume), output_dir=str(tmp_path / "volume"),
               whole_volume=True, batch_size=2, **settings)  # fmt: skip
    head = tmp_path / "volume" / "vol"
    bounds = {n: nib.load(head / f"{n}.nii.gz") for n in ("lower", "upper", "reconstruction")}
    assert bounds["lower"].shape == bounds["reconstruction"].shape == (64, 64, 4)
    np.testing.assert_allclose(bounds["upper"].affine, bounds["reconstruction"].affine)
    assert np.all(np.asarray(bounds["lower"].dataobj) <= np.asarray(bounds["upper"].dataobj))
    assert "coverage" in json.loads((head / "metrics.json").read_text())["interval"]
