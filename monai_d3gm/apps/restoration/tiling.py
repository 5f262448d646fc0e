# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Restore large photos tile by tile, with overlap and Gaussian blending, in bounded memory.

A whole diffusion chain runs on each tile (μ restricted to the tile) and MONAI's ``SlidingWindowInferer`` blends the
restored tiles with Gaussian weights. Memory is the input, the output and the blending weights (a few copies of the
image) plus one tile's activations, whatever the photo's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import SlidingWindowInferer
from monai.inferers.utils import _get_scan_interval

from ...errors import ImageInputError

__all__ = ["TiledRestoration"]


class TiledRestoration:
    """Apply ``restore(tile) -> tile`` over (B, C, H, W) images in overlapping tiles blended with Gaussian weights.

    Images no larger than a tile are restored whole (no blending at all).

    Args:
        tile_size: tile edge (or (h, w)) in pixels; a multiple of the network's down-sampling factor is best. None
            restores every image whole (memory then grows with the image).
        overlap: fraction of a tile shared with its neighbour (0 to < 1).
        tiles_per_batch: tiles restored together (memory grows with it).
        progress: show a tqdm bar over the tiles.
        sigma_scale: width of the Gaussian blending weights relative to the tile size.
    """

    def __init__(
        self,
        tile_size: int | Sequence[int] | None = 256,
        overlap: float = 0.25,
        tiles_per_batch: int = 1,
        progress: bool = True,
        sigma_scale: float = 0.125,
    ) -> None:
        if tile_size is None:
            size = (2**62, 2**62)
        elif isinstance(tile_size, int):
            size = (int(tile_size),) * 2
        else:
            size = tuple(int(s) for s in tile_size)
        if len(size) != 2 or min(size) < 8:
            raise ImageInputError(f"tile_size must be an int >= 8 or a pair of them, got {tile_size!r}.")
        if not 0 <= overlap < 1:
            raise ImageInputError(f"overlap must be in [0, 1), got {overlap}.")
        if tiles_per_batch < 1:
            raise ImageInputError(f"tiles_per_batch must be >= 1, got {tiles_per_batch}.")
        self.tile_size = size
        self.overlap = overlap
        self.progress = progress
        self.inferer = (
            None
            if tile_size is None
            else SlidingWindowInferer(
                roi_size=size,
                sw_batch_size=tiles_per_batch,
                overlap=overlap,
                mode="gaussian",
                sigma_scale=sigma_scale,
                padding_mode="replicate",
                progress=progress,
                cache_roi_weight_map=True,
            )
        )

    def fits_in_one_tile(self, image: torch.Tensor) -> bool:
        """Whether ``image`` (B, C, H, W) is restored whole."""
        return image.shape[-2] <= self.tile_size[0] and image.shape[-1] <= self.tile_size[1]

    def num_tiles(self, height: int, width: int) -> int:
        """How many tiles an ``height x width`` image takes."""
        if height <= self.tile_size[0] and width <= self.tile_size[1]:
            return 1
        size = (max(height, self.tile_size[0]), max(width, self.tile_size[1]))  # smaller images are padded
        interval = _get_scan_interval(size, self.tile_size, 2, (self.overlap,) * 2)
        return len(dense_patch_slices(size, self.tile_size, interval))

    def __call__(self, image: torch.Tensor, restore: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if image.ndim != 4:
            raise ImageInputError(f"expected a (B, C, H, W) image, got shape {tuple(image.shape)}.")
        if self.fits_in_one_tile(image):
            return restore(image)
        return self.inferer(image, restore)
