# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A learning rate that is a function of the trainer's iteration alone, so a resumed run continues its schedule."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.utils import optional_import

from ..errors import D3GMInputError

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["IterationLrSchedule"]


class IterationLrSchedule:
    """Sets the optimiser's learning rate (every parameter group's) before every iteration from ``(iteration, lr)``
    milestones.

    Between two milestones the rate follows a half cosine (``mode="cosine"``) or a straight line (``"linear"``);
    before the first and after the last it stays at their rates. The rate depends only on
    ``engine.state.iteration``, which checkpoints restore, so a run resumed from any checkpoint (or a new run whose
    trainer state was loaded) follows the schedule the uninterrupted run would have followed; ignite's
    ``ParamScheduler`` counts its own events instead and restarts with a fresh one.

    Example (hold 2e-4, then decay to 2e-5 between iterations 5000 and 10500)::

        IterationLrSchedule(optimizer, [[0, 2e-4], [5000, 2e-4], [10500, 2e-5]]).attach(trainer)

    Args:
        optimizer: the optimiser whose parameter groups get the rate.
        milestones: ``(iteration, lr)`` pairs with strictly increasing iterations and positive rates.
        mode: "cosine" or "linear" interpolation between milestones.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, milestones: Sequence[Sequence[float]], mode: str = "cosine"
    ) -> None:
        points = [(float(it), float(lr)) for it, lr in milestones]
        if not points:
            raise D3GMInputError("milestones is empty; give at least one (iteration, lr) pair.")
        if not all(math.isfinite(it) for it, _ in points) or any(b[0] <= a[0] for a, b in zip(points, points[1:])):
            raise D3GMInputError(
                f"milestone iterations must be finite and increase strictly, got {[p[0] for p in points]}."
            )
        if any(not lr > 0 or not math.isfinite(lr) for _, lr in points):
            raise D3GMInputError(f"learning rates must be positive and finite, got {[p[1] for p in points]}.")
        if mode not in ("cosine", "linear"):
            raise D3GMInputError(f"mode must be 'cosine' or 'linear', got {mode!r}.")
        self.optimizer = optimizer
        self.milestones = points
        self.mode = mode

    def lr(self, iteration: int) -> float:
        """The rate at ``iteration``."""
        points = self.milestones
        if iteration <= points[0][0]:
            return points[0][1]
        for (i0, lr0), (i1, lr1) in zip(points, points[1:]):
            if iteration < i1:
                frac = (iteration - i0) / (i1 - i0)
                if self.mode == "cosine":
                    frac = 0.5 * (1.0 - math.cos(math.pi * frac))
                return lr0 + (lr1 - lr0) * frac
        return points[-1][1]

    def __call__(self, engine) -> None:
        rate = self.lr(engine.state.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def attach(self, engine) -> None:
        """Set the rate at the start of every iteration of ``engine``."""
        engine.add_event_handler(Events.ITERATION_STARTED, self)
