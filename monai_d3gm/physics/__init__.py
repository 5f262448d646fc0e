# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the scanner (or the weather) does to an image, written once for every task, and the data consistency that
undoes part of it during sampling.

* :mod:`.fft`: orthonormal centred 2-D FFTs and the complex ↔ (real, imaginary) channel layout.
* :mod:`.masks`: Cartesian (random and equispaced, fastMRI centre fractions) and Poisson-disc masks.
* :mod:`.sense`: ESPIRiT and low-resolution coil maps, the SENSE forward/adjoint operator, CG-SENSE.
* :mod:`.acquisition`: random coil arrays, measured and added k-space noise.
* :mod:`.resolution`: k-space truncation and blur with down-sampling (super-resolution), sinc and bicubic
  interpolation.
* :mod:`.weather`: rain streaks and haze on photos.
* :mod:`.consistency`: one data-consistency protocol, ``dc(x_t, t, noise_std)``, with hard, soft, CG-SENSE and
  low-pass instances.
"""

from __future__ import annotations

from .acquisition import add_kspace_noise, kspace_noise_std, random_coil_maps, relative_noise_std, rss_peak
from .consistency import (
    DataConsistency,
    HardDataConsistency,
    LowpassConsistency,
    SenseDataConsistency,
    SoftDataConsistency,
)
from .fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from .masks import CartesianMask, RandomCartesianMask, acceleration_of, center_fraction_of, load_mask, poisson_mask
from .resolution import blur_downsample, kspace_downsample, lowpass, sinc_upsample
from .sense import SenseOperator, espirit_maps, lowres_maps, root_sum_of_squares
from .weather import add_haze, add_rain, random_depth

__all__ = [
    "CartesianMask",
    "DataConsistency",
    "HardDataConsistency",
    "LowpassConsistency",
    "SenseDataConsistency",
    "SoftDataConsistency",
    "add_haze",
    "add_rain",
    "blur_downsample",
    "kspace_downsample",
    "lowpass",
    "sinc_upsample",
    "RandomCartesianMask",
    "SenseOperator",
    "acceleration_of",
    "add_kspace_noise",
    "center_fraction_of",
    "channels_to_complex",
    "complex_to_channels",
    "espirit_maps",
    "fft2c",
    "ifft2c",
    "kspace_noise_std",
    "load_mask",
    "lowres_maps",
    "poisson_mask",
    "random_coil_maps",
    "random_depth",
    "relative_noise_std",
    "root_sum_of_squares",
    "rss_peak",
]
