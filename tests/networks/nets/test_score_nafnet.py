# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.networks.blocks import ChannelSELayer

from monai_d3gm.networks.nets import ScoreNAFNet
from monai_d3gm.networks.nets.score_nafnet import ChannelLayerNorm, NAFBlock, SimpleGate

TINY = {"width": 8, "enc_blk_nums": (1, 1), "middle_blk_num": 1, "dec_blk_nums": (1, 1)}


def tiny_nafnet(image_channels: int = 3, spatial_dims: int = 2, seed: int = 0, **kwargs) -> ScoreNAFNet:
    torch.manual_seed(seed)
    args = {**TINY, **kwargs}
    return ScoreNAFNet(spatial_dims=spatial_dims, image_channels=image_channels, **args)


def perturb_block_scales(net: ScoreNAFNet) -> None:
    """beta / gamma are zero-initialised (every block starts as the identity): give them random values."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, NAFBlock):
                m.beta.normal_(0.0, 0.5)
                m.gamma.normal_(0.0, 0.5)


def test_structure():
    net = tiny_nafnet(image_channels=2, width=8, enc_blk_nums=(1, 2, 1), dec_blk_nums=(1, 1, 2))
    assert net.in_channels == 4 and net.out_channels == 2 and net.image_channels == 2
    assert net.size_multiple == 8 and net.time_embedding_dim == 32
    assert [len(e) for e in net.encoders] == [1, 2, 1] and [len(d) for d in net.decoders] == [1, 1, 2]
    assert [e[0].channels for e in net.encoders] == [8, 16, 32] and net.middle_blks[0].channels == 64
    assert [d[0].channels for d in net.decoders] == [32, 16, 8]
    blocks = [m for m in net.modules() if isinstance(m, NAFBlock)]
    assert len(blocks) == 4 + 1 + 4
    for blk in blocks:
        assert isinstance(blk.se, ChannelSELayer) and isinstance(blk.gate, SimpleGate)
        assert isinstance(blk.norm1, ChannelLayerNorm) and isinstance(blk.norm2, ChannelLayerNorm)
        assert torch.count_nonzero(blk.beta) == 0 and torch.count_nonzero(blk.gamma) == 0
    assert ScoreNAFNet(width=4, time_embedding_dim=10).time_embedding_dim == 10


@pytest.mark.parametrize("image_channels", [1, 3])
@pytest.mark.parametrize("size", [(37, 53), (230, 180), (64, 64), (3, 5), (1, 1)])
def test_output_shape_any_size(image_channels, size):
    net = tiny_nafnet(image_channels=image_channels)
    perturb_block_scales(net)
    x = torch.randn(2, 2 * image_channels, *size)
    with torch.no_grad():
        out = net(x, torch.tensor([0, 100]))
    assert out.shape == (2, image_channels, *size)
    assert torch.isfinite(out).all()


def test_deeper_network_odd_size():
    net = tiny_nafnet(width=4, enc_blk_nums=(1, 1, 1, 1), dec_blk_nums=(1, 1, 1, 1))
    assert net.size_multiple == 16
    with torch.no_grad():
        assert net(torch.randn(1, 6, 45, 31), torch.tensor([50])).shape == (1, 3, 45, 31)


def test_padding_modes():
    x = torch.randn(1, 6, 10, 7)
    for mode in ("reflect", "replicate", "constant"):
        with torch.no_grad():
            assert tiny_nafnet(padding_mode=mode)(x, torch.tensor([3])).shape == (1, 3, 10, 7)
    with pytest.raises(ValueError, match="padding_mode"):
        tiny_nafnet(padding_mode="wrap")


def test_timestep_dependence():
    net = tiny_nafnet()
    x = torch.randn(1, 6, 20, 20)
    with torch.no_grad():
        # every block is the identity at initialisation, so the timestep has no effect yet
        torch.testing.assert_close(net(x, torch.tensor([1])), net(x, torch.tensor([90])))
        perturb_block_scales(net)
        a = net(x, torch.tensor([1]))
        b = net(x, torch.tensor([90]))
        c = net(x, torch.tensor([1]))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, c)


def test_gradients_reach_all_parameters():
    net = tiny_nafnet(image_channels=2)
    x = torch.randn(2, 4, 21, 19)
    loss = net(x, torch.tensor([3, 60])).square().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    # zero-initialised residual scales still learn
    blk = net.middle_blks[0]
    assert blk.beta.grad.abs().sum() > 0 and blk.gamma.grad.abs().sum() > 0


def test_gradients_nonzero_after_perturbation():
    net = tiny_nafnet()
    perturb_block_scales(net)
    net(torch.randn(2, 6, 16, 16), torch.tensor([3, 60])).square().mean().backward()
    zero = [n for n, p in net.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, zero


@pytest.mark.parametrize("channels", [3, 5, 12])
def test_wrong_channels_raise(channels):
    net = tiny_nafnet(image_channels=3)
    with pytest.raises(ValueError, match=r"expects 6 input channels.*cat\(\[x_t - mu, mu\]"):
        net(torch.randn(1, channels, 8, 8), torch.tensor([1]))


def test_wrong_ndim_raises():
    net = tiny_nafnet()
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(6, 8, 8), torch.tensor([1]))
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(1, 6, 8, 8, 8), torch.tensor([1]))


def test_constructor_validation():
    with pytest.raises(ValueError, match="same length"):
        ScoreNAFNet(width=4, enc_blk_nums=(1, 1), dec_blk_nums=(1,))
    with pytest.raises(ValueError, match="spatial_dims"):
        ScoreNAFNet(spatial_dims=1, width=4)
    with pytest.raises(ValueError, match="image_channels"):
        ScoreNAFNet(image_channels=0, width=4)


def test_context_rejected():
    net = tiny_nafnet()
    x = torch.randn(1, 6, 8, 8)
    with torch.no_grad():
        assert net(x, torch.tensor([1]), context=None).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="concat"):
        net(x, torch.tensor([1]), context=torch.randn(1, 1, 4))


def test_determinism():
    x = torch.randn(1, 6, 17, 23)
    a, b = tiny_nafnet(seed=3), tiny_nafnet(seed=3)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb)
    perturb_block_scales(a)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(a(x, torch.tensor([9])), b(x, torch.tensor([9])))
    c = tiny_nafnet(seed=4)
    assert not torch.equal(a.intro.weight, c.intro.weight)


def test_config_parser():
    config = {"net": {"_target_": "monai_d3gm.networks.nets.ScoreNAFNet", "image_channels": 3, "width": 8}}
    net = ConfigParser(config).get_parsed_content("net")
    assert isinstance(net, ScoreNAFNet) and net.width == 8 and net.size_multiple == 16
    with torch.no_grad():
        assert net(torch.randn(1, 6, 11, 13), torch.tensor([2])).shape == (1, 3, 11, 13)


def test_3d_smoke():
    net = tiny_nafnet(image_channels=1, spatial_dims=3, width=4)
    perturb_block_scales(net)
    x = torch.randn(1, 2, 7, 9, 10)
    out = net(x, torch.tensor([4]))
    assert out.shape == (1, 1, 7, 9, 10)
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="dimensions"):
        net(torch.randn(1, 2, 8, 8), torch.tensor([1]))


def test_channel_layer_norm_is_per_pixel():
    torch.manual_seed(0)
    norm = ChannelLayerNorm(5)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 5, 9, 11)
    y = norm(x)
    # equals a LayerNorm over the channels of every pixel
    ref = F.layer_norm(x.movedim(1, -1), (5,), norm.weight, norm.bias, eps=norm.eps).movedim(-1, 1)
    torch.testing.assert_close(y, ref)
    # the fused modulation equals modulating the output
    scale, shift = torch.randn(2, 5, 1, 1), torch.randn(2, 5, 1, 1)
    torch.testing.assert_close(norm(x, scale, shift), y * (1 + scale) + shift)
    # changing all the other pixels leaves the output at pixel (4, 6) unchanged
    x2 = torch.randn_like(x) * 10 + 3
    x2[:, :, 4, 6] = x[:, :, 4, 6]
    torch.testing.assert_close(norm(x2)[:, :, 4, 6], y[:, :, 4, 6])
    assert not torch.allclose(norm(x2)[:, :, 0, 0], y[:, :, 0, 0])
    # 3-D: one voxel
    x3 = torch.randn(1, 5, 4, 5, 6)
    x4 = torch.randn_like(x3)
    x4[..., 1, 2, 3] = x3[..., 1, 2, 3]
    torch.testing.assert_close(norm(x4)[..., 1, 2, 3], norm(x3)[..., 1, 2, 3])


def test_tiled_inference_shape():
    """A 64x64 tile gives a 64x64 output like the whole image (values differ: the SE pools globally)."""
    net = tiny_nafnet()
    perturb_block_scales(net)
    image = torch.randn(1, 6, 100, 90)
    with torch.no_grad():
        whole = net(image, torch.tensor([10]))
        tile = net(image[:, :, 16:80, 16:80], torch.tensor([10]))
    assert whole.shape == (1, 3, 100, 90)
    assert tile.shape == (1, 3, 64, 64)
