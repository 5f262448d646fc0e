# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Per-item noise: an item's draws do not depend on its batch; equal seeds share one realisation."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.networks.schedulers import D3GMScheduler, ItemNoise
from monai_d3gm.noise import randn


def test_item_noise_is_independent_of_the_batch():
    alone = ItemNoise([7]).randn((1, 2, 5, 5), torch.float32, "cpu")
    batch = ItemNoise([3, 7, 9]).randn((3, 2, 5, 5), torch.float32, "cpu")
    torch.testing.assert_close(batch[1:2], alone)
    assert not torch.allclose(batch[0], batch[2])
    shared = ItemNoise([4, 4]).randn((2, 3), torch.float64, "cpu")
    torch.testing.assert_close(shared[0], shared[1])
    with pytest.raises(ValueError, match="one per item"):
        ItemNoise([1, 2]).randn((3, 4), torch.float32, "cpu")
    with pytest.raises(ValueError, match="one seed per batch item"):
        ItemNoise([])


def test_randn_sources_agree_with_torch():
    g = torch.Generator().manual_seed(5)
    torch.testing.assert_close(
        randn((2, 3), g, torch.float32, "cpu"), torch.randn((2, 3), generator=torch.Generator().manual_seed(5))
    )
    torch.testing.assert_close(
        ItemNoise([5]).randn((1, 2, 3), torch.float32, "cpu")[0],
        torch.randn((2, 3), generator=torch.Generator().manual_seed(5)),
    )
    assert randn((4,), None, torch.float32, "cpu").shape == (4,)


def test_sampling_with_item_noise_is_batch_invariant():
    sched = D3GMScheduler(prediction_type="residual")
    sched.set_timesteps(5)
    mu = torch.rand(3, 1, 8, 8)
    prior_all = sched.prior_sample(mu, ItemNoise([0, 1, 2]))
    prior_one = sched.prior_sample(mu[1:2], ItemNoise([1]))
    torch.testing.assert_close(prior_all[1:2], prior_one)
