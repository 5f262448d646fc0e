# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import monai.networks.nets.diffusion_model_unet as diffusion_model_unet
import pytest
import torch
from monai.bundle import ConfigParser
from monai.networks.blocks import SpatialAttentionBlock
from monai.networks.nets import DiffusionModelUNet

from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.nets.score_unet import ResnetMidBlock, crop_spatial, pad_to_multiple

TINY = {"channels": (8, 16, 16), "norm_num_groups": 8}


def tiny_unet(image_channels: int = 1, spatial_dims: int = 2, seed: int = 0, **kwargs) -> ScoreUNet:
    torch.manual_seed(seed)
    args = {**TINY, **kwargs}
    return ScoreUNet(spatial_dims=spatial_dims, image_channels=image_channels, **args)


def randomise_zero_init(net: ScoreUNet) -> None:
    """DiffusionModelUNet zero-initialises the last convolution of every residual block and of the output: give them
    random weights (as after some training)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and torch.count_nonzero(m.weight) == 0:
                m.weight.normal_(0.0, 0.1)
                m.bias.normal_(0.0, 0.1)


def test_is_diffusion_model_unet_with_image_channels():
    net = tiny_unet(image_channels=2)
    assert isinstance(net, DiffusionModelUNet)
    assert net.image_channels == 2 and net.in_channels == 4 and net.out_channels == 2
    assert net.size_multiple == 4
    assert net.with_conditioning is False


def test_default_configuration_has_no_attention():
    net = ScoreUNet()
    assert tuple(net.block_out_channels) == (32, 64, 64)
    assert isinstance(net.middle_block, ResnetMidBlock)
    assert not any(isinstance(m, SpatialAttentionBlock) for m in net.modules())
    assert not any("attn" in name or "attention" in name for name, _ in net.named_modules())


def test_mid_block_attention_optional():
    net = tiny_unet(mid_block_attention=True)
    assert isinstance(net.middle_block, diffusion_model_unet.AttnMidBlock)
    assert net(torch.randn(1, 2, 13, 9), torch.tensor([5])).shape == (1, 1, 13, 9)


@pytest.mark.parametrize("image_channels", [1, 2])
@pytest.mark.parametrize("size", [(37, 53), (230, 180), (64, 64), (3, 5), (1, 1)])
def test_output_shape_any_size(image_channels, size):
    net = tiny_unet(image_channels=image_channels)
    x = torch.randn(2, 2 * image_channels, *size)
    with torch.no_grad():
        out = net(x, torch.tensor([0, 100]))
    assert out.shape == (2, image_channels, *size)


def test_padding_modes():
    x = torch.randn(1, 2, 10, 7)
    for mode in ("reflect", "replicate", "constant"):
        net = tiny_unet(padding_mode=mode)
        with torch.no_grad():
            assert net(x, torch.tensor([3])).shape == (1, 1, 10, 7)
    with pytest.raises(ValueError, match="padding_mode"):
        tiny_unet(padding_mode="circular-ish")


def test_pad_and_crop_helpers():
    x = torch.randn(2, 3, 37, 53)
    padded, spatial = pad_to_multiple(x, 8)
    assert padded.shape == (2, 3, 40, 56) and spatial == (37, 53)
    # padding at the end only: the original pixels keep their position
    torch.testing.assert_close(padded[:, :, :37, :53], x)
    torch.testing.assert_close(crop_spatial(padded, spatial), x)
    # reflect is impossible for a too small dimension: falls back to replicate
    small, spatial = pad_to_multiple(torch.randn(1, 1, 3, 2, 2), 8)
    assert small.shape == (1, 1, 8, 8, 8) and spatial == (3, 2, 2)
    same, _ = pad_to_multiple(x[:, :, :32, :48], 16)
    assert same.shape == (2, 3, 32, 48)


def test_timestep_dependence():
    net = tiny_unet()
    x = torch.randn(1, 2, 20, 20)
    with torch.no_grad():
        # untrained: zero-initialised output convolution
        assert torch.count_nonzero(net(x, torch.tensor([5]))) == 0
        randomise_zero_init(net)
        a = net(x, torch.tensor([1]))
        b = net(x, torch.tensor([90]))
        c = net(x, torch.tensor([1]))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, c)


def test_gradients_reach_all_parameters():
    net = tiny_unet(image_channels=2)
    randomise_zero_init(net)
    x = torch.randn(2, 4, 21, 19)
    loss = net(x, torch.tensor([3, 60])).square().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.conv_in.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_wrong_channels_raise(channels):
    net = tiny_unet(image_channels=1)
    with pytest.raises(ValueError, match=r"expects 2 input channels.*cat\(\[x_t - mu, mu\]"):
        net(torch.randn(1, channels, 8, 8), torch.tensor([1]))


def test_wrong_ndim_raises():
    net = tiny_unet(image_channels=2)
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(4, 8, 8), torch.tensor([1]))
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(1, 4, 8, 8, 8), torch.tensor([1]))


def test_constructor_validation():
    with pytest.raises(ValueError, match="in_channels"):
        ScoreUNet(in_channels=3, **TINY)
    with pytest.raises(ValueError, match="image_channels"):
        ScoreUNet(image_channels=0, **TINY)
    with pytest.raises(ValueError):  # MONAI: channels not multiple of norm_num_groups
        ScoreUNet(channels=(8, 12, 16), norm_num_groups=8)


def test_determinism():
    x = torch.randn(1, 2, 17, 23)
    a, b = tiny_unet(seed=3), tiny_unet(seed=3)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb)
    randomise_zero_init(a)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(a(x, torch.tensor([9])), b(x, torch.tensor([9])))
    c = tiny_unet(seed=4)
    assert not torch.equal(a.conv_in.conv.weight, c.conv_in.conv.weight)


def test_config_parser():
    config = {
        "net": {
            "_target_": "monai_d3gm.networks.nets.ScoreUNet",
            "image_channels": 2,
            "channels": [8, 16, 16],
            "norm_num_groups": 8,
        }
    }
    net = ConfigParser(config).get_parsed_content("net")
    assert isinstance(net, ScoreUNet) and net.image_channels == 2
    with torch.no_grad():
        assert net(torch.randn(1, 4, 11, 13), torch.tensor([2])).shape == (1, 2, 11, 13)


def test_3d_smoke():
    net = tiny_unet(image_channels=1, spatial_dims=3)
    randomise_zero_init(net)
    x = torch.randn(1, 2, 7, 9, 10)
    out = net(x, torch.tensor([4]))
    assert out.shape == (1, 1, 7, 9, 10)
    out.mean().backward()
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(1, 2, 8, 8), torch.tensor([1]))
