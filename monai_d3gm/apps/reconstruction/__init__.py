# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI reconstruction: the training and inference transforms, the reconstructor, the bundle's evaluator pieces,
whole-volume mode and validation.

The k-space physics it builds on is :mod:`monai_d3gm.physics`; the MRI readers and writers are :mod:`monai_d3gm.io`.
"""

from __future__ import annotations

from ...errors import MRIInputError
from .dataset import VolumeSliceDataset, bundle_volumes, split_volumes, volume_files, volume_slices
from .inference import MRIVolumeRunner, demo_case
from .pipeline import ReconstructionResultd, mri_cases
from .reconstruct import D3GMReconstructor, ReconstructionDataConsistency
from .validation import ReconstructionValidator, held_out_cases, simulated_kspace
from .volume import VolumeReconstruction

__all__ = [
    "D3GMReconstructor",
    "MRIInputError",
    "MRIVolumeRunner",
    "ReconstructionDataConsistency",
    "ReconstructionResultd",
    "ReconstructionValidator",
    "VolumeReconstruction",
    "VolumeSliceDataset",
    "bundle_volumes",
    "demo_case",
    "held_out_cases",
    "mri_cases",
    "simulated_kspace",
    "split_volumes",
    "volume_files",
    "volume_slices",
]
