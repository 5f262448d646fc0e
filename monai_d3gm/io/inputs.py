# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Which files of a folder are MRI cases, and the name of each case's outputs."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MRIInputError
from .load import mri_format

__all__ = ["case_name", "find_mri_inputs"]


_CASE_SUFFIXES = (".h5", ".hdf5", ".mrd", ".nii", ".nii.gz", ".npy", ".mgz", ".mgh")


def find_mri_inputs(input_path: str | os.PathLike) -> list[Path]:
    """The cases of ``input_path``: the file itself, or a folder's MRI files and DICOM series (sub)folders.

    A folder with no recognised file inside is read as one DICOM series.
    """
    p = Path(input_path)
    if not p.is_dir():
        mri_format(p)  # raises a clear error for a missing or unknown file
        return [p]
    cases: list[Path] = []
    for child in sorted(p.iterdir()):
        name = child.name.lower()
        if child.name.startswith("."):
            continue
        if child.is_dir() and any(c.is_file() and mri_format(c) == "dicom" for c in child.iterdir() if _maybe_dicom(c)):
            cases.append(child)
        elif name.endswith(_CASE_SUFFIXES):
            cases.append(child)
        elif name.endswith(".cfl"):
            cases.append(child.with_suffix(""))
        elif name.endswith(".img") and child.with_suffix(".hdr").exists():
            cases.append(child.with_suffix(".hdr"))  # an Analyze pair, read through its header
    if cases:
        return cases
    if any(f.is_file() and not f.name.startswith(".") for f in p.iterdir()):
        return [p]
    raise MRIInputError(
        f"{p} holds no MRI input: expected fastMRI/ISMRMRD .h5, BART .cfl/.hdr, k-space .npy, NIfTI or DICOM files."
    )


def _maybe_dicom(path: Path) -> bool:
    """A series folder's file that may be DICOM: a .dcm or a file without a suffix (scanner and PACS exports)."""
    return not path.name.startswith(".") and (path.suffix.lower() == ".dcm" or not path.suffix)


def case_name(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".mgz", ".mgh", ".h5", ".hdf5", ".mrd", ".npy", ".cfl", ".hdr", ".img", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
