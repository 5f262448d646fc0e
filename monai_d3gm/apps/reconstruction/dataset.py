# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training slices from image volumes (NIfTI, DICOM): the source of simulated single- and multi-coil k-space."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from monai.data import Dataset

from .errors import MRIInputError
from .io import read_dicom_series, read_nifti

__all__ = ["VolumeSliceDataset", "volume_slices"]


def volume_slices(
    path: str | os.PathLike, axis: int = -1, central_fraction: float = 0.6, min_foreground: float = 0.05
) -> list[np.ndarray]:
    """2-D slices of one volume along ``axis``, each scaled to max 1, keeping the central fraction of the slices.

    Args:
        path: a NIfTI file or a DICOM series folder.
        axis: slice axis of a NIfTI volume (DICOM series use their slice axis).
        central_fraction: keep this central fraction of the slices (the paper takes central slices; the outer ones
            hold little anatomy).
        min_foreground: drop slices whose mean intensity (after scaling) is below this fraction (near-empty slices).
    """
    p = Path(path)
    if p.is_dir():
        volume, axis = read_dicom_series(p).volume, 0
    else:
        volume, _, _ = read_nifti(p)
    if volume.ndim != 3:
        raise MRIInputError(f"{p}: training volumes must be 3-D, got shape {volume.shape}.")
    volume = np.moveaxis(volume, axis % 3, 0)
    n = volume.shape[0]
    keep = max(1, round(n * central_fraction))
    start = (n - keep) // 2
    slices = []
    for image in volume[start : start + keep]:
        peak = float(np.percentile(image, 99.8))
        if peak <= 0:
            continue
        image = np.clip(image / peak, 0.0, 1.0).astype(np.float32)
        if float(image.mean()) >= min_foreground:
            slices.append(image)
    return slices


class VolumeSliceDataset(Dataset):
    """A MONAI ``Dataset`` of ``{"image": slice (H, W)}`` items from NIfTI volumes or DICOM series.

    Args:
        paths: volume files / DICOM folders, or one folder whose ``*.nii``/``*.nii.gz`` files are all used.
        transform: the chain that simulates k-space and builds the network's inputs.
        axis: slice axis of NIfTI volumes, or several axes (e.g. ``(0, 1, 2)``: sagittal, coronal and axial slices of
            one volume, three times the training slices).
        central_fraction: central fraction of the slices to keep.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        transform: Callable | None = None,
        axis: int | Sequence[int] = -1,
        central_fraction: float = 0.6,
    ) -> None:
        axes = [axis] if isinstance(axis, int) else list(axis)
        if isinstance(paths, (str, os.PathLike)):
            root = Path(paths)
            files = (
                sorted([*root.glob("*.nii"), *root.glob("*.nii.gz")])
                if root.is_dir() and not _is_dicom(root)
                else [root]
            )
        else:
            files = [Path(p) for p in paths]
        if not files:
            raise MRIInputError(f"no NIfTI volumes found in {paths}; pass a folder of .nii/.nii.gz files or a list.")
        data = [
            {"image": s, "source": str(f)} for f in files for a in axes for s in volume_slices(f, a, central_fraction)
        ]
        if not data:
            raise MRIInputError(f"no usable slices in {[str(f) for f in files]}.")
        super().__init__(data, transform=transform)


def _is_dicom(folder: Path) -> bool:
    return any(folder.glob("*.dcm"))
