# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Embedded demo inputs: synthetic rain or haze on a real photo that ships with matplotlib (no download).

The photo is matplotlib's ``grace_hopper.jpg`` sample (512 x 600). Rain is made of random streaks, motion-blurred
along one angle and added to the image (as in Rain100L's synthesis); haze follows the atmospheric scattering model
``I = J t + A (1 - t)`` with a transmission ``t = exp(-beta d)`` decaying with a depth ``d`` that grows towards the top
of the picture (as in RESIDE's synthesis).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ImageInputError
from .io import read_rgb

__all__ = ["demo_photo_path", "add_rain", "add_haze", "demo_pair"]


def demo_photo_path() -> Path:
    """matplotlib's bundled ``grace_hopper.jpg``."""
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if not path.is_file():
        raise ImageInputError(f"matplotlib's sample photo {path} is missing; reinstall matplotlib or pass input_path.")
    return path


def add_rain(
    image: np.ndarray, density: float = 0.004, length: int = 15, angle: float = 75.0, intensity: float = 0.6, seed=0
) -> np.ndarray:
    """Rain streaks: sparse random drops, blurred along a line of ``length`` pixels at ``angle`` degrees, added.

    Args:
        image: ``(3, H, W)`` in [0, 1].
        density: fraction of pixels that start a streak.
        length: streak length in pixels.
        angle: streak direction in degrees from horizontal.
        intensity: brightness added along a streak.
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    h, w = image.shape[-2:]
    drops = (rng.random((h, w)) < density).astype(np.float32) * rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for s in np.linspace(-c, c, 4 * length):
        y, x = round(c - s * math.sin(math.radians(angle))), round(c + s * math.cos(math.radians(angle)))
        k[y, x] = 1.0
    k /= k.max()
    streaks = F.conv2d(torch.from_numpy(drops)[None, None], torch.from_numpy(k)[None, None], padding=length // 2)
    streaks = (streaks[0, 0, :h, :w].clamp(0, 1) * intensity).numpy()
    return np.clip(image + streaks[None], 0.0, 1.0).astype(np.float32)


def add_haze(image: np.ndarray, beta: float = 0.8, airlight: float = 0.85) -> np.ndarray:
    """Homogeneous haze with a depth growing linearly from the bottom (0.2) to the top (1.0) of the picture."""
    h = image.shape[-2]
    depth = np.linspace(1.0, 0.2, h, dtype=np.float32)[:, None]
    t = np.exp(-beta * depth)[None]
    return np.clip(image * t + airlight * (1 - t), 0.0, 1.0).astype(np.float32)


def demo_pair(task: str) -> dict[str, object]:
    """``{"name", "path", "input", "reference"}``: the demo photo degraded for ``task`` ("derain" or "dehaze")."""
    path = demo_photo_path()
    clean = read_rgb(path)
    if task == "derain":
        degraded = add_rain(clean)
    elif task == "dehaze":
        degraded = add_haze(clean)
    else:
        raise ImageInputError(f"demo task must be 'derain' or 'dehaze', got {task!r}.")
    return {"name": f"demo_grace_hopper_{task}", "path": str(path), "input": degraded, "reference": clean}
