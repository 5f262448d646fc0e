# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reader and writer of fastMRI ``.h5`` files (single-coil and multi-coil k-space).

A fastMRI file holds ``kspace`` (complex64, ``(slices, H, W)`` single-coil or ``(slices, coils, H, W)`` multi-coil),
a reference image ``reconstruction_esc`` (single-coil) or ``reconstruction_rss`` (multi-coil) of ``(slices, 320, 320)``
float32, for the test/challenge sets a 1-D sampling ``mask`` along the last (phase-encoding) axis, the ISMRMRD XML
header under ``ismrmrd_header`` and attributes such as ``acquisition``, ``max``, ``norm`` and ``patient_id``.

Volumes can be gigabytes: :func:`read_fastmri` reads only the requested slices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRIInputError
from .files import atomic_file
from .hdf5 import H5_READ_ERRORS, h5_keys, open_h5, read_text
from .ismrmrd import parse_ismrmrd_header

__all__ = ["FastMRIData", "read_fastmri", "write_fastmri"]

_RECONSTRUCTION_KEYS = ("reconstruction_rss", "reconstruction_esc")


@dataclass
class FastMRIData:
    """The content of a fastMRI file (the requested slices only).

    Attributes:
        kspace: complex64 ``(slices, H, W)`` single-coil or ``(slices, coils, H, W)`` multi-coil.
        reconstruction: float32 ``(slices, h, w)`` reference image, or None.
        reconstruction_key: ``"reconstruction_rss"`` or ``"reconstruction_esc"`` (None without a reference).
        mask: float32 ``(W,)`` 1-D sampling mask along the last axis (test/challenge files), or None.
        attrs: the file's HDF5 attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ``padding_left``, ...).
        ismrmrd_header: the ``ismrmrd_header`` XML text, or None.
        header: fields parsed from ``ismrmrd_header`` (see
            :func:`~monai_d3gm.io.ismrmrd.parse_ismrmrd_header`); ``encoding_size`` and
            ``recon_size`` are copied into ``attrs`` when the file has no such attributes.
        slices: the slice indices read, in the order of the first axis.
        num_slices: number of slices in the file.
    """

    kspace: np.ndarray
    reconstruction: np.ndarray | None = None
    reconstruction_key: str | None = None
    mask: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    ismrmrd_header: str | None = None
    header: dict[str, Any] | None = None
    slices: list[int] = field(default_factory=list)
    num_slices: int = 0

    @property
    def is_multicoil(self) -> bool:
        """True for ``(slices, coils, H, W)`` k-space."""
        return self.kspace.ndim == 4


def _slice_indices(slices: int | slice | Sequence[int] | None, n: int, path: str) -> list[int]:
    """Turn the ``slices`` argument into a list of slice indices in ``[0, n)``."""
    if slices is None:
        return list(range(n))
    if isinstance(slices, slice):
        try:
            return list(range(n))[slices]
        except (TypeError, ValueError) as e:  # a zero or non-integer step, non-integer bounds
            raise MRIInputError(
                f"{path}: slices={slices!r} is not a valid slice ({e}); use integer bounds and a non-zero step."
            ) from None
    try:
        items = [slices] if np.isscalar(slices) else list(slices)
    except TypeError:
        raise MRIInputError(
            f"{path}: slices={slices!r} is not a slice index; pass an int, a sequence of ints, a slice or None."
        ) from None
    out = []
    for s in items:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise MRIInputError(f"{path}: slice index {s!r} is not an integer; pass ints, a slice or None.")
        if not -n <= int(s) < n:
            raise MRIInputError(
                f"{path}: slice {int(s)} is out of range; the file has {n} slices (valid indices 0..{n - 1})."
            )
        out.append(int(s) % n)
    return out


def _read_rows(dset: Any, rows: list[int]) -> np.ndarray:
    """Read ``dset[rows]`` lazily; h5py needs increasing, unique indices, so read sorted and reorder."""
    if not rows:
        return np.zeros((0, *dset.shape[1:]), dtype=dset.dtype)
    if rows == list(range(rows[0], rows[-1] + 1)):
        return dset[rows[0] : rows[-1] + 1]
    unique = sorted(set(rows))
    data = dset[unique]
    return data[[unique.index(r) for r in rows]]


