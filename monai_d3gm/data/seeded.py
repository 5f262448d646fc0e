# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A dataset whose random augmentation depends on (seed, epoch, index) only.

MONAI's random transforms draw from one random state per transform chain, so which augmentation a sample gets
depends on the samples drawn before it: on the number of data-loader workers and, under DDP, on how the samples are
split between the processes. :class:`SeededDataset` re-seeds the chain before every item from
``SeedSequence([seed, epoch, index])``, so sample ``index`` of epoch ``e`` is augmented the same way whether one
process or eight load it, with any number of workers. With the per-item diffusion noise of
:class:`~monai_d3gm.engines.D3GMPrepareBatch` this makes a DDP run reproduce the single-process loss curve of the same
global batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from monai.transforms import Randomizable
from monai.utils import optional_import
from torch.utils.data import Dataset

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["SeededDataset"]


class SeededDataset(Dataset):
    """Wrap a MONAI ``Dataset`` (anything with a ``transform`` attribute) so that each item is augmented from its own
    seed.

    Args:
        data: the dataset; its ``transform`` is re-seeded before each item (nothing happens if it is not random).
        seed: base seed.
    """

    def __init__(self, data: Any, seed: int = 0) -> None:
        self.data = data
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.data)

    def set_epoch(self, epoch: int) -> None:
        """Use the seeds of ``epoch`` from now on (a new augmentation of every sample each epoch)."""
        self.epoch = int(epoch)

    def attach(self, engine) -> None:
        """Follow ``engine``'s epoch (set at every ``EPOCH_STARTED``, before the data loader's workers start)."""
        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: self.set_epoch(e.state.epoch))

    def item_seed(self, index: int) -> int:
        """The seed of item ``index`` in the current epoch."""
        return int(np.random.SeedSequence([self.seed, self.epoch, int(index)]).generate_state(1)[0])

    def __getitem__(self, index: int) -> Any:
        transform = getattr(self.data, "transform", None)
        if isinstance(transform, Randomizable):
            transform.set_random_state(seed=self.item_seed(index))
        return self.data[index]
