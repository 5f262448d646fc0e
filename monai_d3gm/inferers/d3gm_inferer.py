# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training forward pass and reverse-time sampling of D³GM as a MONAI inferer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer
from monai.utils import optional_import

from ..errors import D3GMInputError, NonFiniteSampleError
from ..memory import MemoryGuard
from ..networks.schedulers import D3GMScheduler
from ..noise import NoiseSource
from ..physics.consistency import DataConsistency

tqdm, has_tqdm = optional_import("tqdm", name="tqdm")

__all__ = ["D3GMInferer", "NonFiniteSampleError", "chain_state", "network_input"]


def _non_finite(step: int, steps: int, pair: tuple[int, int], output_finite: bool, dc: bool) -> NonFiniteSampleError:
    """The error for a state that became NaN/Inf at ``step`` (0-based), naming what produced it."""
    where = f"at step {step + 1} of {steps} (t = {pair[0]} -> {pair[1]})"
    if not output_finite:
        return NonFiniteSampleError(
            f"the network's output is NaN/Inf {where}; check the weights (a diverged or corrupt checkpoint), the "
            "input's scale (normalise it as the training data was) and, on GPU, try float32 instead of half precision."
        )
    culprit = "the data-consistency step" if dc else "the scheduler step"
    return NonFiniteSampleError(
        f"the sample became NaN/Inf in {culprit} {where} although the network's output is finite; check the "
        "measured data (k-space, mask) for extreme values, or use fewer steps / the 'posterior' sampler."
    )


def _check_finite(finite: list[torch.Tensor], pairs: list[tuple[int, int]], dc: bool) -> None:
    """Raise for the first step whose state became NaN/Inf, from flags read once after the loop.

    ``finite[i]`` holds (state finite, network output finite) of step i as a device tensor, so that on an accelerator
    the sampler never waits for the device inside its loop (the steps after a failure then still run). On the CPU, or
    when a callback follows the chain, the sampler checks each step as it goes instead and stops at the first failure.
    """
    flags = torch.stack(finite).cpu()
    if bool(flags[:, 0].all()):
        return
    i = int(torch.nonzero(~flags[:, 0])[0])
    raise _non_finite(i, len(pairs), pairs[i], bool(flags[i, 1]), dc)


def _check_restoration_input(mu: torch.Tensor, network: Callable[..., torch.Tensor]) -> None:
    """Refuse a degraded image the network cannot take: shape, emptiness, dtype, and the network's weights' dtype and
    device (when it has weights)."""
    if not isinstance(mu, torch.Tensor):
        raise D3GMInputError(f"mu must be a torch.Tensor of shape (B, C, *spatial), got {type(mu).__name__}.")
    if mu.ndim < 3:
        raise D3GMInputError(f"mu must have shape (B, C, *spatial), got {tuple(mu.shape)}.")
    if mu.numel() == 0:
        raise D3GMInputError(f"mu is empty (shape {tuple(mu.shape)}); every dimension needs at least one element.")
    if not mu.is_floating_point():
        hint = (
            "split complex images into (real, imaginary) channels (ComplexToChannels)"
            if mu.is_complex()
            else ("convert it with mu.float() and scale it as the training data was")
        )
        raise D3GMInputError(f"mu must be a real floating-point tensor, got {mu.dtype}; {hint}.")
    dims, channels = getattr(network, "spatial_dims", None), getattr(network, "image_channels", None)
    if isinstance(dims, int) and isinstance(channels, int) and (mu.ndim != dims + 2 or mu.shape[1] != channels):
        raise D3GMInputError(
            f"mu has shape {tuple(mu.shape)} but the {type(network).__name__} takes (B, {channels}, "
            f"{', '.join(['*'] * dims)}): {channels} image channel(s) and {dims} spatial dimensions."
        )
    weight = next(network.parameters(), None) if isinstance(network, torch.nn.Module) else None
    if weight is not None and (weight.dtype != mu.dtype or weight.device != mu.device):
        raise D3GMInputError(
            f"mu is {mu.dtype} on {mu.device} but the network's weights are {weight.dtype} on {weight.device}; "
            f"move it with mu.to(device={str(weight.device)!r}, dtype={weight.dtype})."
        )


