# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reader and writer of BART ``.cfl``/``.hdr`` pairs.

``x.hdr`` is text: a ``# Dimensions`` line, then the dims on the next line (``1 230 180 8 1``). ``x.cfl`` is raw
complex64 (interleaved little-endian float32 real/imag) in column-major (Fortran) order. BART dims are
``[READ, PHS1, PHS2, COIL, MAPS, ...]``.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import numpy as np

from ..errors import MRIInputError
from .files import atomic_file

__all__ = ["kspace_from_cfl", "read_cfl", "write_cfl"]

_COMPLEX = np.dtype("<c8")
#: the most dims a header may list (BART itself uses 16; NumPy arrays have at most 32 dims in NumPy 1.x)
_MAX_DIMS = 32


def _base(base: str | os.PathLike) -> str:
    """``x``, ``x.cfl`` or ``x.hdr`` -> ``x``."""
    base = os.fspath(base)
    root, ext = os.path.splitext(base)
    return root if ext.lower() in (".cfl", ".hdr") else base


def _read_dims(hdr: str) -> list[int]:
    """Dims from a BART ``.hdr`` (the line after ``# Dimensions``, else line 2)."""
    try:
        with open(hdr, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except OSError as e:
        raise MRIInputError(f"{hdr}: the BART header cannot be read ({e}); check the path and permissions.") from None
    line = None
    for i, text in enumerate(lines):
        if text.lower().startswith("# dimensions") and i + 1 < len(lines):
            line = lines[i + 1]
            break
    if line is None and len(lines) >= 2:
        line = lines[1]
    try:
        dims = [int(v) for v in (line or "").split()]
    except ValueError:
        dims = []
    if not dims or any(d < 0 for d in dims):
        raise MRIInputError(
            f"{hdr}: the BART header cannot be parsed (expected '# Dimensions' then a line of non-negative "
            f"integers, got {line!r}); the .hdr is corrupted or not a BART header."
        )
    if len(dims) > _MAX_DIMS:
        raise MRIInputError(
            f"{hdr}: the BART header lists {len(dims)} dims; at most {_MAX_DIMS} are supported (BART uses 16). The "
            ".hdr is corrupted: write the array again."
        )
    return dims


def read_cfl(base: str | os.PathLike, squeeze: bool = False) -> np.ndarray:
    """Read a BART ``.cfl``/``.hdr`` pair.

    Args:
        base: ``"x"``, ``"x.cfl"`` or ``"x.hdr"``.
        squeeze: drop the trailing singleton dims (BART's own dims are kept by default).

    Returns:
        complex64 array with BART's dims (e.g. ``(1, 230, 180, 8)``), in Fortran order.

    Raises:
        MRIInputError: missing ``.hdr`` or ``.cfl``, unparsable header, ``.cfl`` size not matching the dims.
    """
    base = _base(base)
    hdr, cfl = base + ".hdr", base + ".cfl"
    for name, other in ((hdr, ".cfl"), (cfl, ".hdr")):
        if not os.path.isfile(name):
            raise MRIInputError(
                f"{name}: missing; a BART array is a pair of files, {os.path.basename(base)}.hdr (dims) and "
                f"{os.path.basename(base)}.cfl (data). Put the {os.path.splitext(name)[1]} beside the {other}."
            )
    dims = _read_dims(hdr)
    count = math.prod(dims)  # Python ints: a corrupted header's huge dims cannot overflow
    expected = count * _COMPLEX.itemsize
    found = os.path.getsize(cfl)
    if found != expected:
        raise MRIInputError(
            f"{cfl}: size mismatch ({'truncated' if found < expected else 'too long'}): expected {expected} bytes "
            f"(dims {dims} in {os.path.basename(hdr)} = {count} complex64 values), found {found} bytes; copy the file "
            "again or fix the header."
        )
    try:
        data = np.fromfile(cfl, dtype=_COMPLEX, count=count)
    except OSError as e:
        raise MRIInputError(f"{cfl}: the BART data cannot be read ({e}).") from None
    array = data.astype(np.complex64, copy=False).reshape(dims, order="F")
    if squeeze:
        while array.ndim > 1 and array.shape[-1] == 1:
            array = array[..., 0]
    return array


def write_cfl(base: str | os.PathLike, array: np.ndarray) -> tuple[Path, Path]:
    """Write ``array`` as a BART ``.cfl``/``.hdr`` pair, atomically (temporary files, then ``os.replace``).

    Args:
        base: ``"x"``, ``"x.cfl"`` or ``"x.hdr"``.
        array: any numeric array (stored as complex64, Fortran order); its dims are written as they are.

    Returns:
        the ``(.hdr, .cfl)`` paths.

    Raises:
        MRIInputError: non-numeric array or missing output folder; nothing is written then.
    """
    base = _base(base)
    array = np.asarray(array)
    if array.dtype.kind not in "biufc":
        raise MRIInputError(f"write_cfl({base}): array of dtype {array.dtype} is not numeric; pass a complex array.")
    if array.ndim == 0:
        array = array.reshape(1)
    dims = " ".join(str(d) for d in array.shape)
    data = np.asarray(array, dtype=_COMPLEX).ravel(order="F")
    hdr, cfl = Path(base + ".hdr"), Path(base + ".cfl")
    with contextlib.ExitStack() as stack:
        tmp_cfl = stack.enter_context(atomic_file(cfl))
        tmp_hdr = stack.enter_context(atomic_file(hdr))
        data.tofile(tmp_cfl)
        with open(tmp_hdr, "w", encoding="utf-8") as f:
            f.write(f"# Dimensions\n{dims} \n")
    return hdr, cfl


def kspace_from_cfl(base: str | os.PathLike) -> np.ndarray:
    """Read 2-D multi-coil k-space stored in BART's layout ``[1, PHS1, PHS2, COIL]`` as ``(coils, H, W)``.

    Args:
        base: ``"x"``, ``"x.cfl"`` or ``"x.hdr"``.

    Returns:
        complex64 C-contiguous ``(coils, PHS1, PHS2)`` (1 coil when the file has 3 dims).

    Raises:
        MRIInputError: as :func:`read_cfl`, plus READ != 1 (3-D data), non-singleton dims after COIL (several maps,
            time frames...), a zero dim (no k-space), or NaN/Inf values.
    """
    array = read_cfl(base)
    name = _base(base) + ".cfl"
    dims = list(array.shape) + [1] * max(0, 4 - array.ndim)
    if dims[0] != 1 or any(d != 1 for d in dims[4:]):
        raise MRIInputError(
            f"{name}: BART dims {list(array.shape)} are not the 2-D multi-coil layout [1, PHS1, PHS2, COIL]; "
            "take a 2-D slice first (e.g. `bart fft -i 1` + `bart slice 0 <n>`), or use read_cfl() for other layouts."
        )
    if array.size == 0:
        raise MRIInputError(
            f"{name}: BART dims {list(array.shape)} include 0, so the file holds no k-space; write a non-empty array."
        )
    kspace = np.ascontiguousarray(np.moveaxis(array.reshape(dims[1:4], order="F"), -1, 0))
    if not np.isfinite(kspace).all():
        raise MRIInputError(f"{name}: the k-space has NaN or Inf values; the file is corrupted.")
    return kspace
