# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Read and write RGB photos (PNG, JPEG, ...) as channel-first arrays in [0, 1]."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...utils import atomic_path
from .errors import ImageInputError

__all__ = ["IMAGE_SUFFIXES", "read_rgb", "read_rgb_uint8", "write_rgb", "to_uint8"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: refuse images beyond this many pixels (PIL's decompression-bomb limit is ~89 M)
MAX_PIXELS = 200_000_000


def read_rgb_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as uint8 ``(3, H, W)`` RGB (grey-scale and palette images are converted, alpha is dropped).

    Raises:
        ImageInputError: missing file, not an image, truncated or unreadable file, or too many pixels.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ImageInputError(f"{p} does not exist or is not a file; pass a PNG/JPEG file or a folder of them.")
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageInputError(f"{p} has {im.width}x{im.height} pixels, more than {MAX_PIXELS}; downscale it.")
            im.load()
            rgb = np.asarray(im.convert("RGB"))
    except UnidentifiedImageError as e:
        raise ImageInputError(f"{p} is not a readable image ({e}); expected one of {IMAGE_SUFFIXES}.") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageInputError(f"{p} could not be decoded ({e}); the file may be truncated or corrupt.") from e
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as float32 ``(3, H, W)`` RGB in [0, 1]."""
    return read_rgb_uint8(path).astype(np.float32) / 255.0


def to_uint8(image) -> np.ndarray:
    """``(3, H, W)`` values in [0, 1] -> uint8 ``(H, W, 3)`` (clipped, rounded), the protocol's quantisation."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 3 or a.shape[0] != 3:
        raise ImageInputError(f"expected an RGB image of shape (3, H, W), got {a.shape}.")
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def write_rgb(path: str | os.PathLike, image) -> Path:
    """Write ``(3, H, W)`` values in [0, 1] as an 8-bit image (format from the suffix), atomically."""
    from PIL import Image

    p = Path(path)
    a = np.asarray(image)
    if not np.isfinite(a).all():
        raise ImageInputError(f"refusing to write {p}: the image has NaN/Inf values.")
    rgb = to_uint8(a)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p, suffix=p.suffix) as tmp:
        Image.fromarray(rgb).save(tmp, format=Image.registered_extensions().get(p.suffix.lower(), "PNG"))
    return p
