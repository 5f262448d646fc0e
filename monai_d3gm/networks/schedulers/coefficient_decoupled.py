# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The "coefficient-decoupled" SDE of the D³GM paper's ablation (its Table 11): same drift, σ_t not tied to θ_t."""

from __future__ import annotations

import math

import torch

from ...errors import D3GMInputError
from .d3gm import D3GMScheduler
from .sde import recursive_variances

__all__ = ["CoefficientDecoupledScheduler"]


class CoefficientDecoupledScheduler(D3GMScheduler):
    """dx = θ_t (μ − x) dt + τ σ dW with a constant σ that is *not* tied to θ_t (σ² ≠ 2λ²θ_t).

    Without the tie the process has no stationary law that the schedule preserves: the marginal variance follows the
    exact recursion for piecewise-constant coefficients, v_i = v_{i−1} e^{−2θ_i dt} + τ²σ²(1 − e^{−2θ_i dt})/(2θ_i), and
    sampling starts from N(μ, v_T). Every sampler of :class:`D3GMScheduler` works unchanged (they only use v_i, θ̄_i and
    the integrated diffusion).

    Args:
        sigma: the constant diffusion coefficient σ (before τ). Defaults to the time average of the tied σ_t, i.e.
            sqrt(2λ²θ̄_T / (T dt)), so that the total injected noise ∫σ² equals the tied schedule's.
        kwargs: the arguments of :class:`D3GMScheduler`.
    """

    def __init__(self, sigma: float | None = None, **kwargs) -> None:
        if sigma is not None and not sigma > 0:
            raise D3GMInputError(f"sigma must be > 0, got {sigma}.")
        self.sigma = sigma
        super().__init__(**kwargs)

    def _diffusion_sq(self) -> torch.Tensor:
        sigma_sq = self.sigma**2 if self.sigma is not None else None
        if sigma_sq is None:
            total_time = self.num_train_timesteps * self.dt
            sigma_sq = 2.0 * self.lam**2 * float(self.thetas_bar[-1]) / total_time
        return torch.full_like(self.thetas, sigma_sq)

    def _marginal_variances(self, sigmas_sq: torch.Tensor) -> torch.Tensor:
        return recursive_variances(self.thetas, self.dt, sigmas_sq, self.tau)

    @property
    def prior_std(self) -> float:
        """sqrt(v_T): the decoupled SDE has no preserved stationary law, so sampling starts from the marginal at T."""
        return math.sqrt(float(self.variances[-1]))
