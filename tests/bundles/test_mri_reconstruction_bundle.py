# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The MRI reconstruction bundle as a Model Zoo user meets it: metadata, network I/O, loading, download, running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import sigpy
import torch
from monai.bundle import ConfigParser

import monai_d3gm
from monai_d3gm.apps.reconstruction.io import write_fastmri, write_nifti

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mri_reconstruction_d3gm"
NAME = BUNDLE.name

# the meta_schema_20240725.json "required" lists (the schema itself cannot be downloaded in CI)
REQUIRED = (
    "version",
    "changelog",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "required_packages_version",
    "task",
    "description",
    "authors",
    "copyright",
    "network_data_format",
)
REQUIRED_TENSOR = ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range")


def run_bundle(config: str | list[str], bundle_root: Path = BUNDLE, **overrides) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run`` in a subprocess, as a user types it; fails the test with its output."""
    configs = [str(bundle_root / "configs" / c) for c in ([config] if isinstance(config, str) else config)]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", repr(configs)]
    cmd += ["--bundle_root", str(bundle_root)]
    for key, value in overrides.items():
        cmd += [f"--{key.replace('__', '#')}", repr(value) if not isinstance(value, str) else value]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_layout_and_metadata_required_fields():
    for f in ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/train.json",
              "configs/evaluate.json", "configs/multi_gpu_train.json", "configs/logging.conf", "docs/README.md",
              "models/model.pt"):  # fmt: skip
        assert (BUNDLE / f).is_file(), f
    assert (BUNDLE / "models" / "model.pt").stat().st_size < 25 * 2**20
    meta = json.loads((BUNDLE / "configs" / "metadata.json").read_text())
    missing = [k for k in REQUIRED if k not in meta]
    assert not missing, f"metadata.json lacks {missing}"
    assert meta["version"] in meta["changelog"]
    assert meta["required_packages_version"]["monai-d3gm"] == monai_d3gm.__version__
    assert "image" in meta["network_data_format"]["inputs"] and "pred" in meta["network_data_format"]["outputs"]
    for section in ("inputs", "outputs"):
        for name, spec in meta["network_data_format"][section].items():
            assert all(k in spec for k in REQUIRED_TENSOR), (section, name)
    assert meta["intended_use"] and meta["references"]
    readme = (BUNDLE / "docs" / "README.md").read_text()
    for section in ("Description", "Data", "Performance", "Usage", "Limitations", "Citation"):
        assert f"## {section}" in readme, section


def test_state_dict_is_plain_tensors():
    state = torch.load(BUNDLE / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_verify_net_in_out_with_timesteps():
    from monai.bundle import verify_net_in_out

    verify_net_in_out(
        net_id="network_def",
        meta_file=str(BUNDLE / "configs" / "metadata.json"),
        config_file=str(BUNDLE / "configs" / "inference.json"),
        n=12,
        extra_forward_args={"timesteps": torch.tensor([37])},
        bundle_root=str(BUNDLE),
    )


def test_monai_bundle_load_gives_the_shipped_weights():
    from monai.bundle import load

    net = load(name=NAME, bundle_dir=str(BUNDLE.parent), source="github", device="cpu")
    shipped = torch.load(BUNDLE / "models" / "model.pt", map_location="cpu", weights_only=True)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, shipped[key])


def _tiny_fastmri(path: Path, n: int = 48) -> Path:
    """A single-coil fastMRI-style file of a Shepp-Logan phantom with a smooth phase (made here, nothing shipped)."""
    image = np.abs(sigpy.shepp_logan((n, n))).astype(np.float32)
    yy, xx = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    complex_image = image * np.exp(1j * 0.5 * (yy + xx))
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(complex_image), norm="ortho"))
    return write_fastmri(path, kspace[None].astype(np.complex64), reconstruction=image[None])


def test_zip_download_and_inference_on_a_tiny_file(tmp_path):
    """Zip the bundle, install it with ``monai.bundle.download(url="file://...")`` and run its inference there."""
    from monai.bundle import download

    archive = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for rel in bundle_files():
            if rel.name != "training_checkpoint.pt":  # the resumable training state is not part of a download
                z.write(BUNDLE / rel, Path(NAME) / rel)
    download(name=NAME, bundle_dir=str(tmp_path / "installed"), url=archive.as_uri(), progress=False)
    installed = tmp_path / "installed" / NAME
    assert (installed / "models" / "model.pt").is_file()

    data = _tiny_fastmri(tmp_path / "case.h5")
    out = tmp_path / "out"
    proc = run_bundle("inference.json", installed, input_path=str(data), output_dir=str(out),
                      num_inference_steps=4, progress=False)  # fmt: skip
    assert re.search(r"case: \d\.\dx, .* d3gm PSNR [\d.]+ dB SSIM [\d.]+ \| zero_filled PSNR", proc.stdout)
    record = json.loads((out / "case" / "metrics.json").read_text())
    assert set(record["metrics"]) == {"d3gm", "zero_filled"}
    assert nib.load(out / "case" / "reconstruction.nii.gz").shape == (48, 48, 1)
    assert (out / "case" / "comparison.png").is_file()


def test_train_two_iterations(tmp_path):
    """``train.json`` on a generated volume: two iterations, an atomic checkpoint and the final EMA weights."""
    volume = np.abs(sigpy.shepp_logan((12, 64, 64))).astype(np.float32).transpose(1, 2, 0)
    write_nifti(volume, np.eye(4), tmp_path / "vol.nii.gz")
    run_bundle("train.json", dataset_dir=str(tmp_path / "vol.nii.gz"), output_dir=str(tmp_path / "runs"),
               ckpt_dir=str(tmp_path / "models"), max_epochs=1, train__trainer__epoch_length=2, batch_size=2,
               num_workers=0, save_interval=1, loss_log_interval=1)  # fmt: skip
    state = torch.load(tmp_path / "models" / "model.pt", map_location="cpu", weights_only=True)
    parser = ConfigParser()
    parser.read_config(BUNDLE / "configs" / "train.json")
    parser.get_parsed_content("network_def").load_state_dict(state)
    assert (tmp_path / "runs" / "checkpoints" / "checkpoint_latest.pt").is_file()
    rows = (tmp_path / "runs" / "train_loss.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 iterations


def test_multi_gpu_train_config_runs_ddp_on_cpu(tmp_path):
    """``multi_gpu_train.json`` with torchrun: two processes (gloo on CPU), two iterations, rank 0 writes."""
    volume = np.abs(sigpy.shepp_logan((12, 64, 64))).astype(np.float32).transpose(1, 2, 0)
    write_nifti(volume, np.eye(4), tmp_path / "vol.nii.gz")
    configs = repr([str(BUNDLE / "configs" / c) for c in ("train.json", "multi_gpu_train.json")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m",
           "monai.bundle", "run", "--config_file", configs, "--bundle_root", str(BUNDLE),
           "--dataset_dir", str(tmp_path / "vol.nii.gz"), "--output_dir", str(tmp_path / "runs"),
           "--ckpt_dir", str(tmp_path / "models"), "--max_epochs", "1", "--train#trainer#epoch_length", "2",
           "--batch_size", "2", "--num_workers", "0", "--save_interval", "1", "--loss_log_interval", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-5000:]
    state = torch.load(tmp_path / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in state)  # the EMA copy is the bare network
    rows = (tmp_path / "runs" / "train_loss.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # only rank 0 logs: header + 2 iterations


@pytest.mark.slow
def test_embedded_demo_beats_zero_filling(tmp_path):
    """The README's main job: no --input_path reconstructs the MNI152 demo case, better than zero-filling."""
    proc = run_bundle("inference.json", output_dir=str(tmp_path), progress=False)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    ((name, record),) = summary["cases"].items()
    assert name in proc.stdout
    d3gm, zero_filled = record["metrics"]["d3gm"], record["metrics"]["zero_filled"]
    assert d3gm["psnr"] > zero_filled["psnr"] + 1.0 and d3gm["ssim"] > zero_filled["ssim"]


def bundle_files() -> list[Path]:
    """The bundle's files as git tracks them (what a clone or a release holds), relative to the bundle."""
    try:
        out = subprocess.run(["git", "ls-files", "."], cwd=BUNDLE, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the bundle's shipped file list is unknown")
    return [Path(p) for p in out.split()]


def test_bundle_ships_no_data():
    """Nothing from ../shared/data is shipped: the tracked bundle files are configs, docs, a licence and weights."""
    tracked = bundle_files()
    assert Path("models/model.pt") in tracked
    for rel in tracked:
        assert rel.suffix in {".json", ".conf", ".md", ".pt", ".png", ""}, rel
