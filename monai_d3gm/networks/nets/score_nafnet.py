# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

"""
Conditional score NAFNet: the NAFNet of Chen et al., "Simple Baselines for Image Restoration" (ECCV 2022,
https://arxiv.org/abs/2204.04676) with timestep conditioning (as in the conditional NAFNet of IR-SDE, Luo et al. 2023,
https://arxiv.org/abs/2301.11699), and squeeze-and-excitation in place of NAFNet's simplified channel attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.blocks import ChannelSELayer
from monai.networks.layers import Conv
from monai.networks.nets.diffusion_model_unet import get_timestep_embedding
from monai.networks.utils import pixelshuffle

from monai_d3gm.networks.nets.score_unet import check_score_input, crop_spatial, pad_to_multiple

from ...errors import D3GMInputError

__all__ = ["ScoreNAFNet", "NAFBlock", "ChannelLayerNorm", "SimpleGate", "PixelShuffleUpsample"]


class ChannelLayerNorm(nn.Module):
    """
    Layer normalisation over the channel dimension only, independently at every pixel / voxel, with a learnable
    per-channel weight and bias.

    Unlike ``GroupNorm(1, C)`` (which normalises over channels *and* space), the output at one pixel only depends on
    the input at that pixel, so the normalisation is the same whether an image is processed whole or in tiles.

    Args:
        num_channels: number of channels.
        eps: added to the variance for numerical stability.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(
        self, x: torch.Tensor, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            x: tensor of shape (B, C, *spatial).
            scale: optional modulation, broadcastable to (B, C, 1, ...): the output is multiplied by ``1 + scale``.
            shift: optional modulation, broadcastable to (B, C, 1, ...), added to the output (after ``scale``).

        Returns:
            ``layer_norm(x) * (1 + scale) + shift``; the affine parameters are folded into the modulation, so both
            are applied by one fused multiply-add.
        """
        shape = (1, self.num_channels) + (1,) * (x.ndim - 2)
        weight, bias = self.weight.view(shape), self.bias.view(shape)
        if scale is not None:
            weight, bias = weight * (1 + scale), bias * (1 + scale)
        if shift is not None:
            bias = bias + shift
        # mean, then mean of squared deviations: much faster on CPU than torch.var_mean over the channel dimension
        centred = x - x.mean(dim=1, keepdim=True)
        inv_std = torch.rsqrt(centred.square().mean(dim=1, keepdim=True) + self.eps)
        return torch.addcmul(bias, centred * inv_std, weight)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}"


class SimpleGate(nn.Module):
    """NAFNet's simple gate: split the channels in two halves and multiply them (a GLU without non-linearity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """
    Timestep-conditioned NAFNet block with squeeze-and-excitation.

    Spatial half: channel layer norm -> time modulation -> 1x1 conv (c -> 2c) -> 3x3 depth-wise conv -> simple gate
    -> squeeze-and-excitation (MONAI ``ChannelSELayer``) -> 1x1 conv (c -> c), added to the input scaled by a learnable
    per-channel ``beta``. Feed-forward half: channel layer norm -> time modulation -> 1x1 conv (c -> 2c) -> simple
    gate -> 1x1 conv (c -> c), added scaled by a learnable per-channel ``gamma``. ``beta`` and ``gamma`` are
    initialised to zero, so an untrained block is the identity. The time modulation is ``h * (1 + scale) + shift``,
    with (shift, scale) of each half projected from the time embedding.

    Args:
        spatial_dims: number of spatial dimensions.
        channels: number of channels c.
        time_embedding_dim: dimension of the time embedding.
        se_reduction: reduction ratio of the squeeze-and-excitation (capped at c).
        dw_expansion: expansion of the depth-wise branch (NAFNet uses 2).
        ffn_expansion: expansion of the feed-forward branch (NAFNet uses 2).
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        time_embedding_dim: int,
        se_reduction: int = 4,
        dw_expansion: int = 2,
        ffn_expansion: int = 2,
    ) -> None:
        super().__init__()
        conv_type = Conv[Conv.CONV, spatial_dims]
        dw_channels = channels * dw_expansion
        ffn_channels = channels * ffn_expansion
        param_shape = (1, channels) + (1,) * spatial_dims
        self.channels = channels

        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(time_embedding_dim, 4 * channels))

        self.norm1 = ChannelLayerNorm(channels)
        self.conv1 = conv_type(channels, dw_channels, kernel_size=1)
        self.conv2 = conv_type(dw_channels, dw_channels, kernel_size=3, padding=1, groups=dw_channels)
        self.gate = SimpleGate()
        self.se = ChannelSELayer(spatial_dims, dw_channels // 2, r=max(1, min(se_reduction, dw_channels // 2)))
        self.conv3 = conv_type(dw_channels // 2, channels, kernel_size=1)
        self.beta = nn.Parameter(torch.zeros(param_shape))

        self.norm2 = ChannelLayerNorm(channels)
        self.conv4 = conv_type(channels, ffn_channels, kernel_size=1)
        self.conv5 = conv_type(ffn_channels // 2, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(param_shape))

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: tensor of shape (B, c, *spatial).
            temb: time embedding of shape (B, time_embedding_dim).
        """
        mod = self.time_proj(temb).view(temb.shape[0], 4 * self.channels, *([1] * (x.ndim - 2)))
        shift1, scale1, shift2, scale2 = mod.chunk(4, dim=1)

        h = self.norm1(x, scale1, shift1)
        h = self.conv3(self.se(self.gate(self.conv2(self.conv1(h)))))
        x = torch.addcmul(x, h, self.beta)

        h = self.norm2(x, scale2, shift2)
        h = self.conv5(self.gate(self.conv4(h)))
        return torch.addcmul(x, h, self.gamma)


class PixelShuffleUpsample(nn.Module):
    """
    NAFNet up-sampling: a 1x1 convolution to ``out_channels * 2 ** spatial_dims`` channels followed by a pixel
    shuffle (sub-pixel convolution) of scale 2, in 2-D or 3-D.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: number of input channels.
        out_channels: number of output channels.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.conv = Conv[Conv.CONV, spatial_dims](
            in_channels, out_channels * 2**spatial_dims, kernel_size=1, bias=False
        )
        self.shuffle: nn.Module | None = nn.PixelShuffle(2) if spatial_dims == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.shuffle is not None:
            return self.shuffle(x)
        return pixelshuffle(x, spatial_dims=self.spatial_dims, scale_factor=2)


class ScoreNAFNet(nn.Module):
    """
    Conditional score NAFNet for image restoration (NAFNet of Chen et al. 2022 with timestep conditioning and
    squeeze-and-excitation channel attention).

    The input is ``torch.cat([x_t - mu, mu], dim=1)`` (``2 * image_channels`` channels) with an integer timestep per
    sample; the output has ``image_channels`` channels (a noise or clean-image prediction, the network does not care
    which). The U-shape: a 3x3 intro convolution to ``width`` channels; encoder stages of ``enc_blk_nums[i]``
    :py:class:`NAFBlock` followed by a stride-2 2x2 convolution doubling the channels; ``middle_blk_num`` blocks;
    decoder stages of a 1x1 convolution + pixel shuffle halving the channels, an additive skip connection and
    ``dec_blk_nums[i]`` blocks; a 3x3 ending convolution to ``image_channels``. The timestep goes through MONAI's
    sinusoidal ``get_timestep_embedding`` and a shared MLP (Linear -> GELU -> Linear); each block projects it to the
    shift / scale of its two layer norms.

    The network is fully convolutional on any spatial size: the input is padded internally (reflect padding at the
    end of each spatial dimension) to a multiple of ``2 ** len(enc_blk_nums)`` and the output is cropped back. It
    follows the ``forward(x, timesteps, ...)`` call convention of MONAI's ``DiffusionModelUNet``, so MONAI's
    ``DiffusionInferer`` (``mode="concat"``) can drive it. Note that the squeeze-and-excitation pools over the whole
    (padded) image, so tiled inference is not exactly equal to whole-image inference.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        image_channels: number of channels of one image.
        width: number of channels of the first stage (doubled at every down-sampling).
        enc_blk_nums: number of blocks of each encoder stage.
        middle_blk_num: number of blocks of the middle stage.
        dec_blk_nums: number of blocks of each decoder stage (same length as ``enc_blk_nums``).
        se_reduction: reduction ratio of the squeeze-and-excitation layers.
        time_embedding_dim: dimension of the time embedding; defaults to ``4 * width``.
        padding_mode: padding used to reach the multiple the down-sampling needs: ``"reflect"``, ``"replicate"``
            or ``"constant"``.

    Example::

        net = ScoreNAFNet(spatial_dims=2, image_channels=3, width=32)
        eps = net(torch.cat([x_t - mu, mu], dim=1), timesteps)  # any H, W
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        image_channels: int = 3,
        width: int = 32,
        enc_blk_nums: Sequence[int] = (1, 1, 1, 1),
        middle_blk_num: int = 1,
        dec_blk_nums: Sequence[int] = (1, 1, 1, 1),
        se_reduction: int = 4,
        time_embedding_dim: int | None = None,
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise D3GMInputError(f"ScoreNAFNet supports spatial_dims 2 or 3, got {spatial_dims}.")
        if image_channels < 1:
            raise D3GMInputError(f"image_channels must be a positive integer, got {image_channels}.")
        if width < 1:
            raise D3GMInputError(f"width must be a positive integer, got {width}.")
        if len(enc_blk_nums) != len(dec_blk_nums):
            raise D3GMInputError(
                f"enc_blk_nums and dec_blk_nums must have the same length, got {len(enc_blk_nums)} and "
                f"{len(dec_blk_nums)}."
            )
        if se_reduction < 1:
            raise D3GMInputError(f"se_reduction must be a positive integer, got {se_reduction}.")
        if padding_mode not in ("reflect", "replicate", "constant"):
            raise D3GMInputError(f"padding_mode must be 'reflect', 'replicate' or 'constant', got {padding_mode!r}.")

        self.spatial_dims = spatial_dims
        self.image_channels = image_channels
        self.in_channels = 2 * image_channels
        self.out_channels = image_channels
        self.width = width
        self.padding_mode = padding_mode
        self.size_multiple = 2 ** len(enc_blk_nums)
        self.time_embedding_dim = 4 * width if time_embedding_dim is None else int(time_embedding_dim)
        conv_type = Conv[Conv.CONV, spatial_dims]

        self.time_mlp = nn.Sequential(
            nn.Linear(width, self.time_embedding_dim),
            nn.GELU(),
            nn.Linear(self.time_embedding_dim, self.time_embedding_dim),
        )

        def blocks(channels: int, num: int) -> nn.ModuleList:
            return nn.ModuleList(
                NAFBlock(spatial_dims, channels, self.time_embedding_dim, se_reduction=se_reduction) for _ in range(num)
            )

        self.intro = conv_type(self.in_channels, width, kernel_size=3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(blocks(chan, num))
            self.downs.append(conv_type(chan, 2 * chan, kernel_size=2, stride=2))
            chan *= 2
        self.middle_blks = blocks(chan, middle_blk_num)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for num in dec_blk_nums:
            self.ups.append(PixelShuffleUpsample(spatial_dims, chan, chan // 2))
            chan //= 2
            self.decoders.append(blocks(chan, num))
        self.ending = conv_type(width, image_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, **kwargs) -> torch.Tensor:
        """
        Args:
            x: ``torch.cat([x_t - mu, mu], dim=1)``, shape (B, 2 * image_channels, *spatial), any spatial size.
            timesteps: integer timesteps, shape (B,) (or (1,) / scalar, broadcast over the batch).
            kwargs: ignored, for call compatibility with ``DiffusionModelUNet`` (e.g. ``context=None`` passed by
                ``DiffusionInferer``); a non-None ``context`` raises, the network has no cross-attention.

        Returns:
            tensor of shape (B, image_channels, *spatial).
        """
        if kwargs.get("context") is not None:
            raise D3GMInputError("ScoreNAFNet has no cross-attention conditioning: use mode='concat', not 'crossattn'.")
        timesteps = check_score_input(x, timesteps, self.image_channels, self.spatial_dims, type(self).__name__)
        temb = self.time_mlp(get_timestep_embedding(timesteps, self.width).to(dtype=x.dtype))

        h, spatial = pad_to_multiple(x, self.size_multiple, self.padding_mode)
        h = self.intro(h)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            for blk in encoder:
                h = blk(h, temb)
            skips.append(h)
            h = down(h)
        for blk in self.middle_blks:
            h = blk(h, temb)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            h = up(h) + skip
            for blk in decoder:
                h = blk(h, temb)
        return crop_spatial(self.ending(h), spatial)
