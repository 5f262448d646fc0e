# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A slow, independent simulation of the forward SDE, to check the scheduler's closed-form marginal against."""

from __future__ import annotations

import math

import torch

from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.noise import NoiseSource, randn


def euler_maruyama_forward(
    scheduler: D3GMScheduler,
    original_samples: torch.Tensor,
    mu: torch.Tensor,
    num_steps: int,
    substeps: int = 10,
    generator: NoiseSource = None,
) -> torch.Tensor:
    """Simulate the forward SDE dx = θ(μ − x)dt + τσ dW from x0 up to step ``num_steps`` by Euler–Maruyama.

    θ and σ are constant over each step (duration ``dt``), which is split into ``substeps`` sub-intervals
    (docs/method.md §6, check 5).
    """
    x = original_samples.clone()
    sigmas_sq = scheduler.sde.diffusion_sq
    h = scheduler.dt / substeps
    for i in range(1, num_steps + 1):
        theta = float(scheduler.thetas[i])
        g = scheduler.tau * math.sqrt(float(sigmas_sq[i]))
        for _ in range(substeps):
            x = x + theta * (mu - x) * h + g * math.sqrt(h) * randn(x.shape, generator, x.dtype, x.device)
    return x