def _dataset(f: Any, key: str, path: str, expected: str) -> Any:
    """``f[key]`` when it is an HDF5 dataset with a shape; None when absent; MRIInputError for a group or a dataset
    with an empty (null) dataspace. ``expected`` says what the dataset should hold, for the message."""
    if key not in f:
        return None
    dset = f[key]
    if getattr(dset, "shape", None) is None:
        what = "an HDF5 group" if hasattr(dset, "keys") else "an HDF5 dataset with no dataspace (no values)"
        raise MRIInputError(f"{path}: '{key}' is {what}, not an array; a fastMRI file holds {expected} there.")
    return dset


def _kspace_dataset(f: Any, path: str) -> Any:
    """The ``kspace`` dataset of an open fastMRI file, checked: present, complex, 3-D or 4-D, not empty."""
    ks = _dataset(f, "kspace", path, "complex64 (slices, [coils,] H, W) k-space")
    if ks is None:
        raise MRIInputError(
            f"{path}: missing HDF5 dataset 'kspace' (keys found: {h5_keys(f)}); a fastMRI file holds the "
            "k-space under 'kspace'. Pass a fastMRI .h5 file, or write one with write_fastmri()."
        )
    if ks.dtype.kind in "biuf":
        raise MRIInputError(
            f"{path}: 'kspace' is real-valued ({ks.dtype}, shape {ks.shape}); fastMRI stores complex64 k-space. "
            "If the last axis holds (real, imag), convert with kspace[..., 0] + 1j * kspace[..., 1] and write "
            "the file again."
        )
    if ks.dtype.kind != "c":
        raise MRIInputError(
            f"{path}: 'kspace' holds {ks.dtype} values, not complex numbers; fastMRI stores complex64 k-space. Write "
            "the file again with write_fastmri()."
        )
    if ks.ndim not in (3, 4):
        raise MRIInputError(
            f"{path}: 'kspace' has shape {ks.shape} ({ks.ndim}-D); fastMRI k-space is (slices, H, W) single-coil "
            "or (slices, coils, H, W) multi-coil. Add the slice axis (kspace[None]) for a single 2-D slice."
        )
    if ks.size == 0:
        raise MRIInputError(
            f"{path}: 'kspace' has shape {ks.shape}, with a zero-size axis, so it holds no k-space; pass a file with "
            "at least one non-empty slice."
        )
    return ks


def fastmri_num_slices(path: str | os.PathLike) -> int:
    """The number of slices of a fastMRI file, after the checks of :func:`read_fastmri` on its ``kspace`` dataset.

    Raises:
        MRIInputError: as :func:`read_fastmri` for the file and its ``kspace`` dataset.
    """
    path = os.fspath(path)
    with open_h5(path, "fastMRI") as f:
        try:
            return int(_kspace_dataset(f, path).shape[0])
        except MRIInputError:
            raise
        except H5_READ_ERRORS as e:
            raise MRIInputError(
                f"{path}: reading the HDF5 data failed ({type(e).__name__}: {e}); the file is probably truncated or "
                "corrupted."
            ) from None


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_fastmri(path: str | os.PathLike, slices: int | slice | Sequence[int] | None = None) -> FastMRIData:
    """Read a fastMRI ``.h5`` file (only the requested slices).

    Args:
        path: the fastMRI file.
        slices: which slices to read: None (all), an int, a ``slice`` or a sequence of ints (negative allowed).

    Returns:
        :class:`FastMRIData` with ``kspace`` complex64 ``(slices, H, W)`` or ``(slices, coils, H, W)``.

    Raises:
        MRIInputError: not an HDF5 file, truncated file, missing ``kspace``, k-space that is not complex, wrong ndim
            or empty, NaN or Inf in the k-space that was read, a ``mask`` that is not 1-D 0/1 along the last axis, a
            reference image that is not a finite real ``(slices, h, w)`` array, a bad or out-of-range ``slices``.
    """
    path = os.fspath(path)
    with open_h5(path, "fastMRI") as f:
        try:
            ks = _kspace_dataset(f, path)
            rows = _slice_indices(slices, ks.shape[0], path)
            with np.errstate(over="ignore", invalid="ignore"):  # complex128 beyond complex64: Inf, refused below
                kspace = _read_rows(ks, rows).astype(np.complex64, copy=False)
            rec_key, reconstruction = _read_reference(f, path, ks.shape[0], rows)
            mask = _read_mask(f, path)
            xml = read_text(f["ismrmrd_header"]) if "ismrmrd_header" in f else None
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
        except MRIInputError:
            raise
        except H5_READ_ERRORS as e:
            raise MRIInputError(
                f"{path}: reading the HDF5 data failed ({type(e).__name__}: {e}); the file is probably truncated or "
                "corrupted."
            ) from None
    _validate_read(path, kspace, rows, mask, rec_key, reconstruction)
    header = _header_or_none(xml, path)
    if header is not None:
        attrs.setdefault("encoding_size", header["encoded_matrix"])
        attrs.setdefault("recon_size", header["recon_matrix"])
    return FastMRIData(
        kspace=kspace,
        reconstruction=reconstruction,
        reconstruction_key=rec_key,
        mask=mask,
        attrs=attrs,
        ismrmrd_header=xml,
        header=header,
        slices=rows,
        num_slices=int(ks.shape[0]),
    )


