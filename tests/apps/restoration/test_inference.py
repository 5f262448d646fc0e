# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Photo restoration runner: paired folders, references, the demo, outputs and early errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from monai_d3gm.apps.restoration import ImageInputError, TiledRestoration, read_rgb
from monai_d3gm.apps.restoration.demo import demo_pair
from monai_d3gm.apps.restoration.inference import ImageRestorationRunner, find_photo_cases
from monai_d3gm.apps.restoration.restore import D3GMImageRestorer
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreNAFNet
from monai_d3gm.networks.schedulers import D3GMScheduler


@pytest.fixture(scope="module")
def restorer():
    torch.manual_seed(0)
    net = ScoreNAFNet(2, 3, width=4, enc_blk_nums=(1,), middle_blk_num=1, dec_blk_nums=(1,))
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    return D3GMImageRestorer(net, inferer, TiledRestoration(32, progress=False), num_inference_steps=2)


def _save(path, seed=0, size=(40, 56)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def test_paired_folder_writes_restored_images_figures_and_metrics(tmp_path, restorer):
    for name in ("1", "2"):
        _save(tmp_path / "data" / "input" / f"{name}.png", seed=int(name))
        _save(tmp_path / "data" / "target" / f"{name}.png", seed=10 + int(name))
    summary = ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "data")()
    assert set(summary["cases"]) == {"1", "2"}
    record = summary["cases"]["1"]
    assert set(record["metrics"]) == {"d3gm", "input"} and record["tiles"] == 2 * 2
    restored = read_rgb(tmp_path / "out" / "1" / "restored.png")
    assert restored.shape == (3, 40, 56)
    assert (tmp_path / "out" / "1" / "comparison.png").stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["mean"]["num_cases"] == 2 and "lpips" in saved


def test_photos_with_and_without_references(tmp_path, restorer):
    _save(tmp_path / "rainy" / "a_rain.png")
    _save(tmp_path / "rainy" / "b.jpg")
    _save(tmp_path / "clean" / "a.png", seed=3)
    cases = find_photo_cases(tmp_path / "rainy", tmp_path / "clean")
    assert [(c["name"], c["reference"] is not None) for c in cases] == [("a_rain", True), ("b", False)]
    summary = ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "rainy" / "b.jpg")()
    assert summary["cases"]["b"]["metrics"] == {} and summary["mean"] == {}


def test_bad_inputs_fail_before_any_output(tmp_path, restorer):
    _save(tmp_path / "in" / "1.png")
    (tmp_path / "in" / "2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ImageInputError, match="2.png is not a readable image"):
        ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "in")()
    assert not (tmp_path / "out").exists()
    _save(tmp_path / "pair" / "input" / "1.png")
    _save(tmp_path / "pair" / "target" / "1.png", size=(40, 50))
    with pytest.raises(ImageInputError, match="same size"):
        ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "pair")()
    assert not (tmp_path / "out").exists()
    with pytest.raises(ImageInputError, match="does not exist"):
        ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "missing.png")()
    _save(tmp_path / "clash" / "1.png")
    _save(tmp_path / "clash" / "1.jpg")
    with pytest.raises(ImageInputError, match="several photos named '1'"):  # both wrote to out/1/
        ImageRestorationRunner(restorer, tmp_path / "out", tmp_path / "clash")()
    assert not (tmp_path / "out").exists()
    with pytest.raises(ImageInputError, match=r"shape \(3, H, W\)"):
        restorer(np.zeros((4, 8, 8), np.float32))
    with pytest.raises(ImageInputError, match=r"\[0, 1\]"):
        restorer(np.full((3, 8, 8), 2.0, np.float32))


@pytest.mark.parametrize("task", ["derain", "dehaze"])
def test_demo_pairs_are_degraded_versions_of_a_real_photo(task):
    pair = demo_pair(task)
    assert pair["input"].shape == pair["reference"].shape == (3, 600, 512)
    diff = np.abs(pair["input"] - pair["reference"]).mean()
    assert 0.01 < diff < 0.3
