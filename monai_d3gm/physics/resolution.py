# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Low-resolution MR images from high-resolution ones, and back to the high-resolution grid.

Grid convention (the DICOM / NIfTI one): a low-resolution (LR) image covers the same field of view as its
high-resolution (HR) version, so LR pixel ``m`` (integer) is centred on HR coordinate ``s * m + (s - 1) / 2``; HR pixel
``j`` sits at LR coordinate ``(j + 0.5) / s - 0.5``. Bicubic interpolation with ``align_corners=False`` and area
(box) down-sampling follow it; the Fourier resamplers below follow it too, with a linear phase for the sub-pixel
shift ``(s - 1) / 2``. So every LR image made here lines up with its HR reference, whatever the degradation.

* :func:`kspace_downsample`: keep the central ``1/s`` of k-space along each in-plane axis (the paper's training
  degradation, what a low-resolution acquisition measures).
* :func:`blur_downsample`: Gaussian blur then area down-sampling (the paper's cross-site test degradation).
* :func:`sinc_upsample`: zero-padded k-space (sinc interpolation); ``sinc_upsample(kspace_downsample(x))`` is the
  band-limited ``x`` exactly, so μ of a k-space-truncated image is :func:`lowpass`.
* :func:`bicubic_upsample`: the usual baseline.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from ..errors import D3GMInputError
from .fft import tensor_input

__all__ = [
    "check_image",
    "check_scale",
    "kspace_downsample",
    "sinc_upsample",
    "lowpass",
    "blur_downsample",
    "bicubic_upsample",
    "crop_to_multiple",
]


def check_scale(scale: object) -> int:
    """The scale factor as an int; a positive whole number (not a bool or a string) is required."""
    try:
        whole = not isinstance(scale, (bool, str, bytes)) and bool(int(scale) == scale) and scale >= 1
    except (TypeError, ValueError, OverflowError, RuntimeError):
        whole = False
    if not whole:
        raise D3GMInputError(f"scale must be a positive integer (the super-resolution factor), got {scale!r}.")
    return int(scale)


def check_image(image: torch.Tensor, scale: int, name: str = "image") -> torch.Tensor:
    """``image`` as a real floating-point tensor (..., H, W) that ``scale`` can degrade; refuses anything else."""
    check_scale(scale)
    image = tensor_input(image, name, D3GMInputError)
    if image.ndim < 2:
        raise D3GMInputError(f"{name} must have at least 2 dimensions (..., H, W), got shape {tuple(image.shape)}.")
    if image.numel() == 0:
        raise D3GMInputError(f"{name} of shape {tuple(image.shape)} is empty; pass an image with pixels.")
    if torch.is_complex(image):
        raise D3GMInputError(f"{name} must be real (a magnitude image), got {image.dtype}; take its abs() first.")
    if not torch.isfinite(image).all():
        raise D3GMInputError(f"{name} contains NaN or Inf values; clean the input first.")
    return image.float() if not image.is_floating_point() else image


def _phase(freqs: torch.Tensor, shift: float, size: int) -> torch.Tensor:
    """exp(-2πi k shift / size): the Fourier factor that moves a signal by ``shift`` samples of a ``size`` grid."""
    return torch.exp(torch.complex(torch.zeros_like(freqs), -2 * math.pi * freqs * shift / size))


def _resample_axis(x: torch.Tensor, dim: int, scale: int, up: bool) -> torch.Tensor:
    """Fourier resampling of one axis between an LR size ``n`` and the HR size ``scale * n`` (grid convention above)."""
    dtype = x.dtype
    x = x.double()
    shift = (scale - 1) / 2
    n = x.shape[dim] if up else x.shape[dim] // scale
    big = n * scale
    freqs = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64, device=x.device).round()  # integer LR frequencies
    hr_index = freqs.long() % big
    view = [1] * x.ndim
    view[dim] = n
    phase = _phase(freqs, shift, big).view(view)
    nyquist = n % 2 == 0  # the bin -n/2 has no partner on the LR grid: split / fold it symmetrically
    if up:
        c = torch.fft.fft(x, dim=dim, norm="forward")
        shape = list(x.shape)
        shape[dim] = big
        hr = torch.zeros(shape, dtype=c.dtype, device=x.device)
        coeff = c * phase
        if nyquist and n > 1:
            idx = n // 2
            half = c.narrow(dim, idx, 1) / 2
            k = torch.tensor([n / 2], dtype=torch.float64, device=x.device)
            coeff = coeff.clone()
            coeff.narrow(dim, idx, 1).copy_(half * _phase(-k, shift, big).view([1] * x.ndim))
            hr.index_copy_(dim, hr_index, coeff)
            hr.narrow(dim, n // 2, 1).add_(half * _phase(k, shift, big).view([1] * x.ndim))
        else:
            hr.index_copy_(dim, hr_index, coeff)
        return torch.fft.ifft(hr, dim=dim, norm="forward").real.to(dtype)
    if x.shape[dim] % scale:
        raise D3GMInputError(f"axis {dim} has {x.shape[dim]} pixels, not a multiple of scale {scale}: crop it first.")
    c = torch.fft.fft(x, dim=dim, norm="forward")
    lr = c.index_select(dim, hr_index) * phase.conj()
    if nyquist and n > 1:
        k = torch.tensor([n / 2], dtype=torch.float64, device=x.device)
        partner = c.narrow(dim, n // 2, 1) * _phase(k, shift, big).conj().view([1] * x.ndim)
        lr.narrow(dim, n // 2, 1).add_(partner)
    return torch.fft.ifft(lr, dim=dim, norm="forward").real.to(dtype)


def crop_to_multiple(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the last two axes at their end to a multiple of ``scale`` (pixel 0 and the origin stay in place)."""
    scale = check_scale(scale)
    image = tensor_input(image, "image", D3GMInputError)
    if image.ndim < 2:
        raise D3GMInputError(f"image must have at least 2 dimensions (..., H, W), got shape {tuple(image.shape)}.")
    h, w = image.shape[-2] // scale * scale, image.shape[-1] // scale * scale
    if h == 0 or w == 0:
        raise D3GMInputError(
            f"image of shape {tuple(image.shape)} is smaller than the scale {scale}: H and W must be at least {scale}."
        )
    return image[..., :h, :w]


def kspace_downsample(image: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """k-space truncation: the central ``1/scale`` of k-space along H and W, as an LR image (..., H/s, W/s).

    H and W must be multiples of ``scale`` (see :func:`crop_to_multiple`). Intensities are preserved (a constant
    image stays the same constant).
    """
    image = check_image(image, scale)
    if image.shape[-2] % scale or image.shape[-1] % scale:
        raise D3GMInputError(
            f"image of shape {tuple(image.shape)}: H and W must be multiples of the scale {scale}; "
            "crop it with crop_to_multiple first."
        )
    return _resample_axis(_resample_axis(image, -2, scale, up=False), -1, scale, up=False)


def sinc_upsample(image: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Sinc interpolation (zero-padded k-space) of an LR image (..., h, w) onto the HR grid (..., s h, s w)."""
    image = check_image(image, scale)
    return _resample_axis(_resample_axis(image, -2, scale, up=True), -1, scale, up=True)


def lowpass(image: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """``sinc_upsample(kspace_downsample(image))``: the projection onto what a ``scale``-times coarser scan measures."""
    return sinc_upsample(kspace_downsample(image, scale), scale)


def blur_downsample(image: torch.Tensor, scale: int = 4, sigma: float = 1.5) -> torch.Tensor:
    """Gaussian blur (standard deviation ``sigma`` HR pixels, reflect padding) then ``scale x scale`` area averaging.

    Args:
        image: (..., H, W) with H, W multiples of ``scale``.
        scale: down-sampling factor.
        sigma: blur of the kernel in HR pixels (0: area averaging only).
    """
    image = check_image(image, scale)
    if image.shape[-2] % scale or image.shape[-1] % scale:
        raise D3GMInputError(f"image of shape {tuple(image.shape)}: H and W must be multiples of the scale {scale}.")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise D3GMInputError(f"sigma must be a finite number >= 0 (the blur in HR pixels), got {sigma!r}.")
    lead = image.shape[:-2]
    x = image.reshape(-1, 1, *image.shape[-2:])
    if sigma > 0:
        radius = max(1, math.ceil(3 * sigma))
        if radius >= min(image.shape[-2:]):
            raise D3GMInputError(
                f"image of shape {tuple(image.shape)} is too small for a Gaussian blur of sigma {sigma:g}: its reflect "
                f"padding of {radius} pixels (3 sigma) needs H and W > {radius}; use a larger image or a smaller sigma."
            )
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        g = torch.exp(-0.5 * (t / sigma) ** 2)
        g = g / g.sum()
        x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
        x = F.conv2d(F.conv2d(x, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    x = F.avg_pool2d(x, scale)
    return x.reshape(*lead, *x.shape[-2:])


def bicubic_upsample(image: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """Bicubic interpolation (``align_corners=False``, the grid convention above) of (..., h, w) to (..., s h, s w)."""
    image = check_image(image, scale)
    lead = image.shape[:-2]
    x = image.reshape(-1, 1, *image.shape[-2:])
    x = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return x.reshape(*lead, *x.shape[-2:])
