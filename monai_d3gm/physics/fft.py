# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Centred orthonormal 2-D FFTs (fastMRI convention) and the complex <-> real-channel conversions.

Conventions used throughout :mod:`monai_d3gm.physics` and the MRI tasks:

* images and k-space are complex tensors (complex64) whose last two dimensions are (H, W);
* k-space is *centred*: the DC sample of an (H, W) array sits at index (H // 2, W // 2) (as in fastMRI, BART and
  SigPy), i.e. ``k = fftshift(fft2(ifftshift(x), norm="ortho"))``;
* the FFT is orthonormal, so ``ifft2c`` is both the inverse and the adjoint of ``fft2c`` and white noise keeps its
  variance (Parseval).

These are the same transforms as MONAI's :func:`monai.networks.blocks.fft_utils_t.fftn_centered_t` /
``ifftn_centered_t`` (ports of fastMRI's), written on native complex tensors with ``torch.fft`` so that they need no
(..., 2) real view and run on any device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import D3GMInputError, MRIInputError

__all__ = ["fft2c", "ifft2c", "complex_to_channels", "channels_to_complex", "tensor_input"]

_DIMS = (-2, -1)


def tensor_input(value: Any, name: str, error: type[D3GMInputError] = MRIInputError) -> torch.Tensor:
    """``torch.as_tensor(value)`` for an array handed in by a caller, refusing what is not a numeric array.

    Args:
        value: a torch tensor (returned as is), a numpy array or a nested list of numbers.
        name: the argument's name, for the message.
        error: the exception type raised.

    Raises:
        error: ``value`` is None, a string, a ragged list, an object array or of a dtype torch cannot hold.
    """
    if isinstance(value, torch.Tensor):
        return value
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"dtype {array.dtype} is not numeric")
        return torch.as_tensor(array)
    except (TypeError, ValueError, RuntimeError) as err:
        raise error(
            f"{name} must be a numeric array (a torch tensor, a numpy array or a nested list of numbers), got "
            f"{type(value).__name__} ({err}); pass the image or k-space data itself."
        ) from err


def _check_complex(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise MRIInputError(f"{name} expects a torch.Tensor, got {type(x).__name__}; wrap it with torch.as_tensor().")
    if not x.is_complex():
        raise MRIInputError(
            f"{name} expects a complex tensor (..., H, W), got dtype {x.dtype} with shape {tuple(x.shape)}; build one "
            "with torch.complex(real, imag) or channels_to_complex() for (B, 2C, H, W) real/imag channels."
        )
    if x.ndim < 2:
        raise MRIInputError(f"{name} expects at least 2 dimensions (..., H, W), got shape {tuple(x.shape)}.")
    if x.numel() == 0:
        raise MRIInputError(f"{name} expects a non-empty tensor (..., H, W), got shape {tuple(x.shape)}.")
    if x.dtype == torch.complex32 and x.device.type != "cuda":
        raise MRIInputError(
            f"{name}: the CPU FFT has no complex32 (half precision) support, got shape {tuple(x.shape)}; convert with "
            "x.to(torch.complex64)."
        )


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT over the last two dimensions: image -> k-space.

    ``fftshift(fft2(ifftshift(x), norm="ortho"))`` over dims (-2, -1), the fastMRI ``fft2c``.

    Args:
        x: complex image, shape (..., H, W).

    Returns:
        centred k-space, shape (..., H, W), same dtype and device.
    """
    _check_complex(x, "fft2c")
    x = torch.fft.ifftshift(x, dim=_DIMS)
    x = torch.fft.fft2(x, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal inverse 2-D FFT over the last two dimensions: k-space -> image (the adjoint of ``fft2c``).

    Args:
        k: centred complex k-space, shape (..., H, W).

    Returns:
        complex image, shape (..., H, W), same dtype and device.
    """
    _check_complex(k, "ifft2c")
    k = torch.fft.ifftshift(k, dim=_DIMS)
    k = torch.fft.ifft2(k, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(k, dim=_DIMS)


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex (B, C, *spatial) -> real (B, 2C, *spatial), channels ordered [real parts..., imaginary parts...].

    For C = 1 the two channels are (real, imag), the layout of the diffusion state x_t of the MRI bundles.

    Args:
        x: complex tensor, shape (B, C, *spatial).

    Returns:
        real tensor (float32 for complex64 input), shape (B, 2C, *spatial).
    """
    if not isinstance(x, torch.Tensor) or not x.is_complex():
        dtype = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise MRIInputError(
            f"complex_to_channels expects a complex tensor (B, C, *spatial), got {dtype}; real/imag channels are "
            "already in channel form (see channels_to_complex for the inverse)."
        )
    if x.ndim < 2:
        raise MRIInputError(f"complex_to_channels expects shape (B, C, *spatial), got {tuple(x.shape)}.")
    return torch.cat([x.real, x.imag], dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real (B, 2C, *spatial) with channels [real parts..., imaginary parts...] -> complex (B, C, *spatial).

    The inverse of :func:`complex_to_channels`.

    Args:
        x: real floating tensor, shape (B, 2C, *spatial).

    Returns:
        complex tensor (complex64 for float32 input), shape (B, C, *spatial).
    """
    if not isinstance(x, torch.Tensor) or x.is_complex() or not x.is_floating_point():
        dtype = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise MRIInputError(
            f"channels_to_complex expects a real floating tensor (B, 2C, *spatial), got {dtype}; a complex tensor "
            "needs no conversion (complex_to_channels is the inverse)."
        )
    if x.dtype not in (torch.float16, torch.float32, torch.float64):
        raise MRIInputError(
            f"channels_to_complex has no complex type for {x.dtype} channels (shape {tuple(x.shape)}); convert them "
            "with x.float() first."
        )
    if x.ndim < 2 or x.shape[1] % 2:
        raise MRIInputError(
            f"channels_to_complex needs an even channel count (B, 2C, *spatial) = [real parts..., imag parts...], "
            f"got shape {tuple(x.shape)}; pass the real and imaginary parts as separate channels."
        )
    c = x.shape[1] // 2
    return torch.complex(x[:, :c], x[:, c:])
