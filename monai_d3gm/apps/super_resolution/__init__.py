# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI in-plane super-resolution: the super-resolver, the degradation transforms, HR geometry, the bundle's
evaluator pieces and the whole-volume runner.
The degradations themselves (k-space truncation, blur, sinc and bicubic interpolation) are
:mod:`monai_d3gm.physics.resolution`."""

from __future__ import annotations

from .geometry import upsampled_affine, upsampled_series
from .inference import SuperResolutionVolumeRunner, demo_case, find_image_inputs
from .pipeline import PrepareLowResolutiond, SaveSuperResolutiond, SuperResolutionResultd, image_cases
from .restore import D3GMSuperResolver, SuperResolutionDataConsistency
from .transforms import SimulateLowResolution, SimulateLowResolutiond

__all__ = [
    "D3GMSuperResolver",
    "PrepareLowResolutiond",
    "SaveSuperResolutiond",
    "SimulateLowResolution",
    "SimulateLowResolutiond",
    "SuperResolutionDataConsistency",
    "SuperResolutionResultd",
    "SuperResolutionVolumeRunner",
    "demo_case",
    "find_image_inputs",
    "image_cases",
    "upsampled_affine",
    "upsampled_series",
]