def network_input(sample: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """The score network's input, cat([x_t − μ, μ]) along the channel dimension."""
    return torch.cat([sample - mu, mu], dim=1)


def chain_state(
    scheduler: D3GMScheduler,
    network: Callable[..., torch.Tensor],
    original_samples: torch.Tensor,
    mu: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    chain_start: torch.Tensor,
    chain_noise: torch.Tensor,
    **network_kwargs: Any,
) -> torch.Tensor:
    """The training state x_t as a sampler reaches it, against exposure bias.

    A row with ``chain_start`` s > t starts from the forward marginal at the later step s,
    x_s = m_s(x0) + sqrt(v_s) · chain_noise, asks the network for x̂0 there (no gradient, clamped as in sampling) and
    takes the posterior step s → t with that x̂0: x_t = μ + a (x_s − μ) + b (x̂0 − μ) + std · noise. With the true x0
    this is exactly a draw of the forward marginal q(x_t | x0); with the network's x̂0 it carries the network's own
    error, as x_t does in the reverse chain. Rows with ``chain_start`` 0 get the forward marginal
    m_t(x0) + sqrt(v_t) · noise. The extra call runs in eval mode, past a DDP wrapper (``.module``), so ranks may
    make different numbers of calls and no running statistics change.

    Args:
        scheduler: the SDE.
        network: the score network (called without gradient).
        original_samples: x0, shape (B, C, *spatial).
        mu: the degraded image.
        noise: standard normal noise of the last step (or of the marginal), shaped like x0.
        timesteps: t in 1..T, shape (B,).
        chain_start: s in t+1..T for chained rows, 0 for the others, shape (B,).
        chain_noise: standard normal noise of x_s, shaped like x0.
        network_kwargs: extra arguments of the network.

    Returns:
        x_t, shaped like x0.
    """
    state = scheduler.add_noise(original_samples, mu, noise, timesteps)
    rows = (chain_start > 0).nonzero().flatten()
    if rows.numel() == 0:
        return state
    if bool((chain_start[rows] <= timesteps[rows]).any()):
        raise D3GMInputError("chain_start must be 0 (no chain) or later than timesteps, row by row.")
    s, t = chain_start[rows], timesteps[rows]
    x0, m = original_samples[rows], mu[rows]
    start = scheduler.add_noise(x0, m, chain_noise[rows], s)
    batch = original_samples.shape[0]
    extra = {
        k: v[rows] if isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == batch else v
        for k, v in network_kwargs.items()
    }
    module = getattr(network, "module", network)  # past DDP's wrapper: ranks may make different numbers of calls
    training = getattr(module, "training", False)
    if training:
        module.eval()  # no running statistics or dropout from the extra call
    try:
        with torch.no_grad():
            x0_hat = scheduler.predict_original_sample(module(network_input(start, m), s, **extra), s, start, m)
    finally:
        if training:
            module.train()
    a, b, std = scheduler.posterior_coefficients(s, t, start)
    state[rows] = m + a * (start - m) + b * (x0_hat - m) + std * noise[rows]  # add_noise made a new tensor
    return state


class D3GMInferer(Inferer):
    """Runs a score network with a :class:`D3GMScheduler`, for training and for restoration.

    * ``inferer(x0, network, mu=mu, noise=noise, timesteps=t)`` noises x0 to x_t and returns the network's output at
      (cat([x_t − μ, μ]), t): the training prediction (pair it with :class:`monai_d3gm.engines.D3GMPrepareBatch`).
      With ``chain_start`` and ``chain_noise`` some rows start from the network's own posterior step instead
      (:func:`chain_state`).
    * ``inferer(y, network)`` treats ``y`` as the degraded image μ and returns the restored image (the whole reverse
      process, :meth:`sample`), so MONAI's ``SupervisedEvaluator`` and MONAI Label can use it unchanged.

    Args:
        scheduler: the SDE.
        num_inference_steps: default number of network evaluations (None: all T steps).
        sampler: default sampler ("sde", "ode", "posterior"); None uses the scheduler's.
        data_consistency: default data consistency ``dc(sample, timestep, noise_std) -> sample`` applied after every
            step (:class:`~monai_d3gm.physics.consistency.DataConsistency`).
        progress: show a tqdm progress bar while sampling.
        seed: when given, sampling through ``__call__`` draws its noise from a generator seeded with it, so the same
            input gives the same output.
        memory_guard: before sampling, estimate the memory the batch needs (:class:`~monai_d3gm.memory.MemoryGuard`)
            and raise :class:`~monai_d3gm.errors.InputTooLargeError` instead of starting what would not fit.
        memory_budget: bytes the guard allows; None: what the input's device has available.
    """

    def __init__(
        self,
        scheduler: D3GMScheduler,
        num_inference_steps: int | None = None,
        sampler: str | None = None,
        data_consistency: DataConsistency | None = None,
        progress: bool = True,
        seed: int | None = None,
        memory_guard: bool = True,
        memory_budget: int | None = None,
    ) -> None:
        super().__init__()
        self.scheduler = scheduler
        self.num_inference_steps = num_inference_steps
        self.sampler = sampler
        self.data_consistency = data_consistency
        self.progress = progress
        self.seed = seed
        self.memory_guard = MemoryGuard(budget=memory_budget) if memory_guard else None

    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: Callable[..., torch.Tensor],
        mu: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        timesteps: torch.Tensor | None = None,
        chain_start: torch.Tensor | None = None,
        chain_noise: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Training prediction when ``mu``, ``noise`` and ``timesteps`` are given, else restore ``inputs``.

        Args:
            inputs: x0 (training) or the degraded image μ (restoration), shape (B, C, *spatial).
            network: the score network, called as ``network(cat([x_t − μ, μ]), timesteps, **kwargs)``.
            mu: the degraded image (training only).
            noise: standard normal noise, shaped like ``inputs`` (training only).
            timesteps: integer steps in 1..T, shape (B,) (training only).
            chain_start: optional chain starts per row (training only, with ``chain_noise``): see :func:`chain_state`.
            chain_noise: the noise of the chain starts, shaped like ``inputs``.
            kwargs: extra arguments of the network (training) or of :meth:`sample` (restoration).
        """
        given = [name for name, value in (("mu", mu), ("noise", noise), ("timesteps", timesteps)) if value is not None]
        if not given:
            generator = None
            if self.seed is not None:
                generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
            return self.sample(inputs, network, generator=generator, **kwargs)
        if len(given) != 3:
            raise D3GMInputError(
                f"training needs mu, noise and timesteps together (got only {given}); "
                "to restore an image call inferer(degraded, network) without them."
            )
        for name, value in (("inputs", inputs), ("mu", mu), ("noise", noise), ("timesteps", timesteps)):
            if not isinstance(value, torch.Tensor):
                raise D3GMInputError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
        if inputs.ndim < 3 or not inputs.is_floating_point():
            raise D3GMInputError(
                f"inputs (x0) must be a real floating-point tensor of shape (B, C, *spatial), got {inputs.dtype} "
                f"{tuple(inputs.shape)}."
            )
        self.scheduler._check_timesteps(timesteps, low=1)
        if timesteps.ndim != 1 or timesteps.shape[0] != inputs.shape[0]:
            raise D3GMInputError(
                f"timesteps must have shape (B,) = ({inputs.shape[0]},), got {tuple(timesteps.shape)}."
            )
        if (chain_start is None) != (chain_noise is None):
            raise D3GMInputError(
                "chain_start and chain_noise go together; D3GMPrepareBatch(chain_prob=...) draws both."
            )
        if chain_start is None:
            noisy = self.scheduler.add_noise(inputs, mu, noise, timesteps)
        else:
            self.scheduler._check_timesteps(chain_start)
            if chain_start.shape != timesteps.shape or chain_noise.shape != inputs.shape:
                raise D3GMInputError(
                    f"chain_start must be shaped like timesteps {tuple(timesteps.shape)} and chain_noise like inputs "
                    f"{tuple(inputs.shape)}, got {tuple(chain_start.shape)} and {tuple(chain_noise.shape)}."
                )
            noisy = chain_state(
                self.scheduler, network, inputs, mu, noise, timesteps, chain_start, chain_noise, **kwargs
            )
        return network(network_input(noisy, mu), timesteps, **kwargs)

    @torch.no_grad()
    def sample(
        self,
        mu: torch.Tensor,
        network: Callable[..., torch.Tensor],
        num_inference_steps: int | None = None,
        sampler: str | None = None,
        generator: NoiseSource = None,
        data_consistency: DataConsistency | None = None,
        verbose: bool | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
        start: torch.Tensor | None = None,
        **network_kwargs: Any,
    ) -> torch.Tensor:
        """Restore ``mu`` by running the reverse process from x_T = μ + τλz down to x_0.

        Args:
            mu: the degraded image μ, shape (B, C, *spatial).
            network: the score network.
            num_inference_steps: network evaluations (a sub-sequence of the T steps); default all T.
            sampler: "sde", "ode" or "posterior"; default the inferer's, then the scheduler's.
            generator: source of the start's and the steps' noise (determinism): a ``torch.Generator``, or
                :class:`~monai_d3gm.networks.schedulers.ItemNoise` for per-item draws independent of the batch.
            data_consistency: ``dc(sample, timestep, noise_std) -> sample``, applied after each step with the step
                reached and the SDE's noise level there, sqrt(v_t) (0 at t = 0) (e.g. k-space replacement);
                None uses the inferer's default; the paper samples without it.
            verbose: show a progress bar (default: the inferer's ``progress``).
            callback: called after each step with a dict ``{"i", "t", "t_prev", "sample", "pred_original_sample"}``.
            start: the initial state x_T (default: a prior sample).
            network_kwargs: extra arguments passed to the network.

        Returns:
            the restored image x_0, shaped like ``mu``.

        Raises:
            D3GMInputError: ``mu`` is not (B, C, *spatial) or holds NaN/Inf.
            InputTooLargeError: the batch would not fit in the device's memory (see ``memory_guard``).
            NonFiniteSampleError: the state became NaN/Inf; the message gives the step and whether the network, the
                scheduler step or the data consistency produced it.
        """
        _check_restoration_input(mu, network)
        if self.memory_guard is not None:  # before anything allocates image-sized tensors
            self.memory_guard.check(network, mu.shape, mu.device)
        if not torch.isfinite(mu).all():
            raise D3GMInputError("mu (the degraded image) contains NaN or Inf values; clean or re-normalise the input.")
        scheduler = self.scheduler
        steps = num_inference_steps  # 0 or a negative count is refused by set_timesteps, not replaced by a default
        if steps is None:
            steps = self.num_inference_steps or scheduler.num_train_timesteps
        sampler = sampler or self.sampler
        dc = data_consistency if data_consistency is not None else self.data_consistency
        scheduler.set_timesteps(steps)
        pairs = list(zip(scheduler.timesteps.tolist(), [*scheduler.timesteps.tolist()[1:], 0]))

        if start is not None and (not isinstance(start, torch.Tensor) or start.shape != mu.shape):
            got = tuple(start.shape) if isinstance(start, torch.Tensor) else type(start).__name__
            raise D3GMInputError(
                f"start (the initial x_T) must be a tensor shaped like mu {tuple(mu.shape)}, got {got}."
            )
        sample = scheduler.prior_sample(mu, generator) if start is None else start.to(mu)
        t_batch = torch.empty(mu.shape[0], dtype=torch.long, device=mu.device)
        show = self.progress if verbose is None else verbose
        iterator = tqdm(pairs, desc="D3GM sampling", leave=False) if show and has_tqdm else pairs
        finite: list[torch.Tensor] = []
        check_each_step = callback is not None or mu.device.type == "cpu"  # no device to wait for, or a callback syncs
        for i, (t, t_prev) in enumerate(iterator):
            model_output = network(network_input(sample, mu), t_batch.fill_(t), **network_kwargs)
            sample, x0 = scheduler.step(model_output, t, sample, mu, generator, prev_timestep=t_prev, sampler=sampler)
            if dc is not None:
                sample = dc(sample, t_prev, float(scheduler.marginal_stds[t_prev]))
            if check_each_step:
                if not bool(torch.isfinite(sample).all()):
                    raise _non_finite(
                        i, len(pairs), (t, t_prev), bool(torch.isfinite(model_output).all()), dc is not None
                    )
            else:
                finite.append(torch.stack((torch.isfinite(sample).all(), torch.isfinite(model_output).all())))
            if callback is not None:
                callback({"i": i, "t": t, "t_prev": t_prev, "sample": sample, "pred_original_sample": x0})
        if not check_each_step:
            _check_finite(finite, pairs, dc is not None)
        return sample
