# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Checkpoints are chosen by validation: the best-scoring weights are kept, across a resumed run."""

from __future__ import annotations

import csv

import pytest
import torch
from ignite.engine import Engine

from monai_d3gm.errors import D3GMInputError
from monai_d3gm.handlers import ValidationSaver


def _run(saver: ValidationSaver, network: torch.nn.Linear, iterations: int) -> None:
    def step(engine, batch):
        with torch.no_grad():
            network.weight.add_(1.0)  # the weights change every iteration: weight == iteration (+ offset)

    engine = Engine(step)
    saver.attach(engine)
    engine.run(range(iterations), max_epochs=1)


def test_keeps_the_best_weights_and_resumes(tmp_path):
    network = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(network.weight)
    scores = {2: 1.0, 4: 3.0, 6: 2.0, 7: 2.5}  # validation score by the weight's value (= iteration)

    def validate(net):
        return {"psnr": scores[int(net.weight.item())], "ssim": 0.5}

    saver = ValidationSaver(
        validate, network, 2, tmp_path / "val.csv", tmp_path / "best.pt", plot_path=tmp_path / "v.png"
    )
    _run(saver, network, 7)  # validations at 2, 4, 6 and at completion (7)
    rows = list(csv.DictReader(open(tmp_path / "val.csv")))
    assert [int(float(r["iteration"])) for r in rows] == [2, 4, 6, 7]
    assert float(torch.load(tmp_path / "best.pt", weights_only=True)["weight"]) == 4.0
    assert (tmp_path / "v.png").stat().st_size > 0
    # a resumed run knows the best so far (3.0) and does not replace it by a worse score
    scores.update({9: 2.9, 10: 3.5})
    resumed = ValidationSaver(validate, network, 1, tmp_path / "val.csv", tmp_path / "best.pt")
    assert resumed.best == 3.0
    network.weight.data.fill_(8.0)
    scores[10] = 2.95
    _run(resumed, network, 2)  # weights 9 and 10 score 2.9 and 2.95 < 3.0: the best file keeps weight 4
    assert float(torch.load(tmp_path / "best.pt", weights_only=True)["weight"]) == 4.0
    scores.update({11: 3.2, 12: 3.5})
    _run(resumed, network, 2)  # weights 11 and 12 both beat 3.0; 12 is the best
    assert float(torch.load(tmp_path / "best.pt", weights_only=True)["weight"]) == 12.0
    assert len(list(csv.DictReader(open(tmp_path / "val.csv")))) == 8


def test_refuses_a_missing_key(tmp_path):
    network = torch.nn.Linear(1, 1)
    saver = ValidationSaver(lambda net: {"ssim": 1.0}, network, 1, tmp_path / "v.csv", tmp_path / "b.pt")
    with pytest.raises(D3GMInputError, match="psnr"):
        _run(saver, network, 1)
    with pytest.raises(D3GMInputError, match="interval"):
        ValidationSaver(lambda net: {}, network, 0, tmp_path / "v.csv", tmp_path / "b.pt")
