# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What both score networks must do alike: timestep handling, and running under MONAI's DiffusionInferer."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import DDPMScheduler

from .test_score_nafnet import perturb_block_scales, tiny_nafnet
from .test_score_unet import randomise_zero_init, tiny_unet


def unet() -> torch.nn.Module:
    net = tiny_unet(image_channels=1)
    randomise_zero_init(net)
    return net


def nafnet() -> torch.nn.Module:
    net = tiny_nafnet(image_channels=3)
    perturb_block_scales(net)
    return net


@pytest.mark.parametrize("make_net", [unet, nafnet])
def test_diffusion_inferer_concat(make_net):
    """MONAI's SGM conditioned by concatenation ([x_t, mu]) trains and samples with the score networks."""
    torch.manual_seed(0)
    net = make_net()
    channels = net.image_channels
    scheduler = DDPMScheduler(num_train_timesteps=100)
    inferer = DiffusionInferer(scheduler)
    image, condition = torch.randn(2, channels, 19, 26), torch.randn(2, channels, 19, 26)
    noise = torch.randn_like(image)
    timesteps = torch.randint(0, 100, (2,))
    pred = inferer(
        inputs=image, diffusion_model=net, noise=noise, timesteps=timesteps, condition=condition, mode="concat"
    )
    assert pred.shape == image.shape
    pred.mean().backward()
    scheduler.set_timesteps(num_inference_steps=3)
    sample = inferer.sample(noise, net, scheduler, conditioning=condition, mode="concat", verbose=False)
    assert sample.shape == image.shape and torch.isfinite(sample).all()


@pytest.mark.parametrize("make_net", [unet, nafnet])
def test_timesteps_broadcast_and_validation(make_net):
    net = make_net()
    x = torch.randn(3, 2 * net.image_channels, 12, 12)
    with torch.no_grad():
        full = net(x, torch.tensor([7, 7, 7]))
        torch.testing.assert_close(net(x, torch.tensor([7])), full)
        torch.testing.assert_close(net(x, torch.tensor(7)), full)
        torch.testing.assert_close(net(x, 7), full)
        torch.testing.assert_close(net(x, torch.tensor([7.0])), full)
        # a batch of different timesteps: each sample gets its own
        mixed = net(x, torch.tensor([7, 80, 7]))
        torch.testing.assert_close(mixed[[0, 2]], full[[0, 2]])
        assert not torch.allclose(mixed[1], full[1])
    with pytest.raises(ValueError, match="timesteps"):
        net(x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="timesteps"):
        net(x, torch.ones(3, 1))
