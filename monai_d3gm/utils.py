# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Small helpers shared across the package."""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import D3GMInputError

__all__ = ["atomic_path", "finite_number"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path``, on any error it is removed.

    A crash or an exception leaves either the previous file or the new one, never a partial file. The folder of
    ``path`` must exist. The file gets the usual ``0o644`` permissions (``mkstemp`` creates it ``0o600``).

    Args:
        path: the file to write.
        suffix: kept at the end of the temporary name (writers such as nibabel pick the format from it).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def finite_number(value: object, name: str, error: type[D3GMInputError] = D3GMInputError) -> float:
    """``float(value)`` for a finite real number (Python or numpy, not a bool or a string), else raise ``error``
    naming the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    if not math.isfinite(float(value)):
        raise error(f"{name} must be a finite number, got {value!r}.")
    return float(value)
