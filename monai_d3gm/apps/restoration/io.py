# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Read and write RGB photos (PNG, JPEG, ...) as channel-first arrays in [0, 1]."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ImageInputError
from ...utils import atomic_path

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "read_rgb", "read_rgb_uint8", "write_rgb", "to_uint8"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: refuse images beyond this many pixels (PIL's decompression-bomb limit is ~89 M)
MAX_PIXELS = 200_000_000


def as_path(
    path: object,
    what: str = "a photo",
    fix: str = "pass a PNG/JPEG file name (or, to the transforms, a (3, H, W) array)",
) -> Path:
    """``path`` as a :class:`~pathlib.Path`; anything but a str, bytes or path-like raises :class:`ImageInputError`
    saying that the path of ``what`` was expected, and ``fix``."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise ImageInputError(f"expected the path of {what}, got {type(path).__name__} {path!r:.60}; {fix}.")
    return Path(path)


def _to_rgb(im: Image.Image, p: Path) -> np.ndarray:
    """An opened PIL image -> uint8 ``(H, W, 3)``; 16-bit grey (and 32-bit grey within [0, 65535]) is scaled by
    1/257 and float grey within [0, 1] by 255, where PIL's ``convert("RGB")`` would clip them to 255 or 1."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if im.mode == "F" and np.isfinite(a).all() and 0.0 <= lo and hi <= 1.0:
            grey = a * 255.0
        elif im.mode != "F" and 0.0 <= lo and hi <= 65535.0:
            grey = a / 257.0
        else:
            raise ImageInputError(
                f"{p} is a {'32-bit float' if im.mode == 'F' else '32-bit integer'} grey image with values in "
                f"[{lo:g}, {hi:g}], which has no 8-bit scale; save it as an 8- or 16-bit PNG first."
            )
        grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB"))


def read_rgb_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as uint8 ``(3, H, W)`` RGB (grey-scale and palette images are converted, alpha is dropped; 16-bit
    grey is scaled to 8 bits).

    Raises:
        ImageInputError: not a path, missing file, not an image, truncated or unreadable file, no pixels, too many
            pixels, or a 32-bit grey image whose values have no 8-bit scale.
    """
    from PIL import Image, UnidentifiedImageError

    p = as_path(path)
    if not p.is_file():
        raise ImageInputError(f"{p} does not exist or is not a file; pass a PNG/JPEG file or a folder of them.")
    try:
        with Image.open(p) as im:
            if im.width < 1 or im.height < 1:
                raise ImageInputError(f"{p} has {im.width}x{im.height} pixels: the image is empty.")
            if im.width * im.height > MAX_PIXELS:
                raise ImageInputError(f"{p} has {im.width}x{im.height} pixels, more than {MAX_PIXELS}; downscale it.")
            im.load()
            rgb = _to_rgb(im, p)
    except ImageInputError:
        raise
    except UnidentifiedImageError as e:
        raise ImageInputError(f"{p} is not a readable image ({e}); expected one of {IMAGE_SUFFIXES}.") from e
    except Image.DecompressionBombError as e:
        raise ImageInputError(f"{p} has too many pixels ({e}); downscale it.") from e
    except Exception as e:  # PIL's decoders raise OSError, SyntaxError, ValueError, EOFError, struct.error...
        raise ImageInputError(
            f"{p} could not be decoded ({type(e).__name__}: {e}); the file may be truncated or corrupt."
        ) from e
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.size == 0:
        raise ImageInputError(f"{p} decoded to an array of shape {rgb.shape}, not (H, W, 3); the file is corrupt.")
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as float32 ``(3, H, W)`` RGB in [0, 1] (see :func:`read_rgb_uint8`)."""
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
