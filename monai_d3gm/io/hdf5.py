# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What the HDF5 readers (fastMRI, ISMRMRD/MRD) share: opening a file, listing a group, reading a string."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import MRIInputError

__all__ = ["H5_READ_ERRORS", "h5_keys", "open_h5", "read_text"]


def read_text(obj: Any) -> str | None:
    """The text of a string dataset (scalar or the first element of an array); None for a group, an empty dataspace
    or an empty array."""
    if getattr(obj, "shape", None) is None or obj.size == 0:
        return None
    raw = obj[()]
    if isinstance(raw, np.ndarray):
        raw = raw.ravel()[0]
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


#: what h5py raises for a truncated or corrupted file: I/O errors, objects that cannot be opened, and datatypes it
#: cannot map to NumPy (ValueError, TypeError; UnicodeDecodeError for corrupted names). Readers re-raise their own
#: MRIInputError (a ValueError) before catching these.
H5_READ_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


def h5_keys(group: Any) -> list[str]:
    """The member names of an HDF5 group, sorted; a name that is not UTF-8 (a corrupted file) as its repr."""
    return sorted(k if isinstance(k, str) else repr(k) for k in group.keys())


def open_h5(path: str | os.PathLike, kind: str):
    """Open ``path`` read-only with h5py, turning every failure into an :class:`MRIInputError`."""
    import h5py

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MRIInputError(f"{path}: no such file; pass the path of an existing {kind} .h5 file.")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise MRIInputError(f"{path}: the file cannot be read ({e}); check the path and its permissions.") from None
    if not is_hdf5:
        raise MRIInputError(
            f"{path}: not an HDF5 file (no HDF5 signature); a {kind} file is HDF5 (.h5). Pass a {kind} .h5 file."
        )
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise MRIInputError(
            f"{path}: the HDF5 file cannot be opened ({e}); it is probably truncated or corrupted: download or copy "
            "it again."
        ) from None
