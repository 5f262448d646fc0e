# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""θ-schedules of mean-reverting SDEs (docs/method.md §2), registered by name like MONAI's ``NoiseSchedules``."""

from __future__ import annotations

import math

import torch
from monai.utils import ComponentStore

ThetaSchedules = ComponentStore("ThetaSchedules", "Functions returning the mean-reversion rates θ_0..θ_T (float64)")


@ThetaSchedules.add_def("cosine", "IR-SDE's cosine schedule: θ_i = 1 - ᾱ(i + 1) with ᾱ the improved-DDPM cosine")
def cosine_thetas(num_train_timesteps: int, s: float = 0.008) -> torch.Tensor:
    """IR-SDE's cosine θ schedule (docs/method.md §2), the one the D³GM paper's "cosine schedule" refers to.

    With N = T + 2, ᾱ(k) = cos²(((k/N) + s)/(1 + s) · π/2) / cos²(s/(1 + s) · π/2) for k = 0..N, the rates are
    θ_i = 1 − ᾱ(i + 1) for i = 0..T. Note that this is 1 − ᾱ (the cumulative product), not DDPM's per-step β.

    Args:
        num_train_timesteps: T, the number of diffusion steps.
        s: the cosine offset.

    Returns:
        float64 tensor of shape (T + 1,).
    """
    n = num_train_timesteps + 2
    k = torch.arange(n + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((k / n) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return 1.0 - alphas_cumprod[1 : num_train_timesteps + 2]


@ThetaSchedules.add_def("linear", "θ_i linear from theta_start to theta_end")
def linear_thetas(num_train_timesteps: int, theta_start: float = 1e-3, theta_end: float = 1.0) -> torch.Tensor:
    """Linearly increasing rates θ_0..θ_T (float64, shape (T + 1,))."""
    return torch.linspace(theta_start, theta_end, num_train_timesteps + 1, dtype=torch.float64)


@ThetaSchedules.add_def("constant", "constant θ_i = theta")
def constant_thetas(num_train_timesteps: int, theta: float = 1.0) -> torch.Tensor:
    """Constant rates θ_0..θ_T (float64, shape (T + 1,)); the time scale then comes from ``dt`` alone."""
    return torch.full((num_train_timesteps + 1,), float(theta), dtype=torch.float64)
