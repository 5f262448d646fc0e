# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

"""Conditional score U-Net: MONAI's ``DiffusionModelUNet`` configured for ``cat([x_t - mu, mu])`` inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.nets.diffusion_model_unet import DiffusionModelUNet, DiffusionUNetResnetBlock

from ...errors import D3GMInputError

__all__ = ["ScoreUNet", "ResnetMidBlock", "pad_to_multiple", "crop_spatial", "check_score_input"]


def check_score_input(
    x: torch.Tensor, timesteps: torch.Tensor | int | float, image_channels: int, spatial_dims: int, name: str
) -> torch.Tensor:
    """
    Validate the input of a conditional score network and normalise the timesteps.

    Args:
        x: network input, expected ``torch.cat([x_t - mu, mu], dim=1)`` of shape (B, 2 * image_channels, *spatial).
        timesteps: timestep(s), a scalar or a tensor of shape (), (1,) or (B,).
        image_channels: number of channels of one image.
        spatial_dims: number of spatial dimensions of the network.
        name: network name used in error messages.

    Returns:
        the timesteps as a 1-D tensor of shape (B,) on ``x.device``.

    Raises:
        D3GMInputError: when ``x`` has the wrong number of dimensions or channels, or the timesteps the wrong shape.
    """
    if x.ndim != spatial_dims + 2:
        dims = ", ".join(["*"] * spatial_dims)
        raise D3GMInputError(
            f"{name} with spatial_dims={spatial_dims} expects an input of shape (B, C, {dims}) ({spatial_dims + 2} "
            f"dimensions), got {x.ndim} dimensions (shape {tuple(x.shape)})."
        )
    expected = 2 * image_channels
    if x.shape[1] != expected:
        raise D3GMInputError(
            f"{name} expects {expected} input channels (2 * image_channels, image_channels={image_channels}): the "
            f"input must be torch.cat([x_t - mu, mu], dim=1), got {x.shape[1]} channels (shape {tuple(x.shape)})."
        )
    t = torch.as_tensor(timesteps, device=x.device)
    if t.ndim == 0:
        t = t.reshape(1)
    batch = x.shape[0]
    if t.ndim != 1 or t.shape[0] not in (1, batch):
        raise D3GMInputError(f"{name} expects timesteps of shape (B,)=({batch},) or (1,), got shape {tuple(t.shape)}.")
    return t.expand(batch)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, ...]]:
    """
    Pad the spatial dimensions of ``x`` (at their end) up to the next multiple of ``multiple``.

    Padding only at the end keeps the pixel grid of the input aligned with the down-sampling grid of the network,
    so a patch starting at a multiple of ``multiple`` sees the same grid inside a whole image.

    Args:
        x: tensor of shape (B, C, *spatial).
        multiple: every padded spatial size is a multiple of this.
        mode: ``"reflect"``, ``"replicate"`` or ``"constant"`` (zeros). Reflect padding falls back to replicate
            padding for a dimension too small to reflect (padding >= size).

    Returns:
        the padded tensor and the original spatial shape (for :py:func:`crop_spatial`).
    """
    spatial = tuple(int(s) for s in x.shape[2:])
    pads = [(-s) % multiple for s in spatial]
    if not any(pads):
        return x, spatial
    if mode == "reflect" and any(p >= s for p, s in zip(pads, spatial)):
        mode = "replicate"
    # F.pad takes the pads of the last dimension first
    flat: list[int] = []
    for p in reversed(pads):
        flat += [0, p]
    return F.pad(x, flat, mode=mode), spatial


def crop_spatial(x: torch.Tensor, spatial: Sequence[int]) -> torch.Tensor:
    """
    Crop the spatial dimensions of ``x`` to ``spatial`` (keeping the start), undoing :py:func:`pad_to_multiple`.

    Args:
        x: tensor of shape (B, C, *padded_spatial).
        spatial: the target spatial shape.
    """
    if tuple(x.shape[2:]) == tuple(spatial):
        return x
    return x[(slice(None), slice(None)) + tuple(slice(0, int(s)) for s in spatial)]


class ResnetMidBlock(nn.Module):
    """
    Attention-free U-Net mid block: two timestep-conditioned residual blocks.

    It has the same call convention and parameter names (``resnet_1``, ``resnet_2``) as MONAI's ``AttnMidBlock``,
    without the (quadratic cost) self-attention between the two residual blocks.

    Args:
        spatial_dims: number of spatial dimensions.
        in_channels: number of channels.
        temb_channels: number of timestep embedding channels.
        norm_num_groups: number of groups of the group normalisation.
        norm_eps: epsilon of the group normalisation.
    """

    def __init__(
        self, spatial_dims: int, in_channels: int, temb_channels: int, norm_num_groups: int = 32, norm_eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.resnet_1 = DiffusionUNetResnetBlock(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=in_channels,
            temb_channels=temb_channels,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
        )
        self.resnet_2 = DiffusionUNetResnetBlock(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=in_channels,
            temb_channels=temb_channels,
            norm_num_groups=norm_num_groups,
            norm_eps=norm_eps,
        )

    def forward(
        self, hidden_states: torch.Tensor, temb: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        del context
        hidden_states = self.resnet_1(hidden_states, temb)
        return self.resnet_2(hidden_states, temb)


class ScoreUNet(DiffusionModelUNet):
    """
    Conditional score network for image restoration: MONAI's ``DiffusionModelUNet`` taking
    ``torch.cat([x_t - mu, mu], dim=1)`` (``2 * image_channels`` channels) and an integer timestep per sample, and
    returning ``image_channels`` channels (a noise or clean-image prediction, the network does not care which).

    Compared to ``DiffusionModelUNet`` it

    - is configured from ``image_channels`` (``in_channels=2 * image_channels``, ``out_channels=image_channels``),
    - defaults to a small, attention-free configuration: no attention levels and, unless ``mid_block_attention``
      (or ``with_conditioning``) is set, an attention-free mid block (MONAI's mid block always has self-attention),
    - is fully convolutional on any spatial size: the input is padded internally (reflect padding at the end of
      each spatial dimension) to a multiple of ``2 ** (len(channels) - 1)`` and the output is cropped back,
    - validates the input with explicit error messages.

    It keeps the ``forward(x, timesteps, context=None, ...)`` call convention, so MONAI's ``DiffusionInferer``
    (``mode="concat"``) can drive it. Like ``DiffusionModelUNet``, the last convolution is zero-initialised, so an
    untrained network outputs zeros.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        image_channels: number of channels of one image (e.g. 1 for MRI magnitude, 2 for complex MRI as real/imag).
        channels: output channels of each level; there are ``len(channels) - 1`` down-samplings.
        attention_levels: whether each level has self-attention.
        num_res_blocks: number of residual blocks per level.
        norm_num_groups: number of groups of the group normalisations (must divide every entry of ``channels``).
        num_head_channels: number of channels per attention head (ignored at levels without attention).
        mid_block_attention: whether the mid block has self-attention (MONAI's default mid block).
        padding_mode: padding used to reach the multiple the down-sampling needs: ``"reflect"``, ``"replicate"``
            or ``"constant"``.
        kwargs: further arguments of ``DiffusionModelUNet`` (``norm_eps``, ``resblock_updown``,
            ``with_conditioning``, ``cross_attention_dim``, ``num_class_embeds``, ``use_flash_attention``, ...).

    Example::

        net = ScoreUNet(spatial_dims=2, image_channels=1)
        eps = net(torch.cat([x_t - mu, mu], dim=1), timesteps)  # any H, W
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        image_channels: int = 1,
        channels: Sequence[int] = (32, 64, 64),
        attention_levels: Sequence[bool] = (False, False, False),
        num_res_blocks: int | Sequence[int] = 1,
        norm_num_groups: int = 16,
        num_head_channels: int | Sequence[int] = 8,
        mid_block_attention: bool = False,
        padding_mode: str = "reflect",
        **kwargs,
    ) -> None:
        if image_channels < 1:
            raise D3GMInputError(f"image_channels must be a positive integer, got {image_channels}.")
        if padding_mode not in ("reflect", "replicate", "constant"):
            raise D3GMInputError(f"padding_mode must be 'reflect', 'replicate' or 'constant', got {padding_mode!r}.")
        for key in ("in_channels", "out_channels"):
            if key in kwargs:
                raise D3GMInputError(f"ScoreUNet sets {key} from image_channels, do not pass {key}.")
        unet_args = dict(
            spatial_dims=spatial_dims,
            in_channels=2 * image_channels,
            out_channels=image_channels,
            num_res_blocks=num_res_blocks,
            channels=channels,
            attention_levels=attention_levels,
            norm_num_groups=norm_num_groups,
            num_head_channels=num_head_channels,
            **kwargs,
        )
        super().__init__(**unet_args)
        if not mid_block_attention and not kwargs.get("with_conditioning", False):
            # MONAI's mid block always has self-attention, quadratic in the pixels at the lowest level (80² at 320²)
            self.middle_block = ResnetMidBlock(
                spatial_dims=spatial_dims,
                in_channels=channels[-1],
                temb_channels=channels[0] * 4,
                norm_num_groups=norm_num_groups,
                norm_eps=kwargs.get("norm_eps", 1e-6),
            )
        self.spatial_dims = spatial_dims
        self.image_channels = image_channels
        self.padding_mode = padding_mode
        self.size_multiple = 2 ** (len(channels) - 1)
        self.mid_block_attention = mid_block_attention

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        down_block_additional_residuals: tuple[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            x: ``torch.cat([x_t - mu, mu], dim=1)``, shape (B, 2 * image_channels, *spatial), any spatial size.
            timesteps: integer timesteps, shape (B,) (or (1,) / scalar, broadcast over the batch).
            context: cross-attention context (only with ``with_conditioning=True``).
            class_labels: class labels (only with ``num_class_embeds``).
            down_block_additional_residuals: ControlNet residuals, at the padded resolution.
            mid_block_additional_residual: ControlNet mid-block residual, at the padded resolution.

        Returns:
            tensor of shape (B, image_channels, *spatial).
        """
        timesteps = check_score_input(x, timesteps, self.image_channels, self.spatial_dims, type(self).__name__)
        h, spatial = pad_to_multiple(x, self.size_multiple, self.padding_mode)
        out = super().forward(
            h,
            timesteps,
            context=context,
            class_labels=class_labels,
            down_block_additional_residuals=down_block_additional_residuals,
            mid_block_additional_residual=mid_block_additional_residual,
        )
        return crop_spatial(out, spatial)
