# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""D³GM restoration of one RGB photo (deraining, dehazing), tile by tile when it is large."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import ImageInputError
from ...inferers import D3GMInferer
from ..restorer import PosteriorRestorer
from .tiling import TiledRestoration
from .transforms import check_photo

__all__ = ["D3GMImageRestorer", "photo_result"]


class D3GMImageRestorer(PosteriorRestorer):
    """Restore a ``(3, H, W)`` photo in [0, 1]: μ is the photo, the chain runs per tile, tiles are blended.

    Args:
        network: the score network (3 image channels).
        inferer: the D³GM inferer (its scheduler must match the network's training).
        tiling: how large photos are split (default: 256-pixel tiles with 25 % overlap).
        num_inference_steps: network evaluations per sample.
        sampler: "sde", "ode" or "posterior".
        num_samples: samples drawn; their mean is the output and their standard deviation the uncertainty map.
        seed: seed of the sampler's noise (the same photo and seed give the same output).
        device: where the network runs; the whole photo stays in CPU memory.
    """

    error = ImageInputError

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: D3GMInferer,
        tiling: TiledRestoration | None = None,
        num_inference_steps: int = 3,
        sampler: str = "posterior",
        num_samples: int = 1,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        tiling = tiling or TiledRestoration()
        super().__init__(network, inferer, num_inference_steps, sampler, num_samples, seed, device, tiling, (0.0, 1.0))

    @torch.no_grad()
    def __call__(self, image: Any) -> dict[str, Any]:
        """Restore one photo.

        Args:
            image: ``(3, H, W)`` float in [0, 1] (numpy or torch).

        Returns:
            ``{"output": (3, H, W) float32 numpy in [0, 1], "std": (3, H, W) or None}``.
        """
        return photo_result(self._samples(image))

    @torch.no_grad()
    def restore_subsets(self, image: Any, sample_counts: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Restore a photo once with ``num_samples`` samples and give, for each n of ``sample_counts``, the result of
        the first n of them: what ``num_samples=n`` with the same seed returns (the samples are drawn one after the
        other), for calibrating the spread of several sample counts in one run.

        Raises:
            ImageInputError: a count above ``num_samples``.
        """
        if max(sample_counts) > self.num_samples:
            raise ImageInputError(f"sample counts {list(sample_counts)} need num_samples >= {max(sample_counts)}.")
        samples = self._samples(image)
        return {int(n): photo_result(samples[:n]) for n in sample_counts}

    def _samples(self, image: Any) -> torch.Tensor:
        """The posterior samples (num_samples, 3, H, W) of a photo."""
        mu = check_photo(image)
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self.posterior_samples(mu[None], generator, verbose=False)[0]


def photo_result(samples: torch.Tensor) -> dict[str, Any]:
    """``{"output", "std"}`` of posterior samples (N, 3, H, W): their mean and, for N > 1, their spread."""
    return {
        "output": samples.mean(0).numpy(),
        "std": samples.std(0).numpy() if samples.shape[0] > 1 else None,
    }
