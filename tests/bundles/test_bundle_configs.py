# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the weights were trained with is what inference uses: the settings that define the model agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BUNDLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "bundles").iterdir() if p.is_dir())
#: top-level ids that define the trained model: its network, SDE, parameterisation and how μ is built
MODEL_KEYS = ("network_def", "scheduler", "tau", "prediction_type", "mu_iterations", "scale")


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_train_and_inference_define_the_same_model(bundle):
    train = json.loads((bundle / "configs" / "train.json").read_text())
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert {"network_def", "scheduler", "tau", "prediction_type"} <= set(train) & set(inference)
    for key in MODEL_KEYS:
        assert (key in train) == (key in inference), f"{bundle.name}: {key!r} is set in only one of the configs"
        assert train.get(key) == inference.get(key), f"{bundle.name}: train.json and inference.json differ in {key!r}"


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_inference_config_has_every_property_monai_expects_of_an_infer_workflow(bundle):
    """``inference.json`` in the Model Zoo layout: MONAI's infer-workflow properties (``bundle_root``, ``device``,
    ``network_def``, ``inferer``, ``dataset_dir``, ``dataset``, ``evaluator``, ``preprocessing``,
    ``postprocessing``, ...) are all there, and the evaluator runs the inferer and the postprocessing named so."""
    from monai.bundle import ConfigWorkflow

    configs = bundle / "configs"
    workflow = ConfigWorkflow(config_file=str(configs / "inference.json"), meta_file=str(configs / "metadata.json"),
                              workflow_type="infer", bundle_root=str(bundle))  # fmt: skip
    workflow.initialize()
    assert workflow.check_properties() == []
    evaluator = json.loads((configs / "inference.json").read_text())["evaluator"]
    assert evaluator["_target_"] == "SupervisedEvaluator"
    assert (evaluator["inferer"], evaluator["postprocessing"]) == ("@inferer", "@postprocessing")
