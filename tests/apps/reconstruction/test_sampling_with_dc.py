# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""With a trained toy model, data consistency in the sampler keeps the measured k-space and does not lower PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.utils import set_determinism

from monai_d3gm.apps.reconstruction.data_consistency import HardDataConsistency
from monai_d3gm.apps.reconstruction.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_d3gm.apps.reconstruction.masks import CartesianMask
from monai_d3gm.data import make_synthetic_pairs
from monai_d3gm.engines import D3GMPrepareBatch
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.losses import D3GMLoss
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler

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
    set_determinism(seed=0)
    mask = CartesianMask("random", acceleration=4, center_fraction=0.16)((SIZE, SIZE), seed=1)
    train = torch.from_numpy(np.stack([p["image"] for p in make_synthetic_pairs(64, size=SIZE, seed=0)]))
    x_all, mu_all, _ = undersample(train, mask)
    sched = D3GMScheduler(tau=2.0, prediction_type="residual")
    net = ScoreUNet(image_channels=2, channels=(16, 32), attention_levels=(False, False), norm_num_groups=8)
    inferer, prepare, loss_fn = D3GMInferer(sched, progress=False), D3GMPrepareBatch(sched, seed=0), D3GMLoss(sched)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(train), (16,), generator=g)
        x0, target, _, kwargs = prepare({"image": x_all[idx], "mu": mu_all[idx]})
        loss = loss_fn(inferer(x0, net, **kwargs), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    set_determinism(seed=None)
    return net.eval(), inferer, mask


@pytest.mark.parametrize("sampler", ["sde", "ode", "posterior"])
def test_hard_data_consistency_keeps_measurement_and_psnr(toy_model, sampler):
    net, inferer, mask = toy_model
    test = torch.from_numpy(np.stack([p["image"] for p in make_synthetic_pairs(6, size=SIZE, seed=1)]))
    x0, mu, kspace = undersample(test, mask)
    dc = HardDataConsistency(kspace, mask, scheduler=inferer.scheduler, generator=torch.Generator().manual_seed(1))
    kwargs = {"num_inference_steps": 20, "sampler": sampler}
    plain = inferer.sample(mu, net, generator=torch.Generator().manual_seed(0), **kwargs)
    with_dc = inferer.sample(mu, net, generator=torch.Generator().manual_seed(0), data_consistency=dc, **kwargs)
    measured = fft2c(channels_to_complex(with_dc)[:, 0])
    sampled = mask.bool().expand_as(measured)
    err = (measured[sampled] - kspace[sampled]).abs().max() / kspace.abs().max()
    assert float(err) < 1e-5
    assert psnr(with_dc, x0) >= psnr(plain, x0)
    assert psnr(with_dc, x0) > psnr(mu, x0)
