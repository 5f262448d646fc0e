# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A small synthetic restoration task (shapes, blurred and noised) for tests, examples and benchmarks."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import Dataset
from monai.data.synthetic import create_test_image_2d
from monai.transforms import GaussianSmooth

__all__ = ["make_synthetic_pairs", "SyntheticRestorationDataset"]


def make_synthetic_pairs(
    num_images: int,
    size: int = 32,
    num_objs: int = 4,
    blur_sigma: float = 1.5,
    noise_std: float = 0.05,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Pairs ``{"image": x0, "mu": y}`` of shape (1, size, size), float32 in [0, 1] (x0) and around it (y).

    x0 holds random discs of a few grey levels (MONAI's ``create_test_image_2d``); y = blur(x0) + Gaussian noise.
    The same seed gives the same pairs.
    """
    rng = np.random.RandomState(seed)
    blur = GaussianSmooth(sigma=blur_sigma)
    pairs = []
    for _ in range(num_images):
        image, _ = create_test_image_2d(
            size,
            size,
            num_objs=num_objs,
            rad_min=max(2, size // 10),
            rad_max=max(4, size // 4),
            noise_max=0.0,
            num_seg_classes=4,
            random_state=rng,
        )
        image = image[None].astype(np.float32)
        degraded = np.asarray(blur(torch.from_numpy(image)), dtype=np.float32)
        degraded = degraded + noise_std * rng.standard_normal(image.shape).astype(np.float32)
        pairs.append({"image": image, "mu": degraded})
    return pairs


class SyntheticRestorationDataset(Dataset):
    """A MONAI ``Dataset`` over :func:`make_synthetic_pairs` (so bundle-style configs can build it by name)."""

    def __init__(self, num_images: int, transform=None, **kwargs) -> None:
        super().__init__(make_synthetic_pairs(num_images, **kwargs), transform=transform)
