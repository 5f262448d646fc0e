# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Transforms of the photo restoration chain (array and dictionary variants).

* :class:`LoadRGBImage` / :class:`LoadRGBImaged`: a file -> ``(3, H, W)`` float32 in [0, 1].
* :func:`check_photo` / :class:`CheckPhotod`: refuse what the restorer cannot take (shape, NaN/Inf, range).
* :class:`RandSyntheticDegradation` / :class:`RandSyntheticDegradationd`: with probability ``prob``, replace the
  degraded image by synthetic rain or haze made from the clean one (augmentation when real pairs are few).
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, Transform

from ...errors import D3GMInputError, ImageInputError
from ...physics.weather import add_haze, add_rain, check_clean_image, random_depth
from ...transforms.utils import checked_copy, init_keys
from .io import read_rgb

__all__ = [
    "CheckPhotod",
    "LoadRGBImage",
    "LoadRGBImaged",
    "RandSyntheticDegradation",
    "RandSyntheticDegradationd",
    "check_photo",
]


class LoadRGBImage(Transform):
    """A PNG/JPEG path -> ``(3, H, W)`` float32 RGB in [0, 1]; real numeric arrays pass through as float32 (uint8
    divided by 255).

    Raises:
        ImageInputError: an unreadable file (see :func:`~monai_d3gm.apps.restoration.io.read_rgb`), or an array that is
            complex or not numeric.
    """

    def __call__(self, path_or_image) -> np.ndarray:
        if isinstance(path_or_image, np.ndarray):
            if path_or_image.dtype.kind not in "biuf":
                raise ImageInputError(
                    f"LoadRGBImage takes a photo's path or a real numeric array, got an array of dtype "
                    f"{path_or_image.dtype}; pass the (3, H, W) image as uint8 or float in [0, 1]."
                )
            a = path_or_image.astype(np.float32)
            return a / 255.0 if path_or_image.dtype == np.uint8 else a
        return read_rgb(path_or_image)