def _read_reference(f: Any, path: str, num_slices: int, rows: list[int]) -> tuple[str | None, np.ndarray | None]:
    """The name of the file's reference image dataset and its ``rows`` as float32, (None, None) without one."""
    rec_key = next((k for k in _RECONSTRUCTION_KEYS if k in f), None)
    if rec_key is None:
        return None, None
    rec = _dataset(f, rec_key, path, "the real (slices, h, w) reference image")
    if rec.dtype.kind not in "biuf" or rec.ndim != 3:
        raise MRIInputError(
            f"{path}: '{rec_key}' has shape {rec.shape} ({rec.dtype}); the reference image is a real "
            f"(slices, h, w) array. Fix it, or drop '{rec_key}' from the file."
        )
    if rec.shape[0] != num_slices:
        raise MRIInputError(
            f"{path}: '{rec_key}' has {rec.shape[0]} slices but 'kspace' has {num_slices}; the file is inconsistent."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return rec_key, _read_rows(rec, rows).astype(np.float32, copy=False)


def _read_mask(f: Any, path: str) -> np.ndarray | None:
    """The file's sampling mask as float32, None without one."""
    mask_dset = _dataset(f, "mask", path, "the 1-D 0/1 sampling mask")
    if mask_dset is None:
        return None
    if mask_dset.dtype.kind not in "biuf":
        raise MRIInputError(
            f"{path}: 'mask' holds {mask_dset.dtype} values; a fastMRI mask holds 0/1 numbers. Fix or drop the mask."
        )
    return np.asarray(mask_dset[()], dtype=np.float32)


def _validate_read(
    path: str,
    kspace: np.ndarray,
    rows: list[int],
    mask: np.ndarray | None,
    rec_key: str | None,
    reconstruction: np.ndarray | None,
) -> None:
    """The values read: finite k-space and reference, a 1-D 0/1 mask along the last k-space axis."""
    if not np.isfinite(kspace).all():
        bad = "NaN" if np.isnan(kspace).any() else "Inf"
        raise MRIInputError(
            f"{path}: the k-space has {bad} values (slices {rows[:8]}{'...' if len(rows) > 8 else ''}); the file is "
            "corrupted. Re-download or re-create it."
        )
    if mask is not None and mask.shape != (kspace.shape[-1],):
        raise MRIInputError(
            f"{path}: 'mask' has shape {mask.shape}, but a fastMRI mask is 1-D along the last k-space axis "
            f"({kspace.shape[-1]},); fix or drop the mask."
        )
    if mask is not None and not np.isin(mask, (0, 1)).all():
        raise MRIInputError(
            f"{path}: 'mask' has values other than 0 and 1 (e.g. {mask[~np.isin(mask, (0, 1))][0]}); a fastMRI mask "
            "marks each phase-encoding line as sampled (1) or not (0). Fix or drop the mask."
        )
    if reconstruction is not None and not np.isfinite(reconstruction).all():
        raise MRIInputError(
            f"{path}: '{rec_key}' has NaN or Inf values (or values beyond float32) in the slices read; the reference "
            "image is corrupted. Drop it or write it again."
        )


def _header_or_none(xml: str | None, path: str) -> dict[str, Any] | None:
    """The parsed ISMRMRD header of the file, None when it has none or it does not parse (it is optional here)."""
    if xml is None:
        return None
    try:
        return parse_ismrmrd_header(xml, source=f"{path}:ismrmrd_header")
    except MRIInputError:
        return None


def write_fastmri(
    path: str | os.PathLike,
    kspace: np.ndarray,
    reconstruction: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
    mask: np.ndarray | None = None,
    reconstruction_key: str | None = None,
    ismrmrd_header: str | None = None,
) -> Path:
    """Write a fastMRI-style ``.h5`` file atomically (a temporary file in the same folder, then ``os.replace``).

    Args:
        path: the output file.
        kspace: complex ``(slices, H, W)`` single-coil or ``(slices, coils, H, W)`` multi-coil; stored as complex64.
        reconstruction: optional ``(slices, h, w)`` reference image, stored as float32.
        attrs: HDF5 attributes (e.g. ``{"acquisition": "CORPD_FBK", "max": ..., "norm": ...}``); ``max`` and ``norm``
            of the reconstruction are added when absent.
        mask: optional 1-D sampling mask ``(W,)`` along the last axis.
        reconstruction_key: ``"reconstruction_esc"`` or ``"reconstruction_rss"``; default ``_rss`` for multi-coil and
            ``_esc`` for single-coil k-space.
        ismrmrd_header: optional ISMRMRD XML header text.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        MRIInputError: real-valued or non-finite k-space, wrong ndim, inconsistent reconstruction or mask, bad key;
            nothing is written then.
    """
    import h5py

    path = Path(path)
    kspace = _validate_kspace_to_write(path, kspace)
    if reconstruction_key is None:
        reconstruction_key = "reconstruction_rss" if kspace.ndim == 4 else "reconstruction_esc"
    if reconstruction_key not in _RECONSTRUCTION_KEYS:
        raise MRIInputError(
            f"write_fastmri({path}): reconstruction_key {reconstruction_key!r} is not one of {_RECONSTRUCTION_KEYS}."
        )
    attrs = dict(attrs or {})
    if reconstruction is not None:
        reconstruction = _validate_reference_to_write(path, reconstruction, len(kspace))
        attrs.setdefault("max", float(reconstruction.max()) if reconstruction.size else 0.0)
        attrs.setdefault("norm", float(np.linalg.norm(reconstruction)))
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float32).ravel()
        if mask.shape != (kspace.shape[-1],):
            raise MRIInputError(
                f"write_fastmri({path}): mask has {mask.size} entries; a fastMRI mask is 1-D along the last "
                f"k-space axis ({kspace.shape[-1]} entries)."
            )
    for key, value in attrs.items():
        if value is None or np.asarray(value).dtype == object:
            raise MRIInputError(
                f"write_fastmri({path}): attribute {key!r}={value!r} cannot be stored in HDF5; pass numbers, strings "
                "or arrays of them."
            )
    with atomic_file(path, suffix=path.suffix) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64), chunks=(1, *kspace.shape[1:]))
        if reconstruction is not None:
            f.create_dataset(reconstruction_key, data=reconstruction, chunks=(1, *reconstruction.shape[1:]))
        if mask is not None:
            f.create_dataset("mask", data=mask)
        if ismrmrd_header is not None:
            f.create_dataset("ismrmrd_header", data=np.bytes_(ismrmrd_header.encode("utf-8")))
        for key, value in attrs.items():
            f.attrs[key] = value
    return path


