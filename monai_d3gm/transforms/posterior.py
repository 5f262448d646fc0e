# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The mean and the spread of a case's posterior samples, as a postprocessing transform."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from .utils import checked_copy, init_keys

__all__ = ["PosteriorMeand"]


class PosteriorMeand(MapTransform):
    """The samples of one case (``data[key]``, (1, N, ...), :class:`~monai_d3gm.inferers.PosteriorInferer`'s output)
    → their mean under ``mean_key`` and, for N > 1, their pixel-wise standard deviation under ``std_key`` (else
    None), as float32 arrays.

    Args:
        keys: the samples' key (the evaluator's prediction).
        mean_key: where the mean (the task's output) goes.
        std_key: where the standard deviation (the uncertainty map) goes.
    """

    def __init__(self, keys: KeysCollection = "pred", mean_key: str = "output", std_key: str = "std") -> None:
        init_keys(self, keys)
        self.mean_key, self.std_key = mean_key, std_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            stack = torch.as_tensor(d[key])[0]  # the batch of one case
            d[self.mean_key] = stack.mean(0).numpy().astype(np.float32, copy=False)
            d[self.std_key] = stack.std(0).numpy().astype(np.float32, copy=False) if stack.shape[0] > 1 else None
        return d
