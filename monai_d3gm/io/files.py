# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Atomic output files for the writers: a temporary beside the output, renamed into place at the end."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import MRIInputError
from ..utils import atomic_path

__all__ = ["atomic_file", "write_json"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """:func:`monai_d3gm.utils.atomic_path`, with a clear error when the output folder is missing."""
    path = Path(path)
    if not path.parent.is_dir():
        raise MRIInputError(
            f"{path}: the output folder {path.parent} does not exist; create it first or choose another path."
        )
    with atomic_path(path, suffix) as tmp:
        yield tmp


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2)
