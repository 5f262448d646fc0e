# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Photo restoration (deraining, dehazing): the restorer, tiled restoration, paired datasets, RGB readers and writers,
metrics and the bundles' evaluator pieces. The rain and haze models are :mod:`monai_d3gm.physics.weather`."""

from __future__ import annotations

from ...errors import ImageInputError
from .dataset import PairedImageDataset
from .demo import demo_pair, demo_photo_path
from .io import read_rgb, read_rgb_uint8, to_uint8, write_rgb
from .metrics import lpips_status, rgb_metrics
from .pairs import find_images, find_pairs, find_photo_cases
from .pipeline import PhotoMetricsd, PhotoTilingd, SavePhotod, photo_cases
from .restore import D3GMImageRestorer
from .tiling import TiledRestoration
from .transforms import CheckPhotod, LoadRGBImage, LoadRGBImaged, RandSyntheticDegradation, RandSyntheticDegradationd

__all__ = [
    "CheckPhotod",
    "D3GMImageRestorer",
    "ImageInputError",
    "LoadRGBImage",
    "LoadRGBImaged",
    "PairedImageDataset",
    "PhotoMetricsd",
    "PhotoTilingd",
    "RandSyntheticDegradation",
    "RandSyntheticDegradationd",
    "SavePhotod",
    "TiledRestoration",
    "demo_pair",
    "demo_photo_path",
    "find_images",
    "find_pairs",
    "find_photo_cases",
    "lpips_status",
    "photo_cases",
    "read_rgb",
    "read_rgb_uint8",
    "rgb_metrics",
    "to_uint8",
    "write_rgb",
]
