# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The D³GM mean-reverting SDE as a MONAI scheduler (docs/method.md §1–2).

Forward SDE (time index i = 0..T, i = 0 is the clean image, μ is the degraded image):

    dx = θ_t (μ − x) dt + τ σ_t dW,     σ_t² = 2 λ² θ_t

with marginal N(m_i, v_i), m_i = μ + (x0 − μ) e^{−θ̄_i}, v_i = τ² λ² (1 − e^{−2 θ̄_i}), and stationary law N(μ, τ²λ²).
IR-SDE is τ = 1. For the tied (measure-preserving) case the residual r = (x − μ)/(τλ) follows a variance-preserving
DDPM with ᾱ_i = e^{−2 θ̄_i}; this is what MONAI's ``betas`` / ``alphas`` / ``alphas_cumprod`` hold here.

The maths lives in :class:`~.sde.MeanRevertingSDE` (tables, marginal, posterior, parameterisations) and in the
sampler functions of ``samplers.py``; this class is their MONAI face: it checks its arguments once per call and
dispatches.
"""

from __future__ import annotations

import numbers

import torch
from monai.networks.schedulers import NoiseSchedules, Scheduler

from ...errors import D3GMInputError
from ...noise import NoiseSource, randn
from ...utils import finite_number
from .samplers import D3GMSampler, Samplers
from .schedules import ThetaSchedules
from .sde import (
    D3GMPredictionType,
    MeanRevertingSDE,
    closed_form_variances,
    mean_reverting_tables,
    tied_diffusion_sq,
)

__all__ = ["D3GMScheduler"]


@NoiseSchedules.add_def("mean_reverting", "Residual VP view of a mean-reverting SDE: ᾱ_i = exp(-2 θ̄_i), i = 0..T")
def _mean_reverting(num_train_timesteps: int, theta_schedule: str = "cosine", eps: float = 0.005, **schedule_args):
    thetas, thetas_bar, dt = mean_reverting_tables(num_train_timesteps, theta_schedule, eps, **schedule_args)
    alphas = torch.exp(-2.0 * thetas * dt)
    alphas[0] = 1.0
    return 1.0 - alphas, alphas, torch.exp(-2.0 * thetas_bar)


def _as_index(timesteps: int | torch.Tensor) -> int | torch.Tensor:
    if isinstance(timesteps, torch.Tensor):
        return timesteps.long() if timesteps.ndim > 0 else int(timesteps)
    return int(timesteps)


class D3GMScheduler(Scheduler):
    """Mean-reverting SDE scheduler of D³GM (and IR-SDE with ``tau=1``).

    All tables are float64 on the CPU; coefficients are gathered per call and cast to the sample's dtype/device.

    Args:
        num_train_timesteps: T, number of diffusion steps (steps are indexed 0..T; training and sampling use 1..T).
        lam: λ, the stationary standard deviation for τ = 1 (10/255 for images in [0, 1]).
        tau: τ > 0, the widening of the stationary measure N(μ, τ²λ²); τ = 1 is IR-SDE, D³GM uses τ > 1.
        eps: e^{−θ̄_T}, the fraction of x0 − μ left at i = T, in (0, 1).
        schedule: name of a θ schedule in ``ThetaSchedules`` ("cosine", "linear", "constant").
        prediction_type: what the network predicts, a member of ``D3GMPredictionType``.
        sampler: default reverse sampler, a member of ``D3GMSampler``.
        clip_sample: clamp the predicted clean image x̂0 to ``[clip_sample_min, clip_sample_max]``; e^{θ̄_T} = 1/eps
            amplifies the network's error when recovering x̂0 from ε̂ at large i (docs/method.md §7).
        clip_sample_min: lower clamp of x̂0.
        clip_sample_max: upper clamp of x̂0.
        schedule_args: extra arguments of the θ schedule function.
    """

    def __init__(
        self,
        num_train_timesteps: int = 100,
        lam: float = 10.0 / 255.0,
        tau: float = 2.0,
        eps: float = 0.005,
        schedule: str = "cosine",
        prediction_type: str = D3GMPredictionType.EPSILON,
        sampler: str = D3GMSampler.SDE,
        clip_sample: bool = True,
        clip_sample_min: float = -1.0,
        clip_sample_max: float = 1.0,
        **schedule_args,
    ) -> None:
        if isinstance(num_train_timesteps, bool) or not isinstance(num_train_timesteps, numbers.Integral):
            raise D3GMInputError(f"num_train_timesteps must be an integer, got {num_train_timesteps!r}.")
        if num_train_timesteps < 1:
            raise D3GMInputError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}.")
        tau, lam, eps = (finite_number(v, name) for name, v in (("tau", tau), ("lam", lam), ("eps", eps)))
        if not tau > 0:
            raise D3GMInputError(f"tau must be > 0 (tau = 1 is IR-SDE, D3GM uses tau > 1), got {tau}.")
        if not lam > 0:
            raise D3GMInputError(f"lam (the stationary std for tau = 1) must be > 0, got {lam}.")
        if not 0 < eps < 1:
            raise D3GMInputError(f"eps = exp(-theta_bar_T) must lie in (0, 1), got {eps}.")
        if schedule not in ThetaSchedules.names:
            raise D3GMInputError(f"Unknown theta schedule {schedule!r}; choose one of {sorted(ThetaSchedules.names)}.")
        if prediction_type not in D3GMPredictionType.__members__.values():
            raise D3GMInputError(f"prediction_type must be one of {list(D3GMPredictionType)}, got {prediction_type!r}.")
        if clip_sample and not clip_sample_min < clip_sample_max:
            raise D3GMInputError(f"clip_sample_min ({clip_sample_min}) must be < clip_sample_max ({clip_sample_max}).")
        super().__init__(num_train_timesteps, "mean_reverting", theta_schedule=schedule, eps=eps, **schedule_args)
        self.lam = float(lam)
        self.tau = float(tau)
        self.eps = float(eps)
        self.schedule = schedule
        self.prediction_type = D3GMPredictionType(prediction_type)
        self.sampler = self._check_sampler(sampler)
        self.clip_sample = clip_sample
        self.clip_sample_values = (float(clip_sample_min), float(clip_sample_max))

        self.thetas, self.thetas_bar, self.dt = mean_reverting_tables(
            num_train_timesteps, schedule, eps, **schedule_args
        )
        sigmas_sq = self._diffusion_sq()
        #: v_i, the marginal variance of x_i given x0 (includes τ²)
        self.variances = self._marginal_variances(sigmas_sq)
        #: the SDE's tables and closed forms, which the methods below check their arguments for and call
        self.sde = MeanRevertingSDE(
            self.thetas, self.thetas_bar, self.dt, sigmas_sq, self.variances, self.tau, self.prior_std
        )
        #: sqrt(v_i), e^{−θ̄_i} and G_i = ∫_0^{t_i} τ² σ_s² ds: the SDE's tables under the scheduler's names
        self.marginal_stds, self.decays = self.sde.marginal_stds, self.sde.decays
        self.diffusion_integrals = self.sde.diffusion_integrals
        self.timesteps = torch.arange(num_train_timesteps, 0, -1)
        self._prev_timestep = {int(t): int(t) - 1 for t in self.timesteps}

    # ----------------------------------------------------------------------------------------------------------------
    # the SDE's coefficients (hooks: CoefficientDecoupledScheduler unties σ from θ)
    def _diffusion_sq(self) -> torch.Tensor:
        """σ_i² (without τ²): tied to θ_i by σ² = 2 λ² θ (measure-preserving). Subclasses decouple it."""
        return tied_diffusion_sq(self.thetas, self.lam)

    def _marginal_variances(self, sigmas_sq: torch.Tensor) -> torch.Tensor:
        """v_i = τ²λ²(1 − e^{−2θ̄_i}), the closed form of the tied case."""
        return closed_form_variances(self.thetas_bar, self.tau, self.lam)

    @property
    def prior_std(self) -> float:
        """Standard deviation of the sampling start x_T = μ + prior_std · z: the stationary τλ."""
        return self.tau * self.lam

    def _check_timesteps(self, timesteps: int | torch.Tensor, low: int = 0) -> int | torch.Tensor:
        if isinstance(timesteps, torch.Tensor):
            if timesteps.is_floating_point() or timesteps.is_complex() or timesteps.dtype == torch.bool:
                raise D3GMInputError(f"timesteps must be integers, got a {timesteps.dtype} tensor; use .long().")
            if timesteps.numel() == 0:
                raise D3GMInputError("timesteps is empty; give one integer step per batch item.")
        elif isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral):
            raise D3GMInputError(f"timesteps must be an integer or an integer tensor, got {timesteps!r}.")
        t = _as_index(timesteps)
        t_min, t_max = (int(t), int(t)) if isinstance(t, int) else (int(t.min()), int(t.max()))
        if t_min < low or t_max > self.num_train_timesteps:
            raise D3GMInputError(
                f"timesteps must lie in [{low}, {self.num_train_timesteps}] (num_train_timesteps), "
                f"got values in [{t_min}, {t_max}]."
            )
        return t

    @staticmethod
    def _check_pair(x: torch.Tensor, mu: torch.Tensor, x_name: str = "sample") -> None:
        if x.shape != mu.shape:
            raise D3GMInputError(
                f"{x_name} and mu (the degraded image) must have the same shape, got {tuple(x.shape)} and "
                f"{tuple(mu.shape)}; bring mu onto the grid of the clean image first."
            )

    # ----------------------------------------------------------------------------------------------------------------
    # forward process
    def marginal_mean(
        self, original_samples: torch.Tensor, mu: torch.Tensor, timesteps: int | torch.Tensor
    ) -> torch.Tensor:
        """m_t = μ + (x0 − μ) e^{−θ̄_t}."""
        t = self._check_timesteps(timesteps)
        self._check_pair(original_samples, mu, "original_samples")
        return self.sde.marginal_mean(original_samples, mu, t)

    def marginal_std(self, timesteps: int | torch.Tensor) -> torch.Tensor:
        """sqrt(v_t), the standard deviation of x_t given x0 (float64 tensor shaped like ``timesteps``)."""
        t = self._check_timesteps(timesteps)
        return self.marginal_stds[t]

    def add_noise(  # type: ignore[override]
        self, original_samples: torch.Tensor, mu: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """Sample x_t ~ N(m_t, v_t) given x0: x_t = m_t + sqrt(v_t) · noise.

        Args:
            original_samples: x0, shape (B, C, *spatial).
            mu: the degraded image μ, same shape.
            noise: standard normal noise z, same shape.
            timesteps: integer steps in [0, T], shape (B,).
        """
        self._check_pair(noise, mu, "noise")
        t = self._check_timesteps(timesteps)
        self._check_pair(original_samples, mu, "original_samples")
        return self.sde.add_noise(original_samples, mu, noise, t)

    def prior_sample(self, mu: torch.Tensor, generator: NoiseSource = None) -> torch.Tensor:
        """The start of the reverse process, x_T = μ + τλ z (the stationary law of the SDE)."""
        return mu + self.prior_std * _randn_like(mu, generator)

    # ----------------------------------------------------------------------------------------------------------------
    # parameterisations
    def predict_original_sample(
        self,
        model_output: torch.Tensor,
        timesteps: int | torch.Tensor,
        sample: torch.Tensor,
        mu: torch.Tensor,
        clip: bool | None = None,
    ) -> torch.Tensor:
        """x̂0 from the network output, clamped to the data range when ``clip`` (default ``clip_sample``).

        For ε: x̂0 = μ + (x_t − μ − sqrt(v_t) ε̂) e^{θ̄_t}; for "sample": the output; for "residual": μ + output.
        """
        x0 = self.sde.original_sample(model_output, _as_index(timesteps), sample, mu, self.prediction_type)
        if self.clip_sample if clip is None else clip:
            x0 = x0.clamp(*self.clip_sample_values)
        return x0

    def epsilon_from_original_sample(
        self, original_samples: torch.Tensor, timesteps: int | torch.Tensor, sample: torch.Tensor, mu: torch.Tensor
    ) -> torch.Tensor:
        """ε = (x_t − m_t(x0)) / sqrt(v_t); needs t ≥ 1."""
        return self.sde.epsilon(original_samples, _as_index(timesteps), sample, mu)

    def score_from_original_sample(
        self, original_samples: torch.Tensor, timesteps: int | torch.Tensor, sample: torch.Tensor, mu: torch.Tensor
    ) -> torch.Tensor:
        """∇log p_t(x_t | x0) = −(x_t − m_t(x0)) / v_t; needs t ≥ 1."""
        return self.sde.score(original_samples, _as_index(timesteps), sample, mu)

    def training_target(self, original_samples: torch.Tensor, mu: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network regresses for ``prediction_type``: z, x0 or x0 − μ."""
        return self.sde.training_target(original_samples, mu, noise, self.prediction_type)

    # ----------------------------------------------------------------------------------------------------------------
    # reverse process
    def posterior_coefficients(
        self, timesteps: int | torch.Tensor, prev_timesteps: int | torch.Tensor, like: torch.Tensor
    ) -> tuple[float | torch.Tensor, float | torch.Tensor, float | torch.Tensor]:
        """Coefficients (a, b, std) of q(x_j | x_i, x0) = N(μ + a (x_i − μ) + b (x0 − μ), std²), j < i: floats for
        integer steps, ``(B, 1, ..., 1)`` tensors against ``like`` for one step per item (docs/method.md §2)."""
        return self.sde.posterior_coefficients(_as_index(timesteps), _as_index(prev_timesteps), like)

    def posterior_mean(
        self,
        sample: torch.Tensor,
        original_samples: torch.Tensor,
        mu: torch.Tensor,
        timesteps: int | torch.Tensor,
        prev_timesteps: int | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean of q(x_{prev} | x_t, x0): μ + a (x_t − μ) + b (x0 − μ); ``prev_timesteps`` defaults to t − 1."""
        t = self._check_timesteps(timesteps, low=1)
        prev = t - 1 if prev_timesteps is None else self._check_timesteps(prev_timesteps)
        return self.sde.posterior_mean(sample, original_samples, mu, t, prev)

    def reverse_sde_mean(
        self,
        sample: torch.Tensor,
        original_samples: torch.Tensor,
        mu: torch.Tensor,
        timesteps: int | torch.Tensor,
        prev_timesteps: int | torch.Tensor,
    ) -> torch.Tensor:
        """Noise-free Euler–Maruyama step of the reverse SDE from x_i to x_j with the score implied by x̂0 (see
        :meth:`MeanRevertingSDE.reverse_sde_mean`)."""
        return self.sde.reverse_sde_mean(sample, original_samples, mu, _as_index(timesteps), _as_index(prev_timesteps))

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """Choose the sub-sequence of ``num_inference_steps`` steps, evenly spaced in T..1 (descending), ending at 0.

        Args:
            num_inference_steps: number of network evaluations, 1..T.
            device: device of ``self.timesteps``.
        """
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, numbers.Integral):
            raise D3GMInputError(f"num_inference_steps must be an integer, got {num_inference_steps!r}.")
        if not 1 <= int(num_inference_steps) <= self.num_train_timesteps:
            raise D3GMInputError(
                f"num_inference_steps must lie in [1, {self.num_train_timesteps}] (num_train_timesteps), "
                f"got {num_inference_steps}."
            )
        self.num_inference_steps = int(num_inference_steps)
        steps = torch.linspace(self.num_train_timesteps, 1, self.num_inference_steps, dtype=torch.float64)
        steps = torch.unique(steps.round().long(), sorted=True).flip(0)
        self.timesteps = steps.to(device)
        prevs = [*steps[1:].tolist(), 0]
        self._prev_timestep = dict(zip(steps.tolist(), prevs))

    def previous_timestep(self, timestep: int) -> int:
        """The step that follows ``timestep`` in the current sub-sequence (0 after the last)."""
        try:
            return self._prev_timestep[int(timestep)]
        except KeyError:
            raise D3GMInputError(
                f"timestep {int(timestep)} is not in the current sub-sequence {self.timesteps.tolist()}; "
                "call set_timesteps() first or pass prev_timestep."
            ) from None

    @staticmethod
    def _check_sampler(sampler: str) -> str:
        if not isinstance(sampler, str) or sampler not in Samplers:
            raise D3GMInputError(f"sampler must be one of {list(Samplers.names)} (Samplers), got {sampler!r}.")
        return D3GMSampler(sampler) if sampler in D3GMSampler.__members__.values() else sampler

    def step(  # type: ignore[override]
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        mu: torch.Tensor,
        generator: NoiseSource = None,
        prev_timestep: int | None = None,
        sampler: str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step x_i → x_j (j = the next step of the sub-sequence, or ``prev_timestep``).

        Predicts x̂0 from the network's output (clamped when ``clip_sample``) and hands it to the sampler function
        registered under ``sampler`` in ``Samplers``: ``"sde"`` (:func:`~.samplers.sde_step`), ``"ode"``
        (:func:`~.samplers.ode_step`) or ``"posterior"`` (:func:`~.samplers.posterior_step`). They derive the score
        and ε̂ from that x̂0, so all of them honour ``clip_sample``.

        Args:
            model_output: the network's output at (x_i, i).
            timestep: i, in 1..T.
            sample: x_i.
            mu: the degraded image μ.
            generator: random generator for the noise of "sde" and "posterior".
            prev_timestep: j < i; defaults to the next step of ``set_timesteps``'s sub-sequence.
            sampler: overrides the scheduler's default sampler.

        Returns:
            ``(x_j, x̂0)``.
        """
        if model_output.shape != sample.shape:
            raise D3GMInputError(
                f"model_output {tuple(model_output.shape)} must have the shape of sample {tuple(sample.shape)}: the "
                "network must output as many channels as the image has."
            )
        self._check_pair(sample, mu)
        if isinstance(timestep, torch.Tensor) and timestep.numel() != 1:
            raise D3GMInputError(f"step takes one timestep for the whole batch, got shape {tuple(timestep.shape)}.")
        i = int(self._check_timesteps(timestep, low=1))
        j = self.previous_timestep(i) if prev_timestep is None else int(self._check_timesteps(prev_timestep))
        if j >= i:
            raise D3GMInputError(f"prev_timestep ({j}) must be smaller than timestep ({i}).")
        step = Samplers[self.sampler if sampler is None else self._check_sampler(sampler)]
        x0 = self.predict_original_sample(model_output, i, sample, mu)
        return step(self.sde, sample, x0, mu, i, j, lambda: _randn_like(sample, generator)), x0


def _randn_like(x: torch.Tensor, generator: NoiseSource) -> torch.Tensor:
    """Standard normal noise shaped like ``x`` (see :func:`~monai_d3gm.noise.randn`)."""
    return randn(x.shape, generator, x.dtype, x.device)
