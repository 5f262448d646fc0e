# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Engine

from monai_d3gm.handlers import IterationLrSchedule


def schedule(mode: str = "cosine") -> IterationLrSchedule:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return IterationLrSchedule(opt, [[0, 2e-4], [100, 2e-4], [300, 2e-5]], mode=mode)


def test_rates_hold_then_follow_the_curve_between_milestones():
    cos, lin = schedule(), schedule("linear")
    assert cos.lr(0) == cos.lr(50) == cos.lr(100) == 2e-4
    assert math.isclose(cos.lr(200), 1.1e-4) and math.isclose(lin.lr(200), 1.1e-4)  # midpoints agree
    assert math.isclose(lin.lr(150), 2e-4 - 0.25 * 1.8e-4)
    assert math.isclose(cos.lr(150), 2e-4 - 0.5 * (1 - math.cos(math.pi / 4)) * 1.8e-4)
    assert cos.lr(300) == cos.lr(10**6) == 2e-5
    rates = [cos.lr(i) for i in range(100, 301)]
    assert all(b <= a for a, b in zip(rates, rates[1:]))


def test_the_rate_follows_the_engine_iteration_also_after_a_resume():
    sched = schedule()
    seen = []
    engine = Engine(lambda e, b: seen.append(sched.optimizer.param_groups[0]["lr"]))
    sched.attach(engine)
    engine.run(range(10), max_epochs=1)
    assert seen[0] == 2e-4
    resumed = Engine(lambda e, b: seen.append(sched.optimizer.param_groups[0]["lr"]))
    sched.attach(resumed)
    resumed.load_state_dict({"iteration": 199, "epoch_length": 250, "max_epochs": 1})
    resumed.run(range(250))
    assert math.isclose(seen[10], sched.lr(200))  # ITERATION_STARTED already counts the iteration to come


@pytest.mark.parametrize(
    "milestones, mode, match",
    [
        ([], "cosine", "empty"),
        ([[5, 1e-3], [5, 1e-4]], "cosine", "increase"),
        ([[0, 0.0]], "cosine", "positive"),
        ([[0, 1e-3]], "step", "mode"),
    ],
)
def test_bad_schedules_are_refused(milestones, mode, match):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=match):
        IterationLrSchedule(opt, milestones, mode=mode)
