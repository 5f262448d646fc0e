# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the three tasks' restorers share: the network and inferer, the sampler's settings and the posterior samples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import D3GMInputError
from ..inferers import D3GMInferer, PosteriorInferer
from ..noise import NoiseSource
from ..physics.consistency import DataConsistency

__all__ = ["PosteriorRestorer"]


def _delegated(name: str, doc: str) -> property:
    """A setting the restorer keeps in its :class:`~monai_d3gm.inferers.PosteriorInferer` (settable)."""

    def get(self: PosteriorRestorer) -> Any:
        return getattr(self.posterior, name)

    def set(self: PosteriorRestorer, value: Any) -> None:
        setattr(self.posterior, name, value)

    return property(get, set, doc=doc)


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
        tiling: restore tile by tile (see :class:`~monai_d3gm.inferers.PosteriorInferer`).
        clip: clamp each sample to ``(low, high)``.
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
        tiling: Callable[[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]], torch.Tensor] | None = None,
        clip: tuple[float, float] | None = None,
    ) -> None:
        self.network = network
        self.inferer = inferer
        self.posterior = PosteriorInferer(inferer, num_inference_steps, sampler, num_samples, tiling, clip, self.error)
        self.seed = seed
        self.device = torch.device(device)

    num_inference_steps = _delegated("num_inference_steps", "network evaluations per sample.")
    sampler = _delegated("sampler", "the sampler's name.")
    num_samples = _delegated("num_samples", "posterior samples drawn.")
    tiling = _delegated("tiling", "how images are split into tiles (None: restored whole).")

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
        return self.posterior.sample(mu, self.network, generator, data_consistency, **kwargs)

    def posterior_samples(
        self,
        mu: torch.Tensor,
        generator: NoiseSource,
        data_consistency: DataConsistency | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``num_samples`` samples of ``mu``, drawn one after the other from ``generator``, stacked on a new axis 1:
        (B, num_samples, ...) (:class:`~monai_d3gm.inferers.PosteriorInferer`, the evaluator's inferer).

        Args:
            mu: the degraded image (B, C, *spatial).
            generator: the sampler's noise.
            data_consistency: applied after every step.
            transform: applied to each sample before stacking (default: to the CPU).
            kwargs: further arguments of :meth:`sample`.
        """
        return self.posterior(mu, self.network, generator, data_consistency, transform, **kwargs)
