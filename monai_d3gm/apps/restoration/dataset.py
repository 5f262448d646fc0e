# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training pairs from a folder of degraded/clean photos, held in memory once as uint8."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from monai.data import Dataset

from ...errors import ImageInputError
from .io import read_rgb_uint8
from .pairs import find_images, find_pairs

__all__ = ["PairedImageDataset"]


class PairedImageDataset(Dataset):
    """A MONAI ``Dataset`` of ``{"mu": degraded, "target": clean, "name"}`` items, uint8 ``(3, H, W)`` arrays.

    Each pair is decoded once and kept in memory as uint8; an epoch visits every pair ``repeats`` times (the same
    arrays, not copies), so a handful of large photos still gives many random patches per epoch.

    Args:
        dataset_dirs: one or more folders in a published layout (see :mod:`monai_d3gm.apps.restoration.pairs`).
        transform: the chain that crops, augments and scales the pair (random crops must use both keys).
        repeats: visits of each pair per epoch.
        exclude: names of pairs (as :func:`~monai_d3gm.apps.restoration.pairs.find_pairs` names them) left out, e.g.
            the held-out test pairs; one string is one name.
        clean_dirs: folders of clean photos without a degraded partner: each becomes an item ``{"mu": clean,
            "target": clean, "clean_only": True}``, which the chain's
            :class:`~monai_d3gm.apps.restoration.transforms.RandSyntheticDegradationd` always degrades.
        clean_repeats: visits of each clean photo per epoch (default ``repeats``).

    Raises:
        ImageInputError: no folder (or not a path), ``repeats`` not an integer >= 1, ``exclude`` not names or naming
            unknown pairs, every pair excluded, an unreadable image, or a pair whose two images differ in size (see
            also :func:`~monai_d3gm.apps.restoration.pairs.find_pairs`).
    """

    def __init__(
        self,
        dataset_dirs: str | os.PathLike | Sequence[str | os.PathLike],
        transform: Callable | None = None,
        repeats: int = 1,
        exclude: Sequence[str] = (),
        clean_dirs: Sequence[str | os.PathLike] = (),
        clean_repeats: int | None = None,
    ) -> None:
        if isinstance(dataset_dirs, (str, bytes, os.PathLike)):
            dirs = [dataset_dirs]
        elif isinstance(dataset_dirs, Iterable):
            dirs = list(dataset_dirs)
        else:
            raise ImageInputError(
                f"dataset_dirs must be a folder or a list of folders, got {type(dataset_dirs).__name__}; pass "
                "--dataset_dir with degraded/clean sub-folders."
            )
        if not dirs:
            raise ImageInputError("no dataset folder given; pass --dataset_dir with degraded/clean sub-folders.")
        for value, name in ((repeats, "repeats"), (clean_repeats, "clean_repeats")):
            if value is None and name == "clean_repeats":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ImageInputError(f"{name} must be an integer >= 1, got {value!r}.")
        if isinstance(exclude, str):
            exclude = [exclude]  # one name, not its characters
        exclude = list(exclude) if isinstance(exclude, Iterable) else exclude
        if not isinstance(exclude, list) or not all(isinstance(n, str) for n in exclude):
            raise ImageInputError(f"exclude must be a list of pair names (strings), got {exclude!r:.80}.")
        items = []
        excluded = set(exclude)
        pairs = [p for d in dirs for p in find_pairs(d)]
        unknown = excluded - {p["name"] for p in pairs}
        if unknown:
            raise ImageInputError(
                f"exclude names {sorted(unknown)} are not pairs of {dirs}; known: {[p['name'] for p in pairs]}."
            )
        for pair in pairs:
            if pair["name"] not in excluded:
                mu, target = read_rgb_uint8(pair["input"]), read_rgb_uint8(pair["target"])
                if mu.shape != target.shape:
                    raise ImageInputError(
                        f"{pair['input']} is {mu.shape[2]}x{mu.shape[1]} but its clean image {pair['target']} is "
                        f"{target.shape[2]}x{target.shape[1]}; pairs must be pixel-aligned and the same size."
                    )
                items.append({"mu": mu, "target": target, "name": pair["name"]})
        if not items:
            raise ImageInputError(f"every pair of {dirs} is excluded; nothing is left to train on.")
        self.pairs = items
        clean = [
            {"mu": image, "target": image, "name": path.stem, "clean_only": True}
            for folder in ([clean_dirs] if isinstance(clean_dirs, (str, os.PathLike)) else clean_dirs)
            for path in find_images(folder)
            for image in [read_rgb_uint8(path)]
        ]
        self.clean = clean
        clean_repeats = repeats if clean_repeats is None else clean_repeats
        data = [items[i % len(items)] for i in range(len(items) * repeats)]
        data += [clean[i % len(clean)] for i in range(len(clean) * clean_repeats)] if clean else []
        super().__init__(data, transform=transform)
