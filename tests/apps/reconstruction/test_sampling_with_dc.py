# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""With a trained toy model, data consistency in the sampler keeps the measured k-space and does not lower PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.data import make_synthetic_pairs
from monai_d3gm.physics.consistency import HardDataConsistency
from monai_d3gm.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_d3gm.physics.masks import CartesianMask
from tests.utils import train_toy_score_network

SIZE = 32


def undersample(images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (B, 1, H, W) real → (x0 2-ch, zero-filled mu 2-ch, measured k-space (B, H, W)), normalised by max |mu|."""
    kspace = fft2c(images[:, 0].to(torch.complex64)) * mask
    mu = ifft2c(kspace)
    scale = mu.abs().amax(dim=(-2, -1), keepdim=True)
    x0 = complex_to_channels((images[:, 0] / scale)[:, None].to(torch.complex64))
    return x0, complex_to_channels((mu / scale)[:, None]), kspace / scale


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = channels_to_complex(a).abs(), channels_to_complex(b).abs()
    return float(10 * torch.log10(b.amax() ** 2 / ((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def toy_model():
    mask = CartesianMask("random", acceleration=4, center_fraction=0.16)((SIZE, SIZE), seed=1)
    train = torch.from_numpy(np.stack([p["image"] for p in make_synthetic_pairs(64, size=SIZE, seed=0)]))
    x_all, mu_all, _ = undersample(train, mask)
    net, inferer, _ = train_toy_score_network(x_all, mu_all, steps=200)
    return net, inferer, mask


@pytest.mark.parametrize("sampler", ["sde", "ode", "posterior"])
def test_hard_data_consistency_keeps_measurement_and_psnr(toy_model, sampler):
    net, inferer, mask = toy_model
    test = torch.from_numpy(np.stack([p["image"] for p in make_synthetic_pairs(6, size=SIZE, seed=1)]))
    x0, mu, kspace = undersample(test, mask)
    dc = HardDataConsistency(kspace, mask, generator=torch.Generator().manual_seed(1))
    kwargs = {"num_inference_steps": 20, "sampler": sampler}
    plain = inferer.sample(mu, net, generator=torch.Generator().manual_seed(0), **kwargs)
    with_dc = inferer.sample(mu, net, generator=torch.Generator().manual_seed(0), data_consistency=dc, **kwargs)
    measured = fft2c(channels_to_complex(with_dc)[:, 0])
    sampled = mask.bool().expand_as(measured)
    err = (measured[sampled] - kspace[sampled]).abs().max() / kspace.abs().max()
    assert float(err) < 1e-5
    assert psnr(with_dc, x0) >= psnr(plain, x0)
    assert psnr(with_dc, x0) > psnr(mu, x0)
