# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the weather does to a photo: rain streaks and haze, the degradations the derain and dehaze bundles learn.

Rain is made of random streaks, motion-blurred along one angle and added to the image (as in Rain100L's synthesis);
haze follows the atmospheric scattering model ``I = J t + A (1 - t)`` with a transmission ``t = exp(-beta d)``
decaying with a depth ``d``: by default one that grows towards the top of the picture (as in RESIDE's synthesis), or a
random scene depth from :func:`random_depth` (smooth, or layered like ridges behind one another).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ImageInputError

__all__ = ["add_haze", "add_rain", "check_clean_image", "random_depth"]

#: how far outside [0, 1] a clean image may stray (float round-off of resizing / rescaling)
_RANGE_TOLERANCE = 1e-3


def check_clean_image(image: object, name: str = "image") -> np.ndarray:
    """A clean photo for :func:`add_rain` / :func:`add_haze` as float32 ``(C, H, W)``, C = 3 (RGB) or 1 (grey).

    Args:
        image: the photo, channel-first, with values in [0, 1].
        name: the argument's name, for the message.

    Raises:
        ImageInputError: not a numeric array, another layout (channel-last, no channel axis, RGBA), empty, NaN/Inf,
            or values outside [0, 1] (e.g. 8-bit values); the message gives the fix.
    """
    try:
        array = np.asarray(image)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype}")
        array = array.astype(np.float32)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ImageInputError(
            f"{name} must be a real numeric array (C, H, W), got {type(image).__name__} ({err}); pass the photo."
        ) from err
    shape = array.shape
    if array.ndim != 3 or shape[0] not in (1, 3):
        hint = "an RGB photo is (3, H, W), a grey one (1, H, W)"
        if array.ndim == 3 and shape[-1] in (1, 3, 4):
            hint = "it looks channel-last: move the channels first with np.moveaxis(image, -1, 0)"
        elif array.ndim == 3 and shape[0] == 4:
            hint = "drop the alpha channel: image[:3]"
        elif array.ndim == 2:
            hint = "add the channel axis: image[None]"
        raise ImageInputError(f"{name} must have shape (3, H, W) or (1, H, W), got {shape}; {hint}.")
    if array.size == 0:
        raise ImageInputError(f"{name} of shape {shape} is empty; pass a photo with pixels.")
    if not np.isfinite(array).all():
        raise ImageInputError(f"{name} contains NaN or Inf values; clean it first.")
    low, high = float(array.min()), float(array.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ImageInputError(
            f"{name} must hold values in [0, 1], got [{low:.4g}, {high:.4g}]; scale it first (8-bit values: divide by "
            "255)."
        )
    return array


def _check_parameter(value: object, name: str, low: float, high: float = math.inf) -> float:
    """A real, finite parameter in [low, high]."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or not low <= float(value) <= high:
        raise ImageInputError(f"{name} must be a finite number in [{low}, {high}], got {value!r}.")
    return float(value)


def add_rain(
    image: np.ndarray,
    density: float = 0.004,
    length: int = 15,
    angle: float = 75.0,
    intensity: float = 0.6,
    seed=0,
    width: int = 1,
    veil: float = 0.0,
    veil_light: float = 0.85,
) -> np.ndarray:
    """Rain streaks: sparse random drops, ``width`` pixels wide, blurred along a line of ``length`` pixels at
    ``angle`` degrees and added; with ``veil`` > 0, first the mist of heavy rain (as in Rain100H): the photo is blended
    towards ``veil_light``.

    Args:
        image: ``(3, H, W)`` (or grey ``(1, H, W)``) in [0, 1].
        density: fraction of pixels that start a streak.
        length: streak length in pixels.
        angle: streak direction in degrees from horizontal.
        intensity: brightness added along a streak.
        seed: random seed.
        width: streak width in pixels (the drops are dilated to ``width`` x ``width``).
        veil: share of the mist, in [0, 1).
        veil_light: brightness of the mist.

    Raises:
        ImageInputError: a bad image (see :func:`check_clean_image`) or parameter.
    """
    image = check_clean_image(image)
    _check_parameter(density, "density", 0.0, 1.0)
    _check_parameter(angle, "angle", -math.inf, math.inf)
    _check_parameter(intensity, "intensity", -math.inf, math.inf)
    for value, name in ((length, "length"), (width, "width")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ImageInputError(f"{name} must be an integer >= 1 (pixels), got {value!r}.")
    _check_parameter(veil, "veil", 0.0, 0.99)
    _check_parameter(veil_light, "veil_light", 0.0, 1.0)
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise ImageInputError(f"seed must be None or a non-negative integer, got {seed!r}.") from err
    h, w = image.shape[-2:]
    drops = (rng.random((h, w)) < density).astype(np.float32) * rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for s in np.linspace(-c, c, 4 * length):
        y, x = round(c - s * math.sin(math.radians(angle))), round(c + s * math.cos(math.radians(angle)))
        k[y, x] = 1.0
    k /= k.max()
    drops_t = torch.from_numpy(drops)[None, None]
    if width > 1:  # thicker drops; max pooling keeps each drop's brightness
        drops_t = F.max_pool2d(drops_t, width, stride=1, padding=width // 2)[..., :h, :w]
    streaks = F.conv2d(drops_t, torch.from_numpy(k)[None, None], padding=length // 2)
    streaks = (streaks[0, 0, :h, :w].clamp(0, 1) * intensity).numpy()
    if veil > 0:
        image = image * (1 - veil) + veil * veil_light
    return np.clip(image + streaks[None], 0.0, 1.0).astype(np.float32)


def random_depth(
    shape: tuple[int, int], rng: np.random.Generator | int | None = None, layered: bool = False, near: float = 0.2
) -> np.ndarray:
    """A random scene depth in [``near``, 1] for synthetic haze: a ramp along a random direction (the ground receding
    towards the horizon) plus smooth random relief; ``layered`` cuts it into 2-4 flat layers (ridges, buildings).

    Args:
        shape: ``(H, W)``.
        rng: a numpy Generator or a seed.
        layered: piecewise-constant layers instead of a smooth depth.
        near: the depth of the nearest point, in [0, 1].

    Raises:
        ImageInputError: a bad shape, seed or ``near``.
    """
    if len(shape) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
        raise ImageInputError(f"shape must be (H, W) with positive integers, got {shape!r}.")
    _check_parameter(near, "near", 0.0, 1.0)
    try:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    except (TypeError, ValueError) as err:
        raise ImageInputError(f"rng must be a numpy Generator, None or a non-negative integer, got {rng!r}.") from err
    h, w = int(shape[0]), int(shape[1])
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    angle = rng.uniform(-0.6, 0.6)  # mostly farther towards the top
    ramp = -(y * math.cos(angle) + x * math.sin(angle))
    coarse = torch.from_numpy(rng.standard_normal((1, 1, 4, 4)).astype(np.float32))
    relief = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)[0, 0].numpy()
    depth = ramp + rng.uniform(0.2, 0.8) * relief
    depth = (depth - depth.min()) / max(float(np.ptp(depth)), 1e-6)
    if layered:
        layers = int(rng.integers(2, 5))
        depth = np.minimum(np.floor(depth * layers), layers - 1) / max(layers - 1, 1)
    return (near + (1 - near) * depth).astype(np.float32)


def add_haze(
    image: np.ndarray,
    beta: float = 0.8,
    airlight: float | tuple[float, ...] = 0.85,
    depth: np.ndarray | None = None,
) -> np.ndarray:
    """Haze by the atmospheric scattering model ``I = J t + A (1 - t)``, ``t = exp(-beta depth)``.

    Args:
        image: ``(3, H, W)`` (or grey ``(1, H, W)``) in [0, 1].
        beta: haze thickness (scattering coefficient), >= 0.
        airlight: brightness of the haze, one value or one per channel.
        depth: ``(H, W)`` scene depth (:func:`random_depth`); by default it grows linearly from the bottom (0.2) to the
            top (1.0) of the picture.

    Raises:
        ImageInputError: a bad image (see :func:`check_clean_image`) or parameter.
    """
    image = check_clean_image(image)
    _check_parameter(beta, "beta", 0.0)
    light = np.asarray(airlight, dtype=np.float64).reshape(-1)
    if light.size not in (1, image.shape[0]) or not np.isfinite(light).all():
        raise ImageInputError(f"airlight must be one finite value or one per channel, got {airlight!r}.")
    h, w = image.shape[-2:]
    if depth is None:
        depth = np.broadcast_to(np.linspace(1.0, 0.2, h, dtype=np.float32)[:, None], (h, w))
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (h, w) or not np.isfinite(depth).all():
        raise ImageInputError(f"depth must be a finite (H, W) = {(h, w)} map, got shape {depth.shape}.")
    t = np.exp(-beta * depth)[None]
    light = light.astype(np.float32)[:, None, None]
    return np.clip(image * t + light * (1 - t), 0.0, 1.0).astype(np.float32)
