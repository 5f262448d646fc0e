# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The derain and dehaze bundles as a Model Zoo user meets them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.bundles.bundle_checks import (
    BUNDLES,
    check_layout_and_metadata,
    check_monai_bundle_load,
    check_resume_mid_epoch,
    check_ships_no_data,
    check_state_dict,
    check_train_two_iterations,
    check_verify_net_in_out,
    run_bundle,
    run_ddp_against_one_process,
    zip_and_install,
)

TASKS = ("derain", "dehaze")


def _bundle(task: str) -> Path:
    return BUNDLES / f"{task}_d3gm"


def _pairs(folder: Path, n: int = 2, size: tuple[int, int] = (72, 100)) -> Path:
    """Generated paired folders (input/ + target/), nothing from ../shared/data."""
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        clean = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(clean).save(folder / "target" / f"{i}.png")
        Image.fromarray((clean * 0.7 + 60).astype(np.uint8)).save(folder / "input" / f"{i}.png")
    return folder


@pytest.mark.parametrize("task", TASKS)
def test_layout_metadata_weights_and_no_data(task):
    check_layout_and_metadata(_bundle(task))
    check_state_dict(_bundle(task))
    check_ships_no_data(_bundle(task))


@pytest.mark.parametrize("task", TASKS)
def test_verify_net_in_out_and_load(task):
    check_verify_net_in_out(_bundle(task), n=8)
    check_monai_bundle_load(_bundle(task))


@pytest.mark.parametrize("task", TASKS)
def test_zip_download_and_inference_on_a_tiny_paired_folder(tmp_path, task):
    installed = zip_and_install(_bundle(task), tmp_path)
    data = _pairs(tmp_path / "data")
    out = tmp_path / "out"
    proc = run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(out), tile_size=64,
                      progress=False)  # fmt: skip
    assert "mean of 2 cases" in proc.stdout
    record = json.loads((out / "0" / "metrics.json").read_text())
    assert set(record["metrics"]) == {"d3gm", "input"} and record["tiles"] == 2 * 2
    assert Image.open(out / "0" / "restored.png").size == (100, 72)
    assert (out / "0" / "comparison.png").is_file()


def _small_data(data: Path, as_text: bool = True) -> dict:
    """Overrides that train (and validate) on the generated pairs: their clean photos also serve as the clean photos
    synthetic rain is drawn on and as the validation photos (``as_text``: for the command line)."""
    clean = [str(data / "target")]
    settings = {"dataset_dir": str(data), "holdout": [], "clean_dirs": clean, "clean_repeats": 1,
                "validation_pairs": [], "validation_clean_dirs": clean}  # fmt: skip
    return {k: json.dumps(v) if as_text and isinstance(v, list) else v for k, v in settings.items()}


@pytest.mark.parametrize("task", TASKS)
def test_train_two_iterations(tmp_path, task):
    data = _pairs(tmp_path / "data", size=(128, 128))
    check_train_two_iterations(_bundle(task), tmp_path, repeats=2, **_small_data(data))


def test_train_resumes_mid_epoch_like_an_uninterrupted_run(tmp_path):
    data = _pairs(tmp_path / "data", size=(128, 128))
    check_resume_mid_epoch(_bundle("derain"), tmp_path, repeats=4, **_small_data(data, as_text=False))


def test_multi_gpu_train_config_runs_ddp_on_cpu(tmp_path):
    """``multi_gpu_train.json`` with torchrun (gloo on CPU): 2 processes reproduce the loss curve of 1 process."""
    data = _pairs(tmp_path / "data", size=(128, 128))
    run_ddp_against_one_process(_bundle("derain"), tmp_path, port=29519, repeats=6, **_small_data(data))


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_embedded_demo_improves_the_photo(tmp_path, task):
    """The README's main job: no --input_path restores the synthetic demo photo, better than the degraded input."""
    run_bundle(_bundle(task), "inference.json", output_dir=str(tmp_path), progress=False)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    ((_, record),) = summary["cases"].items()
    m = record["metrics"]
    assert m["d3gm"]["psnr"] > m["input"]["psnr"] + 1.0 and m["d3gm"]["ssim"] > m["input"]["ssim"]
    assert (tmp_path / f"demo_grace_hopper_{task}" / "restored.png").is_file()


@pytest.mark.parametrize("task", TASKS)
def test_calibrated_intervals_end_to_end(tmp_path, task):
    """``calibrate.json`` on generated held-out photos (2 pairs, and their clean photos degraded twice each) writes
    ``models/calibration.json`` and records it; ``--num_samples 2 --interval 0.8`` then writes lower and upper bounds
    around the restored photo, with the coverage over every pixel in ``metrics.json``; without a calibration file it
    says so and writes the std only."""
    installed = zip_and_install(_bundle(task), tmp_path)
    (installed / "models" / "calibration.json").unlink(missing_ok=True)
    data = _pairs(tmp_path / "data")
    clean = json.dumps([str(data / "target")])
    proc = run_bundle(installed, ["inference.json", "calibrate.json"], calibration_pairs_dir=str(data),
                      calibration_pairs=json.dumps(["0", "1"]), calibration_clean_dirs=clean, calibration_draws=2,
                      calibration_levels=[0.8], calibration_sample_counts=[2], tile_size=64, num_inference_steps=1,
                      progress=False)  # fmt: skip
    assert "calibrated 6 images" in proc.stdout
    metadata = json.loads((installed / "configs" / "metadata.json").read_text())
    assert metadata["calibration"]["sample_counts"] == [2] and metadata["calibration"]["images"] == 6
    out = tmp_path / "out"
    run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(out), tile_size=64, num_samples=2,
               interval=0.8, num_inference_steps=1, progress=False)  # fmt: skip
    record = json.loads((out / "0" / "metrics.json").read_text())
    assert record["interval"]["level"] == 0.8 and 0 <= record["interval"]["coverage"] <= 1
    assert len(record["interval"]["coverage_by_width"]) == 5
    names = ("lower", "upper", "restored")
    lower, upper, output = (np.asarray(Image.open(out / "0" / f"{n}.png"), dtype=int) for n in names)
    assert lower.shape == output.shape == (72, 100, 3)
    assert np.all(lower <= output + 1) and np.all(output <= upper + 1) and (upper - lower).mean() > 0
    assert (out / "0" / "interval_half_width.png").is_file()
    (installed / "models" / "calibration.json").unlink()
    bare = tmp_path / "bare"
    proc = run_bundle(installed, "inference.json", input_path=str(data), output_dir=str(bare), tile_size=64,
                      num_samples=2, interval=0.8, num_inference_steps=1, progress=False)  # fmt: skip
    assert "no interval calibration" in proc.stderr
    assert (bare / "0" / "std.png").is_file() and not (bare / "0" / "lower.png").exists()
