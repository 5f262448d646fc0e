# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI in-plane super-resolution: k-space truncation and blur degradations, sinc/bicubic upsampling, geometry."""

from __future__ import annotations

from ...physics.resolution import (
    bicubic_upsample,
    blur_downsample,
    crop_to_multiple,
    kspace_downsample,
    lowpass,
    sinc_upsample,
)
from .geometry import upsampled_affine, upsampled_series