class LoadRGBImaged(MapTransform):
    """Dictionary version of :class:`LoadRGBImage`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        init_keys(self, keys, allow_missing_keys, error=ImageInputError)
        self.loader = LoadRGBImage()

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = checked_copy(self, data, error=ImageInputError)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


def check_photo(image: Any) -> torch.Tensor:
    """A ``(3, H, W)`` photo in [0, 1] as a float32 tensor; anything else raises :class:`ImageInputError`."""
    mu = torch.as_tensor(np.asarray(image), dtype=torch.float32)
    if mu.ndim != 3 or mu.shape[0] != 3:
        raise ImageInputError(f"expected an RGB image of shape (3, H, W), got {tuple(mu.shape)}.")
    if mu.numel() == 0:
        raise ImageInputError(f"the image is empty (shape {tuple(mu.shape)}); pass a photo of at least 1x1 pixels.")
    if not torch.isfinite(mu).all():
        raise ImageInputError("the image contains NaN or Inf values.")
    if float(mu.min()) < 0 or float(mu.max()) > 1:
        raise ImageInputError(f"image values must lie in [0, 1], got [{float(mu.min())}, {float(mu.max())}].")
    return mu


class CheckPhotod(MapTransform):
    """Dictionary :func:`check_photo`: each key becomes a checked ``(3, H, W)`` float32 tensor."""

    def __init__(self, keys: KeysCollection = "input", allow_missing_keys: bool = False) -> None:
        init_keys(self, keys, allow_missing_keys, error=ImageInputError)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = checked_copy(self, data, error=ImageInputError)
        for key in self.key_iterator(d):
            d[key] = check_photo(d[key])
        return d


def _check_prob(prob: object) -> float:
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0 <= prob <= 1:
        raise D3GMInputError(f"prob must be a number in [0, 1] (the probability of degrading), got {prob!r}.")
    return float(prob)


class RandSyntheticDegradation(RandomizableTransform):
    """Synthetic rain (random density, length, angle, brightness and width of the streaks; on half of the images the
    mist of heavy rain) or haze (light on half of the images, dense on the others; a slightly tinted airlight of random
    brightness; a random smooth or layered scene depth, :func:`~monai_d3gm.physics.weather.random_depth`) on a clean
    ``(3, H, W)`` image in [0, 1], applied with probability ``prob``; otherwise returns None.

    Args:
        kind: "rain" or "haze".
        prob: probability of degrading.

    Raises:
        D3GMInputError: a bad ``kind`` or ``prob``; when called, a clean image that is not channel-first ``(3, H, W)``
            (or grey ``(1, H, W)``), empty, non-finite or outside [0, 1] (see
            :func:`~monai_d3gm.physics.weather.check_clean_image`).
    """

    def __init__(self, kind: str = "rain", prob: float = 0.5) -> None:
        if not isinstance(kind, str) or kind not in ("rain", "haze"):
            raise D3GMInputError(f"kind must be 'rain' or 'haze', got {kind!r}.")
        RandomizableTransform.__init__(self, _check_prob(prob))
        self.kind = kind
        self._params: dict[str, float] = {}

    def randomize(self, data=None) -> None:
        super().randomize(None)
        r = self.R
        if self.kind == "rain":
            self._params = {
                "density": float(r.uniform(0.001, 0.02)),
                "length": int(r.randint(7, 41)),
                "angle": float(r.uniform(60, 120)),
                "intensity": float(r.uniform(0.3, 0.9)),
                "seed": int(r.randint(2**31 - 1)),
                "width": int(r.randint(1, 4)),
                # heavy rain's mist (Rain100H) on half of the images
                "veil": float(r.uniform(0.05, 0.45)) if r.rand() < 0.5 else 0.0,
            }
        else:
            light = r.uniform(0.65, 1.0)
            self._params = {
                # light haze (transmission 0.45-0.8 at the farthest point) on half of the images, dense on the others;
                # none thinner, which could not be told from a clean low-contrast scene (clean pairs teach that)
                "beta": float(r.uniform(0.2, 0.8) if r.rand() < 0.5 else r.uniform(0.8, 2.5)),
                "airlight": tuple(float(np.clip(light + r.uniform(-0.05, 0.05), 0, 1)) for _ in range(3)),
                "seed": int(r.randint(2**31 - 1)),
                "layered": bool(r.rand() < 0.3),
                "near": float(r.uniform(0.0, 0.5)),
            }

    def __call__(self, clean: np.ndarray, randomize: bool = True) -> np.ndarray | None:
        img = check_clean_image(clean, "clean")  # checked even when the transform does not fire this time
        if randomize:
            self.randomize()
        if not self._do_transform:
            return None
        if self.kind == "rain":
            return add_rain(img, **self._params)
        p = self._params
        depth = random_depth(img.shape[-2:], p["seed"], p["layered"], p["near"])
        return add_haze(img, p["beta"], p["airlight"] if img.shape[0] == 3 else p["airlight"][0], depth)


class RandSyntheticDegradationd(RandomizableTransform, MapTransform):
    """With probability ``prob`` (always for items flagged by ``always_key``, e.g. clean photos without a degraded
    partner), ``data[degraded_key] = synthetic degradation of data[clean_key]``; before that, with probability
    ``clean_prob``, ``data[degraded_key] = data[clean_key]`` unchanged, whatever the item.

    The clean pairs teach the network to leave a photo alone where nothing degrades it: trained on degraded inputs
    only, a derainer learns that every input carries rain and its mist, and darkens a bright photo with light rain
    (or none) as if removing mist.

    Args:
        clean_key: the clean image.
        degraded_key: the degraded image, replaced when the transform fires.
        kind, prob: see :class:`RandSyntheticDegradation`.
        always_key: items whose value there is true are always degraded (unless drawn clean).
        clean_prob: probability of an undegraded pair (input = target).
    """

    def __init__(
        self,
        clean_key: str = "target",
        degraded_key: str = "mu",
        kind: str = "rain",
        prob: float = 0.5,
        always_key: str = "clean_only",
        clean_prob: float = 0.0,
    ):
        init_keys(self, [clean_key], error=D3GMInputError)
        RandomizableTransform.__init__(self, _check_prob(prob))
        self.clean_key, self.degraded_key, self.always_key = clean_key, degraded_key, always_key
        self.clean_prob = _check_prob(clean_prob)
        self.degrade = RandSyntheticDegradation(kind, prob=1.0)

    def set_random_state(self, seed=None, state=None) -> RandSyntheticDegradationd:
        super().set_random_state(seed, state)
        self.degrade.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = checked_copy(self, data, error=D3GMInputError)
        clean = check_clean_image(d[self.clean_key], f"data[{self.clean_key!r}]")  # checked whether it fires or not
        self.randomize(None)
        if self.clean_prob > 0 and self.R.rand() < self.clean_prob:  # no draw at 0: the old streams stay
            d[self.degraded_key] = clean.copy()
        elif self._do_transform or bool(d.get(self.always_key, False)):
            d[self.degraded_key] = self.degrade(clean)
        return d
