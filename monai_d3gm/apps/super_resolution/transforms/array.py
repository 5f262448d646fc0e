# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Array transforms: simulate a low-resolution MR slice and bring it to the high-resolution grid (μ)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from monai.transforms import Randomizable, Transform

from ....errors import D3GMInputError
from ....physics.resolution import (
    blur_downsample,
    check_image,
    check_scale,
    crop_to_multiple,
    kspace_downsample,
    sinc_upsample,
)

__all__ = ["SimulateLowResolution", "DEGRADATIONS", "low_resolution"]

DEGRADATIONS = ("kspace", "blur")


def low_resolution(target: torch.Tensor, scale: int, degradation: str, sigma: float) -> torch.Tensor:
    """The LR image (H / scale, W / scale) of an HR ``target`` whose sides are multiples of ``scale``: its central
    k-space ("kspace"), or its Gaussian blur of ``sigma`` HR pixels averaged over scale x scale areas ("blur").
    Training (:class:`SimulateLowResolution`) and inference
    (:meth:`~monai_d3gm.apps.super_resolution.restore.D3GMSuperResolver.prepare`) both degrade with it."""
    if degradation == "kspace":
        return kspace_downsample(target, scale)
    return blur_downsample(target, scale, sigma)


def _range(value: float | Sequence[float], name: str, meaning: str) -> tuple[float, float]:
    """A number >= 0 or a ``(low, high)`` range of them, as a range."""
    bounds = [value, value] if isinstance(value, numbers.Number) else value
    try:
        low, high = (float(b) for b in bounds if isinstance(b, numbers.Real) and not isinstance(b, bool))
    except (TypeError, ValueError):  # not a sequence of two real numbers
        low = high = math.nan
    if not (math.isfinite(high) and 0 <= low <= high):
        raise D3GMInputError(f"{name} must be a finite number >= 0 or a (low, high) range of them ({meaning}), got "
                             f"{value!r}.")  # fmt: skip
    return low, high


class SimulateLowResolution(Randomizable, Transform):
    """HR slice -> ``(mu, target)``: μ is the simulated LR image brought back to the HR grid by sinc interpolation.

    ``degradation="kspace"`` keeps the central ``1/scale`` of k-space (the paper's training protocol; then μ is the
    band-limited image); ``"blur"`` blurs with a Gaussian of standard deviation ``sigma`` HR pixels (a number, or a
    ``(low, high)`` range drawn per call) and area-averages (the paper's cross-site test protocol); ``"mixed"`` draws
    one of the two per call. Both images are cropped at their end to a multiple of ``scale`` and returned
    channel-first, float32.

    With ``noise_std`` > 0 the LR acquisition is noisy, as a real one is: complex Gaussian noise of that standard
    deviation (relative to the slice's maximum; a number or a ``(low, high)`` range drawn per call) is added to the LR
    image, whose magnitude (Rician noise, as in magnitude MR images) becomes μ. The target keeps only its own noise.

    Args:
        scale: the super-resolution factor.
        degradation: "kspace", "blur" or "mixed".
        sigma: Gaussian blur in HR pixels for "blur": a number or a ``(low, high)`` range.
        noise_std: noise of the LR image relative to the slice's maximum: a number or a ``(low, high)`` range.
    """

    def __init__(
        self,
        scale: int = 4,
        degradation: str = "kspace",
        sigma: float | Sequence[float] = 1.5,
        noise_std: float | Sequence[float] = 0.0,
    ) -> None:
        if not isinstance(degradation, str) or degradation not in (*DEGRADATIONS, "mixed"):
            raise D3GMInputError(f"degradation must be one of {(*DEGRADATIONS, 'mixed')}, got {degradation!r}.")
        self.scale = check_scale(scale)
        self.degradation = degradation
        self.sigma_range = _range(sigma, "sigma", "the blur in HR pixels")
        self.noise_range = _range(noise_std, "noise_std", "the LR noise relative to the slice's maximum")
        self._sigma, self._noise, self._degradation = self.sigma_range[0], self.noise_range[0], DEGRADATIONS[0]
        self._noise_seed = 0

    def randomize(self, data=None) -> None:
        self._sigma = float(self.R.uniform(*self.sigma_range))
        if self.degradation == "mixed":
            self._degradation = DEGRADATIONS[int(self.R.randint(len(DEGRADATIONS)))]
        if self.noise_range[1] > 0:  # no draw without noise: the old streams stay
            self._noise = float(self.R.uniform(*self.noise_range))
            self._noise_seed = int(self.R.randint(2**31 - 1))

    def __call__(self, image, randomize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            image: the HR slice, (H, W) or (1, H, W), real.

        Returns:
            ``(mu, target)``, each (1, H', W') with H', W' the multiples of ``scale`` below H, W.
        """
        img = check_image(image, self.scale, "image")
        if img.ndim == 3 and img.shape[0] == 1:
            img = img[0]
        if img.ndim != 2:
            raise D3GMInputError(
                f"expected one 2-D slice (H, W) or (1, H, W) as the image, got shape {tuple(img.shape)}."
            )
        if not torch.isfinite(img.float()).all():
            raise D3GMInputError(
                f"image values exceed the float32 range (max |image| = {float(img.abs().max()):.3g}); rescale it."
            )
        target = crop_to_multiple(img.float(), self.scale)
        if randomize:
            self.randomize()
        degradation = self._degradation if self.degradation == "mixed" else self.degradation
        lr = low_resolution(target, self.scale, degradation, self._sigma)
        if self._noise > 0 and torch.isfinite(lr).all():
            generator = torch.Generator().manual_seed(self._noise_seed)
            std = self._noise * float(target.abs().max())
            noise = torch.randn((2, *lr.shape), generator=generator, dtype=lr.dtype) * std
            lr = torch.sqrt((lr + noise[0]) ** 2 + noise[1] ** 2)
        mu = sinc_upsample(lr, self.scale)[None].float() if torch.isfinite(lr).all() else lr
        if not torch.isfinite(mu).all():  # the resampling overshoots float32's maximum near sharp edges
            raise D3GMInputError(
                f"image values are too large to resample in float32 (max |image| = {float(img.abs().max()):.3g}); "
                "rescale it (e.g. divide by its maximum)."
            )
        return mu, target[None].contiguous()
