# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The mean-reverting SDE itself: its tables, marginal, posterior and parameterisations (docs/method.md §1–2).

    dx = θ_t (μ − x) dt + τ σ_t dW,     tied case σ_t² = 2 λ² θ_t,     stationary law N(μ, τ²λ²)

Tensor maths only: no argument checks (:class:`~monai_d3gm.networks.schedulers.D3GMScheduler` validates its inputs
once and calls this), no sampling loop (the reverse steps are the functions of ``samplers.py``). A step ``t`` is a
Python int, which gives float coefficients, or a LongTensor of one step per batch item, which gives coefficients
shaped ``(B, 1, ..., 1)`` against the image.
"""

from __future__ import annotations

import math

import torch
from monai.utils import StrEnum

from ...errors import D3GMInputError
from .schedules import ThetaSchedules

__all__ = [
    "D3GMPredictionType",
    "MeanRevertingSDE",
    "closed_form_variances",
    "mean_reverting_tables",
    "recursive_variances",
    "tied_diffusion_sq",
]

Step = int | torch.Tensor


class D3GMPredictionType(StrEnum):
    """What the network predicts: the noise ε, the clean image x0, or the residual x0 − μ."""

    EPSILON = "epsilon"
    SAMPLE = "sample"
    RESIDUAL = "residual"


def mean_reverting_tables(
    num_train_timesteps: int, schedule: str = "cosine", eps: float = 0.005, **schedule_args
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """θ_i, θ̄_i and dt of docs/method.md §2, in float64.

    S_i = Σ_{j≤i} θ_j − θ_0, dt = −ln(eps) / S_T, θ̄_i = S_i dt, so that e^{−θ̄_T} = eps exactly.

    Returns:
        ``(thetas, thetas_bar, dt)``; both tensors have shape (T + 1,).
    """
    try:
        thetas = ThetaSchedules[schedule](num_train_timesteps, **schedule_args).to(torch.float64)
    except TypeError as e:
        raise D3GMInputError(f"theta schedule {schedule!r} does not take the arguments {schedule_args}: {e}.") from e
    if thetas.shape != (num_train_timesteps + 1,) or not bool(torch.all(thetas[1:] > 0) & torch.isfinite(thetas).all()):
        raise D3GMInputError(
            f"theta schedule {schedule!r} must return {num_train_timesteps + 1} finite positive rates; check its "
            f"arguments {schedule_args}."
        )
    sums = torch.cumsum(thetas, 0) - thetas[0]
    dt = -math.log(eps) / float(sums[-1])
    return thetas, sums * dt, dt


def tied_diffusion_sq(thetas: torch.Tensor, lam: float) -> torch.Tensor:
    """σ_i² = 2 λ² θ_i (without τ²): the measure-preserving tie of D³GM and IR-SDE."""
    return 2.0 * lam**2 * thetas


def closed_form_variances(thetas_bar: torch.Tensor, tau: float, lam: float) -> torch.Tensor:
    """v_i = τ²λ²(1 − e^{−2θ̄_i}), the marginal variance of the tied SDE given x0."""
    return (tau * lam) ** 2 * -torch.expm1(-2.0 * thetas_bar)


def recursive_variances(thetas: torch.Tensor, dt: float, diffusion_sq: torch.Tensor, tau: float) -> torch.Tensor:
    """v_i = v_{i−1} e^{−2θ_i dt} + τ²σ_i²(1 − e^{−2θ_i dt}) / (2θ_i): the exact marginal variance for rates that are
    constant over each step, whatever σ is (it reduces to :func:`closed_form_variances` when σ² = 2λ²θ)."""
    keep = torch.exp(-2.0 * thetas * dt)
    variances = torch.zeros_like(thetas)
    for i in range(1, thetas.shape[0]):
        added = tau**2 * diffusion_sq[i] * -math.expm1(-2.0 * float(thetas[i]) * dt) / (2 * thetas[i])
        variances[i] = variances[i - 1] * keep[i] + added
    return variances


def _gather(table: torch.Tensor, t: Step, like: torch.Tensor) -> float | torch.Tensor:
    """table[t] as a Python float (int t) or as a tensor broadcastable against ``like`` (one step per item)."""
    if isinstance(t, int):
        return float(table[t])
    values = table.to(t.device)[t].to(dtype=like.dtype, device=like.device)
    return values.reshape(-1, *([1] * (like.ndim - 1)))


class MeanRevertingSDE:
    """A discretised mean-reverting SDE on the steps i = 0..T (i = 0 is the clean image x0).

    Marginal x_i | x0 ~ N(m_i, v_i) with m_i = μ + (x0 − μ) e^{−θ̄_i}. All tables are float64 on the CPU; the methods
    gather their coefficients per call in the image's dtype and device.

    Args:
        thetas: θ_0..θ_T.
        thetas_bar: θ̄_0..θ̄_T, the integrated rates.
        dt: the time step.
        diffusion_sq: σ_0²..σ_T² without τ².
        variances: v_0..v_T, the marginal variances (with τ²).
        tau: τ, the widening of the noise.
        prior_std: standard deviation of the reverse process's start x_T ~ N(μ, prior_std²).
    """

    def __init__(
        self,
        thetas: torch.Tensor,
        thetas_bar: torch.Tensor,
        dt: float,
        diffusion_sq: torch.Tensor,
        variances: torch.Tensor,
        tau: float,
        prior_std: float,
    ) -> None:
        self.thetas, self.thetas_bar, self.dt = thetas, thetas_bar, float(dt)
        self.diffusion_sq, self.variances = diffusion_sq, variances
        self.tau, self.prior_std = float(tau), float(prior_std)
        #: sqrt(v_i) and e^{−θ̄_i}, tabulated once: the samplers read them at every step
        self.marginal_stds = variances.sqrt()
        self.decays = torch.exp(-thetas_bar)
        #: G_i = ∫_0^{t_i} τ² σ_s² ds, the integrated squared diffusion coefficient
        self.diffusion_integrals = torch.cumsum(tau**2 * diffusion_sq * dt, 0) - tau**2 * diffusion_sq[0] * dt

    @classmethod
    def tied(
        cls,
        num_train_timesteps: int = 100,
        lam: float = 10.0 / 255.0,
        tau: float = 2.0,
        eps: float = 0.005,
        schedule: str = "cosine",
        **schedule_args,
    ) -> MeanRevertingSDE:
        """D³GM's SDE (IR-SDE for ``tau`` = 1): σ² = 2λ²θ, stationary law N(μ, τ²λ²), e^{−θ̄_T} = ``eps``."""
        thetas, thetas_bar, dt = mean_reverting_tables(num_train_timesteps, schedule, eps, **schedule_args)
        variances = closed_form_variances(thetas_bar, tau, lam)
        return cls(thetas, thetas_bar, dt, tied_diffusion_sq(thetas, lam), variances, tau, tau * lam)

    @property
    def num_steps(self) -> int:
        """T."""
        return self.thetas.shape[0] - 1

    def variance(self, t: Step, like: torch.Tensor) -> float | torch.Tensor:
        """v_t, as a float (int t) or shaped ``(B, 1, ..., 1)`` in the dtype and device of ``like``."""
        return _gather(self.variances, t, like)

    # forward process
    def marginal_mean(self, x0: torch.Tensor, mu: torch.Tensor, t: Step) -> torch.Tensor:
        """m_t = μ + (x0 − μ) e^{−θ̄_t}."""
        return mu + (x0 - mu) * _gather(self.decays, t, x0)

    def add_noise(self, x0: torch.Tensor, mu: torch.Tensor, noise: torch.Tensor, t: Step) -> torch.Tensor:
        """x_t = m_t + sqrt(v_t) · noise, a draw of the marginal for standard normal ``noise``."""
        return self.marginal_mean(x0, mu, t) + _gather(self.marginal_stds, t, x0) * noise

    # parameterisations
    def original_sample(
        self, model_output: torch.Tensor, t: Step, sample: torch.Tensor, mu: torch.Tensor, prediction_type: str
    ) -> torch.Tensor:
        """x̂0 from the network's output (not clamped).

        For ε: x̂0 = μ + (x_t − μ − sqrt(v_t) ε̂) e^{θ̄_t}; for "sample": the output; for "residual": μ + output.
        """
        if prediction_type == D3GMPredictionType.EPSILON:
            std = _gather(self.marginal_stds, t, sample)
            return mu + (sample - mu - std * model_output) / _gather(self.decays, t, sample)
        if prediction_type == D3GMPredictionType.SAMPLE:
            return model_output
        return mu + model_output

    def epsilon(self, x0: torch.Tensor, t: Step, sample: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """ε = (x_t − m_t(x0)) / sqrt(v_t); needs t ≥ 1."""
        std = _gather(self.marginal_stds, t, sample)
        return (sample - mu - (x0 - mu) * _gather(self.decays, t, sample)) / std

    def score(self, x0: torch.Tensor, t: Step, sample: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """∇log p_t(x_t | x0) = −(x_t − m_t(x0)) / v_t; needs t ≥ 1."""
        var = self.variance(t, sample)
        return -(sample - mu - (x0 - mu) * _gather(self.decays, t, sample)) / var

    @staticmethod
    def training_target(x0: torch.Tensor, mu: torch.Tensor, noise: torch.Tensor, prediction_type: str) -> torch.Tensor:
        """What the network regresses: z (ε), x0 ("sample") or x0 − μ ("residual")."""
        if prediction_type == D3GMPredictionType.EPSILON:
            return noise
        if prediction_type == D3GMPredictionType.SAMPLE:
            return x0
        return x0 - mu

    # reverse process
    def posterior_coefficients(
        self, i: Step, j: Step, like: torch.Tensor
    ) -> tuple[float | torch.Tensor, float | torch.Tensor, float | torch.Tensor]:
        """Coefficients (a, b, std) of q(x_j | x_i, x0) = N(μ + a (x_i − μ) + b (x0 − μ), std²), j < i.

        With Δ = θ̄_i − θ̄_j and q = v_i − e^{−2Δ} v_j (the variance added between j and i):
        a = e^{−Δ} v_j / v_i, b = e^{−θ̄_j} q / v_i, std² = v_j q / v_i (clamped ≥ 1e−20·dt); docs/method.md §2.
        """
        i = i.cpu() if isinstance(i, torch.Tensor) else i
        j = j.cpu() if isinstance(j, torch.Tensor) else j
        v_i, v_j = self.variances[i], self.variances[j]
        step_decay = self.decays[i] / self.decays[j]
        added = v_i - step_decay**2 * v_j
        a = step_decay * v_j / v_i
        b = self.decays[j] * added / v_i
        std = (v_j * added / v_i).clamp_min(1e-20 * self.dt).sqrt()
        if isinstance(i, int) and isinstance(j, int):
            return float(a), float(b), float(std)
        shape = (-1, *([1] * (like.ndim - 1)))
        return tuple(c.to(like).reshape(shape) for c in (a, b, std))  # type: ignore[return-value]

    def posterior_mean(
        self, sample: torch.Tensor, x0: torch.Tensor, mu: torch.Tensor, i: Step, j: Step
    ) -> torch.Tensor:
        """Mean of q(x_j | x_i, x0): μ + a (x_i − μ) + b (x0 − μ)."""
        a, b, _ = self.posterior_coefficients(i, j, sample)
        return mu + a * (sample - mu) + b * (x0 - mu)

    def reverse_sde_mean(
        self, sample: torch.Tensor, x0: torch.Tensor, mu: torch.Tensor, i: Step, j: Step
    ) -> torch.Tensor:
        """Noise-free Euler–Maruyama step of the reverse SDE from x_i to x_j with the score implied by x̂0.

        x_j = x_i − (μ − x_i) Δθ̄ + ΔG · ∇log p_i(x_i), with Δθ̄ = θ̄_i − θ̄_j and ΔG = G_i − G_j (∫τ²σ² over (j, i]).
        """
        d_theta_bar = _gather(self.thetas_bar, i, sample) - _gather(self.thetas_bar, j, sample)
        d_g = _gather(self.diffusion_integrals, i, sample) - _gather(self.diffusion_integrals, j, sample)
        return sample - (mu - sample) * d_theta_bar + d_g * self.score(x0, i, sample, mu)
