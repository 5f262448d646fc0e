# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""SeededDataset: an item's augmentation depends on (seed, epoch, index) only, not on workers or processes."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, RandGaussianNoised, RandSpatialCropd

from monai_d3gm.data import SeededDataset
from monai_d3gm.engines import D3GMPrepareBatch
from monai_d3gm.networks.schedulers import D3GMScheduler


def _dataset(seed: int = 0) -> SeededDataset:
    items = [{"image": np.random.RandomState(i).rand(1, 16, 16).astype(np.float32)} for i in range(6)]
    chain = Compose([RandSpatialCropd("image", (8, 8), random_size=False), RandGaussianNoised("image", prob=1.0)])
    return SeededDataset(Dataset(items, transform=chain), seed=seed)


def _epoch(ds: SeededDataset, num_workers: int, order=None) -> dict[int, np.ndarray]:
    order = list(range(len(ds))) if order is None else order
    loader = DataLoader(torch.utils.data.Subset(ds, order), batch_size=2, num_workers=num_workers)
    images = torch.cat([b["image"] for b in loader]).numpy()
    return dict(zip(order, images))


def test_items_do_not_depend_on_order_or_workers():
    ds = _dataset()
    ds.set_epoch(1)
    forward = _epoch(ds, 0)
    backward = _epoch(ds, 2, order=[5, 3, 1, 4, 2, 0])  # other order, other processes
    for i in range(6):
        np.testing.assert_array_equal(forward[i], backward[i])
    ds.set_epoch(2)
    again = _epoch(ds, 0)
    assert not np.array_equal(again[0], forward[0])  # a new augmentation each epoch
    other_seed = _dataset(seed=1)
    other_seed.set_epoch(1)
    assert not np.array_equal(_epoch(other_seed, 0)[0], forward[0])


def test_prepare_batch_ranks_draw_their_rows_of_the_global_batch(monkeypatch):
    sched = D3GMScheduler()
    x = torch.rand(4, 1, 8, 8)
    global_ = D3GMPrepareBatch(sched, "image", "mu", seed=3)({"image": x, "mu": x})
    for rank in (0, 1):
        monkeypatch.setattr(D3GMPrepareBatch, "_world", staticmethod(lambda r=rank: (2, r)))
        local = D3GMPrepareBatch(sched, "image", "mu", seed=3)({"image": x[rank::2], "mu": x[rank::2]})
        torch.testing.assert_close(local[3]["noise"], global_[3]["noise"][rank::2])
        torch.testing.assert_close(local[3]["timesteps"], global_[3]["timesteps"][rank::2])
