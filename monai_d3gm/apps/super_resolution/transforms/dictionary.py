# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Dictionary transforms of the super-resolution chain."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from ....errors import D3GMInputError
from ....transforms.utils import checked_copy, init_keys
from .array import SimulateLowResolution

__all__ = ["SimulateLowResolutiond"]


class SimulateLowResolutiond(Randomizable, MapTransform):
    """Dictionary version of :class:`SimulateLowResolution`: ``data[key]`` (HR slice) -> ``data[mu_key]`` (μ, the LR
    image on the HR grid) and ``data[target_key]`` (the HR slice, cropped to a multiple of ``scale``).

    Args:
        keys: the HR image key (one key).
        scale, degradation, sigma, noise_std: see :class:`SimulateLowResolution`.
        mu_key: where μ goes.
        target_key: where the (cropped) HR target goes.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        scale: int = 4,
        degradation: str = "kspace",
        sigma: float | Sequence[float] = 1.5,
        mu_key: str = "mu",
        target_key: str = "target",
        allow_missing_keys: bool = False,
        noise_std: float | Sequence[float] = 0.0,
    ) -> None:
        init_keys(self, keys, allow_missing_keys, D3GMInputError)
        if len(self.keys) != 1:
            raise D3GMInputError(f"SimulateLowResolutiond takes one image key, got {self.keys}.")
        self.simulate = SimulateLowResolution(scale, degradation, sigma, noise_std)
        self.mu_key, self.target_key = mu_key, target_key

    def set_random_state(self, seed: int | None = None, state=None) -> SimulateLowResolutiond:
        super().set_random_state(seed, state)
        self.simulate.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.simulate.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data, error=D3GMInputError)
        for key in self.key_iterator(d):
            d[self.mu_key], d[self.target_key] = self.simulate(d[key])
        return d
