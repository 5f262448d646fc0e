# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Several posterior samples of one degraded image: the inferer every task's evaluator and restorer runs.

Their mean is a task's output and their pixel-wise standard deviation its uncertainty map. A MONAI
``SupervisedEvaluator`` calls it as ``inferer(mu, network, generator=..., data_consistency=...)`` with what the
prepare-batch of :mod:`monai_d3gm.engines.restoration` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer

from ..errors import D3GMInputError
from ..noise import NoiseSource
from ..physics.consistency import DataConsistency
from .d3gm_inferer import D3GMInferer

__all__ = ["PosteriorInferer"]


def _device_of(network: Callable[..., torch.Tensor], default: torch.Tensor) -> torch.device:
    """Where a module's parameters are; a plain callable (or a module without parameters) runs where ``default`` is."""
    parameters = network.parameters() if isinstance(network, torch.nn.Module) else iter(())
    return next(parameters, default).device


class PosteriorInferer(Inferer):
    """Draw ``num_samples`` samples of μ one after the other from one noise source, stacked on a new axis 1.

    Args:
        inferer: the D³GM inferer (its scheduler must match the network's training).
        num_inference_steps: network evaluations per sample.
        sampler: a sampler registered in ``Samplers`` ("sde", "ode", "posterior").
        num_samples: samples drawn, >= 1.
        tiling: restore images tile by tile (:class:`~monai_d3gm.apps.restoration.TiledRestoration`, or any
            ``tiling(image, restore) -> image``); the image is then kept in CPU memory and each tile goes to the
            network's device.
        clip: clamp each sample (each tile) to ``(low, high)``, e.g. (0, 1) for photos.
        error: the documented error raised on bad settings (a task's :class:`~monai_d3gm.errors.D3GMInputError`).
    """

    def __init__(
        self,
        inferer: D3GMInferer,
        num_inference_steps: int = 3,
        sampler: str = "posterior",
        num_samples: int = 1,
        tiling: Callable[[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]], torch.Tensor] | None = None,
        clip: tuple[float, float] | None = None,
        error: type[D3GMInputError] = D3GMInputError,
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise error(f"num_samples must be >= 1, got {num_samples}.")
        self.inferer = inferer
        self.num_inference_steps = num_inference_steps
        self.sampler = sampler
        self.num_samples = num_samples
        self.tiling = tiling
        self.clip = clip

    def sample(
        self,
        mu: torch.Tensor,
        network: Callable[..., torch.Tensor],
        generator: NoiseSource = None,
        data_consistency: DataConsistency | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """One posterior sample of ``mu`` (B, C, *spatial), shaped and placed like ``mu``.

        Args:
            mu: the degraded image.
            network: the score network.
            generator: the sampler's noise.
            data_consistency: applied after every step (:class:`~monai_d3gm.physics.consistency.DataConsistency`).
            kwargs: further arguments of :meth:`~monai_d3gm.inferers.D3GMInferer.sample` (``verbose``, ``callback``).
        """
        device = _device_of(network, mu)

        def restore(image: torch.Tensor) -> torch.Tensor:
            out = self.inferer.sample(
                image.to(device),
                network,
                num_inference_steps=self.num_inference_steps,
                sampler=self.sampler,
                generator=generator,
                data_consistency=data_consistency,
                **kwargs,
            )
            return (out if self.clip is None else out.clamp(*self.clip)).to(image.device)

        # tiled: the whole image stays in CPU memory, and only a tile at a time goes to the network's device
        return restore(mu) if self.tiling is None else self.tiling(mu.cpu(), restore)

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        inputs: torch.Tensor,
        network: Callable[..., torch.Tensor],
        generator: NoiseSource = None,
        data_consistency: DataConsistency | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``num_samples`` samples of ``inputs`` (μ, (B, C, *spatial)): (B, num_samples, C, *spatial).

        Args:
            inputs: the degraded image μ.
            network: the score network.
            generator: the sampler's noise, drawn from by one sample after the other.
            data_consistency: applied after every step.
            transform: applied to each sample before stacking (e.g. to the task's layout); default: to the CPU.
            kwargs: further arguments of :meth:`sample`.
        """
        if isinstance(network, torch.nn.Module):
            network.eval()
        samples = []
        for _ in range(self.num_samples):
            out = self.sample(inputs, network, generator, data_consistency, **kwargs)
            samples.append(out.cpu() if transform is None else transform(out))
        return torch.stack(samples, 1)
