# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The photo bundles' inference pipeline (``inference.json``'s evaluator, run with a tiny untrained network): paired
folders, references, the demo, outputs and early errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from monai_d3gm.apps.restoration import ImageInputError, TiledRestoration, read_rgb
from monai_d3gm.apps.restoration.demo import demo_pair
from monai_d3gm.apps.restoration.pairs import find_photo_cases
from monai_d3gm.apps.restoration.restore import D3GMImageRestorer
from monai_d3gm.errors import documented_cause
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreNAFNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from tests.bundles.bundle_checks import BUNDLES


@pytest.fixture(scope="module")
def restorer():
    torch.manual_seed(0)
    net = ScoreNAFNet(2, 3, width=4, enc_blk_nums=(1,), middle_blk_num=1, dec_blk_nums=(1,))
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    return D3GMImageRestorer(net, inferer, TiledRestoration(32, progress=False), num_inference_steps=2)


#: a tiny untrained network in place of the bundle's (its weights are not loaded)
TINY_NETWORK = {
    "_target_": "monai_d3gm.networks.nets.ScoreNAFNet",
    "spatial_dims": 2,
    "image_channels": 3,
    "width": 4,
    "enc_blk_nums": [1],
    "middle_blk_num": 1,
    "dec_blk_nums": [1],
}


def run_pipeline(input_path, output_dir, **overrides) -> dict:
    """The derain bundle's ``restore`` (its evaluator) with the tiny network and 32-pixel tiles; returns the
    summary."""
    parser = ConfigParser()
    parser.read_config(BUNDLES / "derain_d3gm" / "configs" / "inference.json")
    settings = {"tile_size": 32, "num_inference_steps": 2, "progress": False, "device": "$torch.device('cpu')"}
    parser.update({"network_def": TINY_NETWORK, "input_path": str(input_path), "output_dir": str(output_dir),
                   **settings, **overrides})  # fmt: skip
    torch.manual_seed(0)
    parser.get_parsed_content("restore")
    return json.loads((output_dir / "metrics.json").read_text())


def _refused(match: str, input_path, output_dir) -> None:
    """The pipeline refuses ``input_path`` with an :class:`ImageInputError` matching ``match``."""
    with pytest.raises(Exception) as raised:
        run_pipeline(input_path, output_dir)
    cause = documented_cause(raised.value)
    assert isinstance(cause, ImageInputError) and re.search(match, str(cause)), raised.value


def _save(path, seed=0, size=(40, 56)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def test_paired_folder_writes_restored_images_figures_and_metrics(tmp_path):
    for name in ("1", "2"):
        _save(tmp_path / "data" / "input" / f"{name}.png", seed=int(name))
        _save(tmp_path / "data" / "target" / f"{name}.png", seed=10 + int(name))
    summary = run_pipeline(tmp_path / "data", tmp_path / "out")
    assert set(summary["cases"]) == {"1", "2"}
    record = summary["cases"]["1"]
    assert set(record["metrics"]) == {"d3gm", "input"} and record["tiles"] == 2 * 2
    restored = read_rgb(tmp_path / "out" / "1" / "restored.png")
    assert restored.shape == (3, 40, 56)
    assert (tmp_path / "out" / "1" / "comparison.png").stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["mean"]["num_cases"] == 2 and "lpips" in saved


def test_photos_with_and_without_references(tmp_path):
    _save(tmp_path / "rainy" / "a_rain.png")
    _save(tmp_path / "rainy" / "b.jpg")
    _save(tmp_path / "clean" / "a.png", seed=3)
    cases = find_photo_cases(tmp_path / "rainy", tmp_path / "clean")
    assert [(c["name"], c["reference"] is not None) for c in cases] == [("a_rain", True), ("b", False)]
    summary = run_pipeline(tmp_path / "rainy" / "b.jpg", tmp_path / "out")
    assert summary["cases"]["b"]["metrics"] == {} and summary["mean"] == {}


def test_bad_inputs_fail_before_any_output(tmp_path, restorer):
    _save(tmp_path / "in" / "1.png")
    (tmp_path / "in" / "2.png").write_bytes(b"\x89PNG broken")
    _refused("2.png is not a readable image", tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    _save(tmp_path / "pair" / "input" / "1.png")
    _save(tmp_path / "pair" / "target" / "1.png", size=(40, 50))
    _refused("same size", tmp_path / "pair", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    _refused("does not exist", tmp_path / "missing.png", tmp_path / "out")
    _save(tmp_path / "clash" / "1.png")
    _save(tmp_path / "clash" / "1.jpg")
    _refused("several photos named '1'", tmp_path / "clash", tmp_path / "out")  # both would write to out/1/
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


def test_subsets_of_the_samples_are_what_fewer_samples_give(restorer):
    """``restore_subsets`` (calibration) draws the largest count once; its first n samples are what ``num_samples=n``
    with the same seed restores."""
    photo = np.random.default_rng(0).random((3, 40, 56)).astype(np.float32)
    many = D3GMImageRestorer(restorer.network, restorer.inferer, restorer.tiling, num_inference_steps=2, num_samples=3)
    subsets = many.restore_subsets(photo, [2, 3])
    few = D3GMImageRestorer(restorer.network, restorer.inferer, restorer.tiling, num_inference_steps=2, num_samples=2)
    np.testing.assert_allclose(subsets[2]["output"], few(photo)["output"], atol=1e-6)
    np.testing.assert_allclose(subsets[3]["output"], many(photo)["output"], atol=1e-6)
    assert subsets[2]["std"].shape == (3, 40, 56)
    with pytest.raises(ImageInputError, match="num_samples >= 4"):
        many.restore_subsets(photo, [2, 4])


def test_calibration_refuses_photos_without_a_reference_before_sampling(restorer):
    from monai_d3gm.apps.restoration.calibration import posterior_estimates

    photo = np.random.default_rng(0).random((3, 40, 56)).astype(np.float32)
    cases = [{"name": "a", "input": photo, "reference": photo}, {"name": "b", "input": photo}]
    with pytest.raises(ImageInputError, match="clean reference; \\['b'\\]"):
        posterior_estimates(cases, restorer.network, restorer.inferer, [2], restorer.tiling, progress=False)
    (entry,) = posterior_estimates(cases[:1], restorer.network, restorer.inferer, [2], restorer.tiling, progress=False)
    assert entry["name"] == "a" and entry["estimates"][2][0].shape == (3, 40, 56)
