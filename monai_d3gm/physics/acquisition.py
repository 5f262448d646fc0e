# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What a real acquisition adds to an image: receive-coil geometry and thermal noise.

* :func:`random_coil_maps` places loop coils around the field of view at random positions and sizes (a different
  array on every draw), so a network trained on simulated k-space does not learn one fixed coil geometry.
* :func:`kspace_noise_std` measures the thermal noise of real k-space in its corners, where the object contributes
  almost nothing; :func:`relative_noise_std` divides it by the maximum of the root-sum-of-squares image. On the real
  8-coil brain of ``espirit-brain-8ch-kspace/full`` it is 0.0080 per real (and imaginary) part, per coil.
* :func:`add_kspace_noise` adds complex white Gaussian noise of a given standard deviation per real part.

The FFT is orthonormal (:mod:`.fft`), so white k-space noise of standard deviation σ is white image noise of the
same σ in every coil image, and σ after a SENSE combination with unit root-sum-of-squares maps.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import MRIInputError
from .fft import ifft2c
from .sense import root_sum_of_squares

__all__ = ["random_coil_maps", "kspace_noise_std", "relative_noise_std", "rss_peak", "add_kspace_noise"]


def random_coil_maps(num_coils: int, height: int, width: int, rng: np.random.RandomState) -> torch.Tensor:
    """Sensitivities of ``num_coils`` loop coils around an (H, W) field of view, complex64 (C, H, W), unit RSS.

    Coil c sits on an ellipse around the field of view (radius 1.05–1.8 half fields of view) at angle
    φ₀ + 2πc/C plus a jitter of up to a quarter of the spacing; its magnitude falls off as
    1 / (1 + (d / s)²)^{3/2} with the distance d from the coil and a size s in [0.5, 1.5] half fields of view
    (the on-axis field of a loop of radius s), and its phase is the direction from the coil plus a random offset
    (as in sigpy's birdcage maps). The maps are then divided by their root sum of squares, so the coil-combined
    image is the object itself. One coil gives a uniform map with a random global phase.

    Args:
        num_coils: number of coils C >= 1.
        height: H.
        width: W.
        rng: the random state (determinism: the same state gives the same array).
    """
    if isinstance(num_coils, bool) or not isinstance(num_coils, (int, np.integer)) or num_coils < 1:
        raise MRIInputError(f"num_coils must be an integer >= 1, got {num_coils!r}.")
    if num_coils == 1:
        return torch.polar(torch.ones(1, height, width), torch.full((1, height, width), rng.uniform(-np.pi, np.pi)))
    side = max(height, width)
    y = torch.linspace(-1, 1, height, dtype=torch.float64)[:, None] * height / side
    x = torch.linspace(-1, 1, width, dtype=torch.float64)[None, :] * width / side
    start = rng.uniform(0, 2 * np.pi)
    spacing = 2 * np.pi / num_coils
    maps = []
    for c in range(num_coils):
        angle = start + c * spacing + rng.uniform(-0.25, 0.25) * spacing
        radius = rng.uniform(1.05, 1.8)
        cy, cx = radius * np.sin(angle) * height / side, radius * np.cos(angle) * width / side
        size = rng.uniform(0.5, 1.5)
        dy, dx = y - cy, x - cx
        magnitude = (1 + (dy.square() + dx.square()) / size**2) ** -1.5
        phase = torch.atan2(dy, dx) + rng.uniform(-np.pi, np.pi)
        maps.append(torch.polar(magnitude, phase))
    out = torch.stack(maps)
    out = out / root_sum_of_squares(out, dim=0).clamp_min(1e-12)
    return out.to(torch.complex64)


def kspace_noise_std(kspace: torch.Tensor, corner: int = 16) -> float:
    """Thermal noise of k-space, measured in its four ``corner`` x ``corner`` corners (pooled over coils).

    The corners of fully sampled k-space hold the highest spatial frequencies, where a real object's signal has fallen
    far below the noise; the standard deviation of their real and imaginary parts estimates σ per real part.

    Args:
        kspace: fully sampled centred k-space, complex (C, H, W) or (H, W).
        corner: side of each corner square (at most a quarter of the smaller side).

    Returns:
        σ, the noise standard deviation per real (and imaginary) part.
    """
    k = torch.as_tensor(kspace)
    if not k.is_complex() or k.ndim not in (2, 3):
        raise MRIInputError(f"kspace must be complex (H, W) or (C, H, W), got {k.dtype} {tuple(k.shape)}.")
    k = k.reshape(-1, *k.shape[-2:])
    c = int(corner)
    if not 1 <= c <= min(k.shape[-2:]) // 4:
        raise MRIInputError(
            f"corner must lie in [1, {min(k.shape[-2:]) // 4}] (a quarter of the k-space's smaller side), got {corner}."
        )
    corners = torch.cat([k[:, :c, :c], k[:, :c, -c:], k[:, -c:, :c], k[:, -c:, -c:]], dim=-1)
    if not bool(corners.ne(0).any()):
        raise MRIInputError("the k-space corners are all zero (undersampled or cropped k-space?): no noise to measure.")
    return float(torch.cat([corners.real.flatten(), corners.imag.flatten()]).double().std())


def rss_peak(kspace: torch.Tensor) -> float:
    """The maximum of the root-sum-of-squares image of k-space (C, H, W) or (H, W): the signal that noise levels are
    relative to."""
    k = torch.as_tensor(kspace)
    return float(root_sum_of_squares(ifft2c(k.reshape(-1, *k.shape[-2:])), dim=0).max())


def relative_noise_std(kspace: torch.Tensor, corner: int = 16) -> float:
    """:func:`kspace_noise_std` divided by :func:`rss_peak`."""
    return kspace_noise_std(kspace, corner) / rss_peak(kspace)


def add_kspace_noise(kspace: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-space plus complex white Gaussian noise of standard deviation ``std`` per real and imaginary part."""
    k = torch.as_tensor(kspace)
    if std == 0:
        return k
    noise = torch.randn((*k.shape, 2), generator=generator, dtype=k.real.dtype)
    return k + std * torch.view_as_complex(noise)
