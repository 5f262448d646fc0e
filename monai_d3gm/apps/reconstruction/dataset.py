# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training slices from image volumes (NIfTI, DICOM): the source of simulated single- and multi-coil k-space."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from monai.data import Dataset

from ...errors import MRIInputError
from ...io import read_dicom_series, read_nifti

__all__ = ["VolumeSliceDataset", "volume_slices", "spread_slices", "split_volumes", "bundle_volumes", "volume_files"]


def volume_slices(
    path: str | os.PathLike,
    axis: int = -1,
    central_fraction: float = 0.6,
    min_foreground: float = 0.05,
    slice_step: int = 1,
) -> list[np.ndarray]:
    """2-D slices of one volume along ``axis``, each scaled to max 1, keeping the central fraction of the slices.

    Args:
        path: a NIfTI file or a DICOM series folder.
        axis: slice axis of a NIfTI volume (DICOM series use their slice axis).
        central_fraction: keep this central fraction of the slices (the paper takes central slices; the outer ones
            hold little anatomy).
        min_foreground: drop slices whose mean intensity (after scaling) is below this fraction (near-empty slices).
        slice_step: keep every ``slice_step``-th slice (neighbouring slices of a 1 mm volume are nearly alike).
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
    for image in volume[start : start + keep : max(1, int(slice_step))]:
        peak = float(np.percentile(image, 99.8))
        if peak <= 0:
            continue
        image = np.clip(image / peak, 0.0, 1.0).astype(np.float32)
        if float(image.mean()) >= min_foreground:
            slices.append(image)
    return slices


def spread_slices(volume: Mapping, count: int) -> list[tuple[int, np.ndarray]]:
    """``count`` evenly spaced ``(index, slice)`` of :func:`volume_slices` (the central 60 %) of a split entry
    ``{"path", "axes"}``, along its first listed axis: the held-out slices validation and benchmarks score."""
    slices = volume_slices(volume["path"], list(volume.get("axes", [-1]))[0])
    picks = np.linspace(0, len(slices) - 1, count + 2).round().astype(int)[1:-1]
    return [(int(i), slices[i]) for i in picks]


def split_volumes(split_file: str | os.PathLike, split: str, data_root: str | os.PathLike) -> list[dict]:
    """The volumes of one part of a person-level split file (the bundle's ``configs/data_split.json``).

    Args:
        split_file: JSON with lists "train", "validation", "benchmark" of ``{"path", "person", "license", "axes"}``
            entries; paths are relative to ``data_root``.
        split: which list.
        data_root: the folder the paths are relative to (``shared/data``).

    Returns:
        the entries with absolute paths, ready for :class:`VolumeSliceDataset`.
    """
    with open(split_file) as f:
        table = json.load(f)
    if split not in table:
        raise MRIInputError(f"{split_file} has no part {split!r}; it has {[k for k in table if k != 'description']}.")
    entries = [dict(e, path=str(Path(data_root) / e["path"])) for e in table[split]]
    missing = [e["path"] for e in entries if not Path(e["path"]).exists()]
    if missing:
        raise MRIInputError(
            f"{len(missing)} volume(s) of the {split!r} split are missing, e.g. {missing[0]}; point data_root at the "
            "shared/data folder that holds them."
        )
    return entries


def volume_files(path: str | os.PathLike) -> list[Path]:
    """The volumes at ``path``: the ``*.nii``/``*.nii.gz`` files of a folder, a DICOM series folder, or one file."""
    root = Path(path)
    if root.is_dir() and not _is_dicom(root):
        files = sorted([*root.glob("*.nii"), *root.glob("*.nii.gz")])
        if not files:
            raise MRIInputError(f"no NIfTI volumes found in {root}; pass a folder of .nii/.nii.gz files or a list.")
        return files
    if not root.exists():
        raise MRIInputError(f"{root}: no such file or folder; pass a NIfTI volume, a DICOM folder or a folder of them.")
    return [root]


def bundle_volumes(data_dir: str | os.PathLike, split_file: str | os.PathLike, split: str) -> list[dict]:
    """The volumes a bundle trains or validates on.

    When ``data_dir`` holds the volumes of ``split_file`` (the project's ``shared/data``), the ``split`` part of the
    person-level split; otherwise every volume at ``data_dir`` (your own folder of NIfTI files, a DICOM series or one
    file), for training and validation alike: give your own split file to validate on other people.
    """
    root = Path(data_dir)
    if root.is_dir() and Path(split_file).is_file():
        with open(split_file) as f:
            table = json.load(f)
        if table.get(split) and all((root / e["path"]).exists() for e in table[split]):
            return split_volumes(split_file, split, root)
    return [{"path": str(f)} for f in volume_files(root)]


class VolumeSliceDataset(Dataset):
    """A MONAI ``Dataset`` of ``{"image": slice (H, W)}`` items from NIfTI volumes or DICOM series.

    Args:
        paths: volume files / DICOM folders, one folder whose ``*.nii``/``*.nii.gz`` files are all used, or entries
            ``{"path": ..., "axes": [...]}`` (e.g. from :func:`split_volumes`) that choose the slice axes per volume;
            an entry may also set its own "central_fraction" and "slice_step", and "repeat" its slices (to weigh a
            rare anatomy up).
        transform: the chain that simulates k-space and builds the network's inputs.
        axis: slice axis of NIfTI volumes, or several axes (e.g. ``(0, 1, 2)``: sagittal, coronal and axial slices of
            one volume, three times the training slices); entries with "axes" override it.
        central_fraction: central fraction of the slices to keep.
        slice_step: keep every ``slice_step``-th slice.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike | Mapping],
        transform: Callable | None = None,
        axis: int | Sequence[int] = -1,
        central_fraction: float = 0.6,
        slice_step: int = 1,
    ) -> None:
        axes = [axis] if isinstance(axis, int) else list(axis)
        files = volume_files(paths) if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not files:
            raise MRIInputError("the list of volumes is empty; pass a folder of .nii/.nii.gz files or a list.")
        data = []
        for f in files:
            entry = dict(f) if isinstance(f, Mapping) else {"path": f}
            path = Path(entry["path"])
            for a in entry.get("axes", axes):
                picked = volume_slices(
                    path,
                    a,
                    entry.get("central_fraction", central_fraction),
                    slice_step=entry.get("slice_step", slice_step),
                )
                data += [{"image": s, "source": str(path)} for s in picked] * int(entry.get("repeat", 1))
        if not data:
            raise MRIInputError(f"no usable slices in {[str(f) for f in files]}.")
        super().__init__(data, transform=transform)


def _is_dicom(folder: Path) -> bool:
    return any(folder.glob("*.dcm"))
