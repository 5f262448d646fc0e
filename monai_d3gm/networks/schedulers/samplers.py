# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reverse steps x_i → x_j (j < i) of a :class:`MeanRevertingSDE`, given the network's x̂0 (docs/method.md §2).

Each sampler is a short function ``step(sde, sample, x0, mu, i, j, noise) -> x_j`` registered by name in
``Samplers`` (a MONAI ``ComponentStore``, like ``NoiseSchedules``); ``noise()`` draws standard normal noise shaped
like the sample and is called only by the samplers that need it, so a seed gives the same stream whichever sampler
runs. :class:`~monai_d3gm.networks.schedulers.D3GMScheduler` validates the step and dispatches to them by name, and a
sampler registered here with ``Samplers.add_def`` becomes a ``sampler`` of the scheduler, inferer and bundles::

    @Samplers.add_def("my_sampler", "what it does")
    def my_step(sde, sample, x0, mu, i, j, noise): ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from monai.utils import ComponentStore, StrEnum

from .sde import MeanRevertingSDE

__all__ = ["D3GMSampler", "Samplers", "ode_step", "posterior_step", "sde_step"]

NoiseSampler = Callable[[], torch.Tensor]

Samplers = ComponentStore("Samplers", "Reverse steps x_i -> x_j of a mean-reverting SDE given the network's x0")


class D3GMSampler(StrEnum):
    """The built-in reverse-time samplers: Euler–Maruyama on the reverse SDE, probability-flow ODE, posterior."""

    SDE = "sde"
    ODE = "ode"
    POSTERIOR = "posterior"


@Samplers.add_def(D3GMSampler.SDE.value, "Euler-Maruyama on the reverse SDE with integrated coefficients")
def sde_step(
    sde: MeanRevertingSDE, sample: torch.Tensor, x0: torch.Tensor, mu: torch.Tensor, i: int, j: int, noise: NoiseSampler
) -> torch.Tensor:
    """Euler–Maruyama on dx = [θ(μ − x) − τ²σ² ∇log p_t(x)] dt + τσ dŴ:

    x_j = x_i − (μ − x_i) Δθ̄ + ΔG · score + sqrt(ΔG) z, with Δθ̄ = θ̄_i − θ̄_j and ΔG = ∫τ²σ² over (j, i].
    """
    d_g = float(sde.diffusion_integrals[i] - sde.diffusion_integrals[j])
    return sde.reverse_sde_mean(sample, x0, mu, i, j) + math.sqrt(d_g) * noise()


@Samplers.add_def(D3GMSampler.ODE.value, "the probability-flow ODE solved exactly for a fixed x0 (DDIM-like)")
def ode_step(
    sde: MeanRevertingSDE, sample: torch.Tensor, x0: torch.Tensor, mu: torch.Tensor, i: int, j: int, noise: NoiseSampler
) -> torch.Tensor:
    """The probability-flow ODE dx = [θ(μ − x) − ½τ²σ² ∇log p_t(x)] dt, solved exactly for a fixed x̂0 (an
    exponential integrator): x_j = μ + e^{−θ̄_j}(x̂0 − μ) + sqrt(v_j) ε̂. Draws no noise."""
    ratio = float(sde.marginal_stds[j] / sde.marginal_stds[i])
    decay_i, decay_j = float(sde.decays[i]), float(sde.decays[j])
    return mu + ratio * (sample - mu) + (decay_j - ratio * decay_i) * (x0 - mu)


@Samplers.add_def(D3GMSampler.POSTERIOR.value, "a draw of q(x_j | x_i, x0) at the network's x0 (ancestral)")
def posterior_step(
    sde: MeanRevertingSDE, sample: torch.Tensor, x0: torch.Tensor, mu: torch.Tensor, i: int, j: int, noise: NoiseSampler
) -> torch.Tensor:
    """x_j = μ + a (x_i − μ) + b (x̂0 − μ) + std · z, the posterior of the forward process at x̂0; no noise at j = 0,
    where x_0 = x̂0."""
    a, b, std = sde.posterior_coefficients(i, j, sample)
    prev = mu + a * (sample - mu) + b * (x0 - mu)
    return prev + std * noise() if j > 0 else prev
