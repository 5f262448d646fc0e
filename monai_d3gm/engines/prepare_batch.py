# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Prepare-batch for MONAI's ``SupervisedTrainer``: draws the diffusion step and the noise of each sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.engines.utils import DiffusionPrepareBatch

from ..errors import D3GMInputError
from ..networks.schedulers import D3GMScheduler

__all__ = ["D3GMPrepareBatch"]


class D3GMPrepareBatch(DiffusionPrepareBatch):
    """Turns a batch ``{image_key: x0, mu_key: μ}`` into the D³GM training call.

    Returns ``(x0, target, (), {"mu": μ, "noise": z, "timesteps": t})`` with t uniform in 1..T and z ~ N(0, I); the
    target is the mapping ``{"x0", "mu", "noise", "timesteps"}`` that :class:`monai_d3gm.losses.D3GMLoss` consumes.
    Steps and noise come from a CPU generator seeded with ``seed``, so a seed gives the same draws on every device;
    its state is saved and restored with the checkpoint (``state_dict`` / ``load_state_dict``) so a resumed run
    draws what the uninterrupted run would have drawn.

    With ``chain_prob`` > 0, that share of the rows (those with t < T) also gets a chain start s, uniform in t+1..T,
    and the noise of x_s: the inferer then builds their x_t from the network's own posterior step s → t
    (:func:`monai_d3gm.inferers.chain_state`), so the network learns to correct the states the reverse chain
    actually visits, not only draws of the forward marginal (exposure bias). The target stays x0, so this needs an
    x0- or residual-predicting network. ``chain_prob`` 0 draws nothing more: the random stream is unchanged.

    Under DDP (``torch.distributed`` initialised, the same ``seed`` on every rank) each rank draws the steps and noise
    of the whole global batch and keeps rows ``rank::world_size``: the rows ``DistributedSampler`` gives it. A run
    on N processes with local batch B then draws exactly what one process with batch N·B draws (ranks must have equal
    local batch sizes: ``even_divisible`` sampling and ``drop_last``).

    Args:
        scheduler: the SDE.
        image_key: key of the clean image x0.
        mu_key: key of the degraded image μ (on the grid of x0).
        seed: seed of the generator; None draws from torch's global generator.
        chain_prob: share of the rows trained on chain states, in [0, 1].
    """

    def __init__(
        self,
        scheduler: D3GMScheduler,
        image_key: str = "image",
        mu_key: str = "mu",
        seed: int | None = 0,
        chain_prob: float = 0.0,
    ) -> None:
        super().__init__(num_train_timesteps=scheduler.num_train_timesteps)
        if not 0.0 <= float(chain_prob) <= 1.0:
            raise D3GMInputError(f"chain_prob is a probability in [0, 1], got {chain_prob!r}.")
        if chain_prob > 0 and scheduler.prediction_type == "epsilon":
            raise D3GMInputError(
                "chain_prob > 0 trains on chain states, whose noise is not the drawn one: use prediction_type "
                "'residual' or 'sample' (an x0 target), or chain_prob 0 for epsilon prediction."
            )
        self.scheduler = scheduler
        self.image_key = image_key
        self.mu_key = mu_key
        self.chain_prob = float(chain_prob)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    @staticmethod
    def _world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def get_noise(self, images: torch.Tensor) -> torch.Tensor:
        world, rank = self._world()
        shape = (images.shape[0] * world, *images.shape[1:])
        return torch.randn(shape, generator=self.generator, dtype=images.dtype)[rank::world].to(images.device)

    def get_timesteps(self, images: torch.Tensor) -> torch.Tensor:
        world, rank = self._world()
        t = torch.randint(1, self.num_train_timesteps + 1, (images.shape[0] * world,), generator=self.generator)
        return t[rank::world].to(images.device)

    def get_chain_starts(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Chain starts s ~ U{t+1..T} for a ``chain_prob`` share of the rows with t < T, 0 for the others.

        Draws for the global batch (like the steps), so DDP ranks agree with one process.
        """
        world, rank = self._world()
        n, big_t = timesteps.shape[0] * world, self.num_train_timesteps
        chained = torch.rand(n, generator=self.generator) < self.chain_prob
        offset = torch.rand(n, generator=self.generator)
        t = torch.zeros(n, dtype=torch.long)
        t[rank::world] = timesteps.cpu()  # the other ranks' rows only size the draws
        starts = t + 1 + (offset * (big_t - t)).long().clamp_max(big_t - t - 1).clamp_min(0)
        starts = torch.where(chained & (t < big_t), starts, torch.zeros_like(starts))
        return starts[rank::world].to(timesteps.device)

    def __call__(  # type: ignore[override]
        self,
        batchdata: Mapping[str, torch.Tensor],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], tuple, dict[str, torch.Tensor]]:
        if not isinstance(batchdata, Mapping) or self.image_key not in batchdata or self.mu_key not in batchdata:
            found = list(batchdata) if isinstance(batchdata, Mapping) else type(batchdata).__name__
            raise D3GMInputError(
                f"D3GMPrepareBatch needs a dict batch with keys {self.image_key!r} (clean x0) and {self.mu_key!r} "
                f"(degraded mu), got {found}."
            )
        x0 = torch.as_tensor(batchdata[self.image_key]).to(device, non_blocking=non_blocking, **kwargs)
        mu = torch.as_tensor(batchdata[self.mu_key]).to(device, non_blocking=non_blocking, **kwargs)
        if x0.shape != mu.shape:
            raise D3GMInputError(
                f"{self.image_key!r} {tuple(x0.shape)} and {self.mu_key!r} {tuple(mu.shape)} must have the same "
                "shape; resample mu onto the grid of the clean image."
            )
        noise = self.get_noise(x0)
        timesteps = self.get_timesteps(x0)
        target = {"x0": x0, "mu": mu, "noise": noise, "timesteps": timesteps}
        kwargs = {"mu": mu, "noise": noise, "timesteps": timesteps}
        if self.chain_prob > 0:
            kwargs["chain_start"] = target["chain_start"] = self.get_chain_starts(timesteps)
            kwargs["chain_noise"] = self.get_noise(x0)
        return x0, target, (), kwargs

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The generator's state (empty without a seed)."""
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore the generator's state saved by :meth:`state_dict`."""
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])
