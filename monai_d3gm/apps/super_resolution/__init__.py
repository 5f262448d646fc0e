# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI in-plane super-resolution: the super-resolver, the degradation transforms, HR geometry and the bundle runner.
The degradations themselves (k-space truncation, blur, sinc and bicubic interpolation) are
:mod:`monai_d3gm.physics.resolution`."""

from __future__ import annotations

from .geometry import upsampled_affine, upsampled_series
from .inference import MRISuperResolutionRunner, demo_case, find_image_inputs
from .restore import D3GMSuperResolver
from .transforms import SimulateLowResolution, SimulateLowResolutiond

__all__ = [
    "D3GMSuperResolver",
    "MRISuperResolutionRunner",
    "SimulateLowResolution",
    "SimulateLowResolutiond",
    "demo_case",
    "find_image_inputs",
    "upsampled_affine",
    "upsampled_series",
]
