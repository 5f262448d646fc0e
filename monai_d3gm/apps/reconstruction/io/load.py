# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""One entry point for every supported MRI input: a path → one 2-D slice as a dictionary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import MRIInputError
from .bart import kspace_from_cfl
from .dicom import read_dicom_series
from .fastmri import read_fastmri
from .ismrmrd import noise_prewhitening_matrix, prewhiten, read_ismrmrd
from .nifti import read_nifti

__all__ = ["load_mri_slice", "mri_format"]

FORMATS = ("fastmri", "ismrmrd", "bart", "npy", "nifti", "dicom")


def mri_format(path: str | os.PathLike) -> str:
    """Name the format of ``path``: one of "fastmri", "ismrmrd", "bart", "npy", "nifti", "dicom"."""
    p = Path(path)
    if not p.exists() and not Path(f"{p}.cfl").exists():
        raise MRIInputError(f"{p} does not exist; pass an existing file or DICOM folder as the input path.")
    name = p.name.lower()
    if p.is_dir() or name.endswith(".dcm"):
        return "dicom"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".cfl", ".hdr")) or Path(f"{p}.cfl").exists():
        return "bart"
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".h5", ".hdf5", ".mrd")):
        try:
            with h5py.File(p, "r") as f:
                return "fastmri" if "kspace" in f else "ismrmrd"
        except OSError as e:
            raise MRIInputError(f"{p} is not a readable HDF5 file ({e}); is it truncated?") from e
    raise MRIInputError(
        f"{p}: unknown MRI format; supported are fastMRI/ISMRMRD .h5, BART .cfl/.hdr, complex k-space .npy "
        "(coils, H, W), NIfTI .nii/.nii.gz and DICOM series (a folder or .dcm files)."
    )


def _pick(n: int, index: int | None, what: str, path: Path) -> int:
    i = n // 2 if index is None else int(index)
    if not -n <= i < n:
        raise MRIInputError(f"{path}: {what} {i} is out of range for {n} {what}s (valid 0..{n - 1}).")
    return i % n


def load_mri_slice(path: str | os.PathLike, slice_index: int | None = None, slice_axis: int = -1) -> dict[str, Any]:
    """Read one 2-D slice of any supported MRI input.

    Args:
        path: a fastMRI or ISMRMRD ``.h5``, a BART ``.cfl``/``.hdr`` (or its base name), a complex k-space ``.npy``
            of shape (coils, H, W), a NIfTI file, or a DICOM series (folder or ``.dcm`` files).
        slice_index: the slice of a multi-slice input (default: the middle one).
        slice_axis: the axis of a NIfTI volume to slice along (default the last, axial for most scans); DICOM
            series are sliced along their slice dimension.

    Returns:
        a dictionary with "format", "path", "slice_index" and either k-space inputs — "kspace" complex64 (C, H, W),
        optionally "mask" float32 (H, W) when the file states it and "reference" float32 (H', W') — or image inputs —
        "image" float32 (H, W), "affine" 4x4 (RAS) of the volume and, for DICOM, "series" (the read series).
    """
    p = Path(path)
    fmt = mri_format(p)
    out: dict[str, Any] = {"format": fmt, "path": str(p)}
    if fmt == "fastmri":
        with h5py.File(p, "r") as f:
            n = f["kspace"].shape[0]
        i = _pick(n, slice_index, "slice", p)
        data = read_fastmri(p, slices=[i])
        kspace = data.kspace[0]
        out["kspace"] = kspace if data.is_multicoil else kspace[None]
        if data.mask is not None:
            out["mask"] = np.broadcast_to(data.mask[None, :], kspace.shape[-2:]).astype(np.float32)
        if data.reconstruction is not None:
            out["reference"] = data.reconstruction[0]
        out["slice_index"] = i
    elif fmt == "ismrmrd":
        data = read_ismrmrd(p, remove_oversampling=True)
        kspace = data.kspace
        if kspace.ndim == 4:
            i = _pick(kspace.shape[0], slice_index, "slice", p)
            kspace = kspace[i]
            out["slice_index"] = i
        if data.noise is not None:
            kspace = prewhiten(kspace, noise_prewhitening_matrix(data.noise))
        out["kspace"] = kspace.astype(np.complex64)
        out["mask"] = np.broadcast_to(data.mask[:, None], kspace.shape[-2:]).astype(np.float32)
    elif fmt in ("bart", "npy"):
        if fmt == "bart":
            kspace = kspace_from_cfl(p)
        else:
            try:
                kspace = np.load(p, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise MRIInputError(f"{p} is not a readable .npy array ({e}).") from e
            if not np.iscomplexobj(kspace):
                raise MRIInputError(f"{p} holds {kspace.dtype} values; k-space .npy files must be complex.")
            if kspace.ndim == 2:
                kspace = kspace[None]
            if kspace.ndim != 3:
                raise MRIInputError(f"{p}: k-space .npy must have shape (coils, H, W), got {kspace.shape}.")
        out["kspace"] = np.ascontiguousarray(kspace, dtype=np.complex64)
    elif fmt == "nifti":
        volume, affine, _ = read_nifti(p)
        if volume.ndim == 3:
            axis = slice_axis % 3
            i = _pick(volume.shape[axis], slice_index, "slice", p)
            volume = np.take(volume, i, axis=axis)
            out["slice_index"], out["slice_axis"] = i, axis
        out["image"], out["affine"] = np.ascontiguousarray(volume, dtype=np.float32), affine
    else:
        series = read_dicom_series(p)
        i = _pick(series.volume.shape[0], slice_index, "slice", p)
        out["image"], out["affine"], out["series"], out["slice_index"] = series.volume[i], series.affine, series, i
    if "kspace" in out and not np.isfinite(out["kspace"]).all():
        raise MRIInputError(f"{p}: the k-space contains NaN or Inf values; the file is corrupt.")
    return out
