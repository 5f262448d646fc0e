# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the three tasks' restorers share: the network and inferer, the sampler's settings and the posterior samples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import D3GMInputError
from ..inferers import D3GMInferer
from ..noise import NoiseSource
from ..physics.consistency import DataConsistency

__all__ = ["PosteriorRestorer"]


class PosteriorRestorer:
    """Base of the tasks' restorers (:class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor`,
    :class:`~monai_d3gm.apps.super_resolution.D3GMSuperResolver`,
    :class:`~monai_d3gm.apps.restoration.D3GMImageRestorer`): draws ``num_samples`` posterior samples of μ with the
    inferer; their mean is a task's output and their standard deviation its uncertainty map.

    Args:
        network: the score network.
        inferer: the D³GM inferer (its scheduler must match the network's training).
        num_inference_steps: network evaluations per sample.
        sampler: a sampler registered in ``Samplers`` ("sde", "ode", "posterior").
        num_samples: posterior samples drawn, >= 1.
        seed: seed of the sampler's noise (the same input and seed give the same output).
        device: where the network runs.
    """

    #: the documented error a task raises on bad settings
    error: type[D3GMInputError] = D3GMInputError

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: D3GMInferer,
        num_inference_steps: int = 3,
        sampler: str = "posterior",
        num_samples: int = 1,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if num_samples < 1:
            raise self.error(f"num_samples must be >= 1, got {num_samples}.")
        self.network = network
        self.inferer = inferer
        self.num_inference_steps = num_inference_steps
        self.sampler = sampler
        self.num_samples = num_samples
        self.seed = seed
        self.device = torch.device(device)

    def sample(
        self,
        mu: torch.Tensor,
        generator: NoiseSource,
        data_consistency: DataConsistency | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """One posterior sample of ``mu`` (B, C, *spatial) with this restorer's sampler and number of steps.

        Args:
            mu: the degraded image, on the network's device.
            generator: the sampler's noise.
            data_consistency: applied after every step (:class:`~monai_d3gm.physics.consistency.DataConsistency`).
            kwargs: further arguments of :meth:`~monai_d3gm.inferers.D3GMInferer.sample` (``verbose``, ``callback``).
        """
        self.network.eval()
        return self.inferer.sample(
            mu,
            self.network,
            num_inference_steps=self.num_inference_steps,
            sampler=self.sampler,
            generator=generator,
            data_consistency=data_consistency,
            **kwargs,
        )

    def posterior_samples(
        self,
        mu: torch.Tensor,
        generator: NoiseSource,
        data_consistency: DataConsistency | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``num_samples`` samples of ``mu``, drawn one after the other from ``generator``, stacked on a new axis 1:
        (B, num_samples, ...).

        Args:
            mu: the degraded image (B, C, *spatial).
            generator: the sampler's noise.
            data_consistency: applied after every step.
            transform: applied to each sample before stacking (e.g. to the task's image layout, on the CPU).
            kwargs: further arguments of :meth:`sample`.
        """
        samples = []
        for _ in range(self.num_samples):
            out = self.sample(mu, generator, data_consistency, **kwargs)
            samples.append(out if transform is None else transform(out))
        return torch.stack(samples, 1)
