# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Where the sampler's Gaussian noise comes from: torch's global generator, one ``torch.Generator`` for the whole
batch, or :class:`ItemNoise`, one generator per batch item.

With one generator per item, an item's noise does not depend on which other items share its batch: slice 17 of a
volume gets the same draws whether it is restored alone or in a batch of 8, so the batch size changes speed, not
results. Giving every item the same seed shares one noise realisation between them (the through-plane consistency
option of volume restoration).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import D3GMInputError

__all__ = ["ItemNoise", "NoiseSource", "randn"]


class ItemNoise:
    """One generator per batch item; item i draws from ``torch.Generator(device).manual_seed(seeds[i])``.

    Args:
        seeds: one seed per batch item (equal seeds give equal noise).
        device: device of the generators (CPU generators give the same numbers on every machine).
    """

    def __init__(self, seeds: Sequence[int], device: str | torch.device = "cpu") -> None:
        if len(seeds) == 0:
            raise D3GMInputError("ItemNoise needs one seed per batch item, got none.")
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        self.generators = [torch.Generator(device=self.device).manual_seed(s) for s in self.seeds]

    def __len__(self) -> int:
        return len(self.generators)

    def randn(self, shape: Sequence[int], dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """Standard normal noise of ``shape`` = (B, ...) with B = the number of items; row i from generator i."""
        shape = tuple(shape)
        if shape[0] != len(self.generators):
            raise D3GMInputError(
                f"ItemNoise holds {len(self.generators)} generators (one per item) but the batch has {shape[0]} items; "
                "build it with one seed per item of the batch."
            )
        rows = [torch.randn(shape[1:], generator=g, dtype=dtype, device=self.device) for g in self.generators]
        return torch.stack(rows).to(device)


NoiseSource = torch.Generator | ItemNoise | None


def randn(shape: Sequence[int], generator: NoiseSource, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device`` from ``generator`` (see the module docstring).

    A ``torch.Generator`` draws on its own device, so a seed gives the same noise wherever the result goes.
    """
    if generator is None:
        return torch.randn(tuple(shape), dtype=dtype, device=device)
    if isinstance(generator, ItemNoise):
        return generator.randn(shape, dtype, device)
    return torch.randn(tuple(shape), generator=generator, dtype=dtype, device=generator.device).to(device)
