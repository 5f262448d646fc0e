# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Where a reconstructed slice or slab lies: its affine, and the slice ranges of a volume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import MRIInputError
from .load import MRIVolume

__all__ = ["slab_geometry", "slice_affine", "slice_ranges", "volume_slice_range"]


def slice_affine(case: Mapping[str, Any]) -> tuple[np.ndarray, int]:
    """Affine of the reconstructed slice as a one-slice volume, and the axis that has length one."""
    if "slice_affine" in case:
        return np.asarray(case["slice_affine"]), 2
    if "affine" in case:
        axis = 0 if case["format"] == "dicom" else int(case.get("slice_axis", 2))
        shift = np.eye(4)
        shift[axis, 3] = case.get("slice_index", 0)
        return np.asarray(case["affine"]) @ shift, axis
    return np.eye(4), 2


def volume_slice_range(spec: str | None, n: int) -> range:
    """The slices ``"start:stop"`` (Python slice syntax, either end optional) of a volume of ``n`` slices."""
    if spec in (None, "", ":"):
        return range(n)
    parts = str(spec).split(":")
    if len(parts) != 2:
        raise MRIInputError(f"slices must read 'start:stop' (e.g. '10:30' or ':8'), got {spec!r}.")
    try:
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise MRIInputError(f"slices must read 'start:stop' with integers, got {spec!r}.") from None
    chosen = range(n)[slice(start, stop)]
    if len(chosen) == 0:
        raise MRIInputError(f"slices {spec!r} selects nothing of a volume with {n} slices (0..{n - 1}).")
    return chosen


def slab_geometry(volume: MRIVolume, chosen: range) -> tuple[np.ndarray, int]:
    """The affine of the restored slab ``chosen`` of ``volume`` (its voxel 0 is the first chosen slice) and the slice
    axis of the output array."""
    axis = 2 if volume.slice_axis is None else volume.slice_axis
    affine = np.eye(4) if volume.affine is None else np.asarray(volume.affine, dtype=np.float64)
    shift = np.eye(4)
    shift[axis, 3] = chosen.start
    return affine @ shift, axis


def slice_ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 7]`` → ``"0-2, 7"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