def _validate_kspace_to_write(path: Path, kspace: Any) -> np.ndarray:
    """``kspace`` as a complex, finite, non-empty (slices, [coils,] H, W) array."""
    kspace = np.asarray(kspace)
    if not np.iscomplexobj(kspace):
        raise MRIInputError(
            f"write_fastmri({path}): k-space is real-valued ({kspace.dtype}); fastMRI stores complex64 k-space. Pass "
            "a complex array (e.g. kspace[..., 0] + 1j * kspace[..., 1])."
        )
    if kspace.ndim not in (3, 4):
        raise MRIInputError(
            f"write_fastmri({path}): k-space has shape {kspace.shape}; expected (slices, H, W) or "
            "(slices, coils, H, W). Add the slice axis (kspace[None]) for a single slice."
        )
    if kspace.size == 0:
        raise MRIInputError(f"write_fastmri({path}): k-space is empty (shape {kspace.shape}); pass at least one slice.")
    if not np.isfinite(kspace).all():
        raise MRIInputError(f"write_fastmri({path}): k-space has NaN or Inf values; fix the data before writing.")
    return kspace


def _validate_reference_to_write(path: Path, reconstruction: Any, num_slices: int) -> np.ndarray:
    """``reconstruction`` as a real, finite float32 (slices, h, w) image."""
    reconstruction = np.asarray(reconstruction)
    if np.iscomplexobj(reconstruction) or reconstruction.ndim != 3 or len(reconstruction) != num_slices:
        raise MRIInputError(
            f"write_fastmri({path}): reconstruction has shape {reconstruction.shape} ({reconstruction.dtype}); "
            f"expected a real (slices={num_slices}, h, w) image."
        )
    if not np.isfinite(reconstruction).all():
        raise MRIInputError(f"write_fastmri({path}): the reconstruction has NaN or Inf values; fix it first.")
    return reconstruction.astype(np.float32)
