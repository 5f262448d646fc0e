# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Each bundle's ``inference.json`` pipeline (preprocessing → PosteriorInferer → postprocessing, in a MONAI
``SupervisedEvaluator``) writes what the task's Python restorer computes on the embedded demo case: the same image,
the same posterior spread and the same metrics. A tiny untrained network stands in for the shipped weights."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from monai_d3gm.apps.reconstruction import demo_case as mri_demo_case
from monai_d3gm.apps.restoration import D3GMImageRestorer, demo_pair, rgb_metrics, to_uint8
from monai_d3gm.apps.super_resolution import demo_case as sr_demo_case
from monai_d3gm.networks.nets import ScoreNAFNet, ScoreUNet
from tests.bundles.bundle_checks import BUNDLES


def _parser(bundle: str, network: torch.nn.Module, output_dir, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(BUNDLES / bundle / "configs" / "inference.json")
    parser.update({"network": network, "output_dir": str(output_dir), "progress": False, "num_samples": 2,
                   "num_inference_steps": 2, "device": "$torch.device('cpu')", **overrides})  # fmt: skip
    return parser


def _case(output_dir) -> tuple[str, dict]:
    summary = json.loads((output_dir / "metrics.json").read_text())
    ((name, record),) = summary["cases"].items()
    assert record == json.loads((output_dir / name / "metrics.json").read_text())
    return name, record


def _assert_same_metrics(written: dict, computed: dict) -> None:
    assert set(written) == set(computed)
    for method, values in computed.items():
        for key in ("psnr", "ssim"):
            assert written[method][key] == pytest.approx(values[key], rel=1e-6), (method, key)


def _nifti(path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)[..., 0]


def test_reconstruction_pipeline_writes_what_the_reconstructor_computes(tmp_path):
    torch.manual_seed(0)
    network = ScoreUNet(image_channels=2, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    parser = _parser("mri_reconstruction_d3gm", network, tmp_path, acceleration=8, center_fraction=0.04)
    parser.get_parsed_content("restore")
    name, record = _case(tmp_path)
    computed = parser.get_parsed_content("reconstructor")(mri_demo_case(num_coils=8))
    np.testing.assert_allclose(_nifti(record["files"]["reconstruction"]), computed["magnitude"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(_nifti(record["files"]["std"]), computed["std"].numpy(), rtol=1e-6)
    _assert_same_metrics(record["metrics"], computed["metrics"])
    assert record["acceleration"] == pytest.approx(computed["acceleration"]) and record["acceleration"] > 6


def test_super_resolution_pipeline_writes_what_the_resolver_computes(tmp_path):
    torch.manual_seed(0)
    network = ScoreUNet(image_channels=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    parser = _parser("mri_super_resolution_d3gm", network, tmp_path)
    parser.get_parsed_content("restore")
    name, record = _case(tmp_path)
    computed = parser.get_parsed_content("resolver")(sr_demo_case())
    np.testing.assert_allclose(_nifti(record["files"]["super_resolution"]), computed["output"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(_nifti(record["files"]["std"]), computed["std"].numpy(), rtol=1e-6)
    _assert_same_metrics(record["metrics"], computed["metrics"])
    assert record["simulate"] == "kspace" and record["output_shape"] == list(computed["output"].shape)


@pytest.mark.parametrize("bundle, task", [("derain_d3gm", "derain"), ("dehaze_d3gm", "dehaze")])
def test_photo_pipeline_writes_what_the_restorer_computes(tmp_path, bundle, task):
    torch.manual_seed(0)
    network = ScoreNAFNet(2, 3, width=4, enc_blk_nums=(1,), middle_blk_num=1, dec_blk_nums=(1,))
    parser = _parser(bundle, network, tmp_path, tile_size=128)
    parser.get_parsed_content("restore")
    name, record = _case(tmp_path)
    inferer, tiling = parser.get_parsed_content("d3gm_inferer"), parser.get_parsed_content("tiling")
    restorer = D3GMImageRestorer(network, inferer, tiling, num_inference_steps=2, num_samples=2)
    pair = demo_pair(task)
    computed = restorer(pair["input"])
    written = np.asarray(Image.open(record["files"]["restored"]))
    np.testing.assert_array_equal(written, to_uint8(computed["output"]))
    _assert_same_metrics(record["metrics"], {"d3gm": rgb_metrics(computed["output"], pair["reference"]),
                                             "input": rgb_metrics(pair["input"], pair["reference"])})  # fmt: skip
    assert record["tiles"] == restorer.tiling.num_tiles(*pair["input"].shape[-2:]) > 1
