# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A learning test: a tiny score network trained for a few hundred CPU steps restores a synthetic task.

The task: 32x32 images of discs, blurred (σ = 1.5) and noised (σ = 0.05), ~17 dB PSNR. The network must lower its
loss and every sampler's output must beat the degraded input in PSNR.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.data import make_synthetic_pairs
from tests.utils import train_toy_score_network

STEPS = 250


def stack(pairs, key):
    return torch.from_numpy(np.stack([p[key] for p in pairs]))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def trained():
    train = make_synthetic_pairs(64, size=32, seed=0)
    return train_toy_score_network(stack(train, "image"), stack(train, "mu"), STEPS, clip=(0.0, 1.0))


def test_loss_decreases(trained):
    _, _, losses = trained
    assert np.mean(losses[-25:]) < 0.5 * np.mean(losses[:25])


@pytest.mark.parametrize("sampler", ["sde", "ode", "posterior"])
def test_samples_beat_the_degraded_input(trained, sampler):
    net, inferer, _ = trained
    test = make_synthetic_pairs(8, size=32, seed=1)
    x0, mu = stack(test, "image"), stack(test, "mu")
    out = inferer.sample(mu, net, num_inference_steps=20, sampler=sampler, generator=torch.Generator().manual_seed(0))
    assert out.shape == mu.shape and torch.isfinite(out).all()
    assert psnr(out.clamp(0, 1), x0) > psnr(mu, x0) + 1.5, (psnr(out.clamp(0, 1), x0), psnr(mu, x0))
