# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""One entry point for every supported MRI input: a path → its 2-D slices, each as a dictionary."""

from __future__ import annotations

import operator
import os
import tokenize
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from monai.utils import ComponentStore

from ..errors import MRIInputError
from .bart import kspace_from_cfl
from .dicom import read_dicom_series
from .fastmri import fastmri_num_slices, read_fastmri
from .hdf5 import H5_READ_ERRORS
from .ismrmrd import noise_prewhitening_matrix, prewhiten, read_ismrmrd
from .nifti import read_nifti

__all__ = ["MRIVolume", "SliceSources", "load_mri_slice", "mri_format"]

FORMATS = ("fastmri", "ismrmrd", "bart", "npy", "nifti", "dicom")


NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".img")


def _is_dicom_file(path: Path) -> bool:
    """A DICOM Part 10 file: the 4 bytes "DICM" after the 128-byte preamble, whatever the file's name."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def mri_format(path: str | os.PathLike) -> str:
    """Name the format of ``path``: one of "fastmri", "ismrmrd", "bart", "npy", "nifti", "dicom".

    "nifti" stands for every image nibabel reads: NIfTI ``.nii``/``.nii.gz``, FreeSurfer ``.mgz``/``.mgh`` and
    Analyze ``.hdr``/``.img`` pairs. A DICOM file is recognised by its content, so scanner and PACS exports without
    a ``.dcm`` suffix read too.
    """
    p = Path(path)
    if not p.exists() and not Path(f"{p}.cfl").exists():
        raise MRIInputError(f"{p} does not exist; pass an existing file or DICOM folder as the input path.")
    name = p.name.lower()
    if p.is_dir() or name.endswith(".dcm"):
        return "dicom"
    if name.endswith(NIBABEL_SUFFIXES) or (name.endswith(".hdr") and p.with_suffix(".img").exists()):
        return "nifti"
    if name.endswith((".cfl", ".hdr")) or Path(f"{p}.cfl").exists():
        return "bart"
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".h5", ".hdf5", ".mrd")):
        try:
            with h5py.File(p, "r") as f:
                return "fastmri" if "kspace" in f else "ismrmrd"
        except H5_READ_ERRORS as e:
            raise MRIInputError(
                f"{p} is not a readable HDF5 file ({type(e).__name__}: {e}); is it truncated? Copy it again."
            ) from e
    if p.is_file() and _is_dicom_file(p):
        return "dicom"
    raise MRIInputError(
        f"{p}: unknown MRI format; supported are fastMRI/ISMRMRD .h5, BART .cfl/.hdr, complex k-space .npy "
        "(coils, H, W), NIfTI .nii/.nii.gz, FreeSurfer .mgz/.mgh, Analyze .hdr/.img and DICOM (a series folder, "
        ".dcm files, or DICOM files of any name)."
    )


def _pick(n: int, index: int | None, what: str, path: Path) -> int:
    if n < 1:
        raise MRIInputError(f"{path}: the input has no {what}s; pass a file with at least one.")
    if isinstance(index, bool):
        raise MRIInputError(f"{path}: {what} index {index!r} is a bool, not an integer; pass an int or None.")
    try:
        i = n // 2 if index is None else operator.index(index)
    except TypeError:
        raise MRIInputError(
            f"{path}: {what} index {index!r} is not an integer; pass an int (negative counts from the end) or None."
        ) from None
    if not -n <= i < n:
        raise MRIInputError(f"{path}: {what} {i} is out of range for {n} {what}s (valid 0..{n - 1}).")
    return i % n


class MRIVolume:
    """The 2-D slices of any supported MRI input, read one at a time.

    NIfTI volumes and DICOM series are read once (they are images, the size of the output); fastMRI files are read
    slice by slice from the HDF5 file, so a 40-slice multi-coil file never sits in memory whole; ISMRMRD files are
    read once and pre-whitened per slice; BART and ``.npy`` k-space are single slices. Each format's reading is a
    slice source registered by name in ``SliceSources`` (:func:`mri_format` names the format).

    Args:
        path: a fastMRI or ISMRMRD ``.h5``, a BART ``.cfl``/``.hdr`` (or its base name), a complex k-space ``.npy``
            of shape (coils, H, W), a NIfTI file, or a DICOM series (folder or ``.dcm`` files).
        slice_axis: the axis of a NIfTI volume to slice along (default the last, axial for most scans); DICOM
            series are sliced along their slice dimension.

    Attributes:
        format: the input's format (see :func:`mri_format`).
        affine: the volume's 4x4 RAS affine (NIfTI, DICOM), else None.
        slice_axis: the axis of the NIfTI volume's slices (0 for DICOM), None for k-space inputs.
        series: the read DICOM series (None for other formats).
        is_multislice: whether the input has a slice dimension.
    """

    def __init__(self, path: str | os.PathLike, slice_axis: int = -1) -> None:
        self.path = Path(path)
        self.format = mri_format(self.path)
        self._source = SliceSources[self.format](self.path, slice_axis)
        self.num_slices: int = self._source.num_slices
        self.is_multislice: bool = self._source.is_multislice
        self.affine: np.ndarray | None = getattr(self._source, "affine", None)
        self.slice_axis: int | None = getattr(self._source, "slice_axis", None)
        self.series = getattr(self._source, "series", None)

    def __len__(self) -> int:
        return self.num_slices

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The image volume's shape (NIfTI, DICOM), else None."""
        return getattr(self._source, "shape", None)

    def index(self, slice_index: int | None) -> int:
        """``slice_index`` checked and made non-negative (None: the middle slice)."""
        return _pick(self.num_slices, slice_index, "slice", self.path)

    def __getitem__(self, slice_index: int) -> dict[str, Any]:
        """The slice as a dictionary (see :func:`load_mri_slice`)."""
        i = self.index(slice_index)
        out: dict[str, Any] = {"format": self.format, "path": str(self.path)}
        if self.is_multislice:
            out["slice_index"] = i
        out.update(self._source[i])
        if "kspace" in out and not np.isfinite(out["kspace"]).all():
            raise MRIInputError(f"{self.path}: the k-space contains NaN or Inf values; the file is corrupt.")
        return out


SliceSources = ComponentStore("SliceSources", "Per-format readers of an MRI input's 2-D slices, by mri_format name")


@SliceSources.add_def("fastmri", "fastMRI .h5, read slice by slice")
class FastMRISlices:
    """A fastMRI file's slices, each read from the HDF5 file when asked for: "kspace" (C, H, W), and "mask" and
    "reference" when the file has them."""

    is_multislice = True

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        self.path = path
        self.num_slices = fastmri_num_slices(path)

    def __getitem__(self, i: int) -> dict[str, Any]:
        data = read_fastmri(self.path, slices=[i])
        kspace = data.kspace[0]
        out: dict[str, Any] = {"kspace": kspace if data.is_multicoil else kspace[None]}
        if data.mask is not None:
            out["mask"] = np.broadcast_to(data.mask[None, :], kspace.shape[-2:]).astype(np.float32)
        if data.reconstruction is not None:
            out["reference"] = data.reconstruction[0]
        return out


@SliceSources.add_def("ismrmrd", "ISMRMRD/MRD .h5, read once, pre-whitened per slice")
class ISMRMRDSlices:
    """An MRD file's Cartesian k-space (oversampling removed), pre-whitened by its noise scans, with the mask of the
    acquired lines."""

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        data = read_ismrmrd(path, remove_oversampling=True)
        self.kspace, self.mask = data.kspace, data.mask
        self.is_multislice = self.kspace.ndim == 4
        self.num_slices = self.kspace.shape[0] if self.is_multislice else 1
        self.whitening = None
        if data.noise is not None:
            try:
                self.whitening = noise_prewhitening_matrix(data.noise)
            except MRIInputError as e:
                raise MRIInputError(
                    f"{path}: the noise scans cannot pre-whiten the k-space ({e}). Remove the noise scans from the "
                    "file (flag 19) to read it without pre-whitening."
                ) from None

    def __getitem__(self, i: int) -> dict[str, Any]:
        kspace = self.kspace[i] if self.is_multislice else self.kspace
        mask = self.mask[i] if self.is_multislice else self.mask  # (ky,): the lines of this slice
        if self.whitening is not None:
            kspace = prewhiten(kspace, self.whitening)
        return {
            "kspace": kspace.astype(np.complex64),
            "mask": np.broadcast_to(mask[:, None], kspace.shape[-2:]).astype(np.float32),
        }


class _KspaceArraySlice:
    """One slice of (coils, H, W) complex64 k-space."""

    is_multislice, num_slices = False, 1
    kspace: np.ndarray

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"kspace": self.kspace}


@SliceSources.add_def("bart", "BART .cfl/.hdr, one slice")
class BartSlice(_KspaceArraySlice):
    """The (coils, H, W) k-space of a BART pair in the [1, PHS1, PHS2, COIL] layout."""

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        self.kspace = kspace_from_cfl(path)


@SliceSources.add_def("npy", "complex k-space .npy, one slice")
class NpySlice(_KspaceArraySlice):
    """The (coils, H, W) k-space of a ``.npy`` file, checked: complex, non-empty and finite."""

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        self.kspace = _read_kspace_npy(path)


@SliceSources.add_def("nifti", "NIfTI / MGH / Analyze image volumes, read once")
class NiftiSlices:
    """The slices of an image volume along ``slice_axis``: "image" float32 (H, W) with the volume's "affine"."""

    series = None

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        self.volume, self.affine, _ = read_nifti(path)
        self.shape = tuple(self.volume.shape)
        self.is_multislice = self.volume.ndim == 3
        self.slice_axis = _checked_axis(slice_axis, self.volume.shape, path) if self.is_multislice else None
        self.num_slices = self.volume.shape[self.slice_axis] if self.is_multislice else 1

    def __getitem__(self, i: int) -> dict[str, Any]:
        image = np.take(self.volume, i, axis=self.slice_axis) if self.is_multislice else self.volume
        out = {"image": np.ascontiguousarray(image, dtype=np.float32), "affine": self.affine}
        if self.is_multislice:
            out["slice_axis"] = self.slice_axis
        return out


@SliceSources.add_def("dicom", "a DICOM series, read once")
class DicomSlices:
    """The slices of a DICOM series: "image" float32 (H, W), the series' "affine" and the "series" itself."""

    is_multislice, slice_axis = True, 0

    def __init__(self, path: Path, slice_axis: int = -1) -> None:
        self.series = read_dicom_series(path)
        self.affine = self.series.affine
        self.shape = tuple(self.series.volume.shape)
        self.num_slices = self.series.volume.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.series.volume[i], "affine": self.affine, "series": self.series}


def _checked_axis(slice_axis: Any, shape: tuple[int, ...], path: Path) -> int:
    """``slice_axis`` of a 3-D volume as 0, 1 or 2."""
    if isinstance(slice_axis, bool) or not isinstance(slice_axis, (int, np.integer)):
        raise MRIInputError(f"{path}: slice_axis={slice_axis!r} is not an integer; pass 0, 1 or 2 (or -3..-1).")
    if not -3 <= slice_axis < 3:
        raise MRIInputError(
            f"{path}: slice_axis={slice_axis} is not an axis of the 3-D volume {shape}; pass 0, 1 or 2 (or -3..-1)."
        )
    return int(slice_axis) % 3


def _read_kspace_npy(p: Path) -> np.ndarray:
    """The (coils, H, W) complex64 k-space of a ``.npy`` file, checked: non-empty and finite."""
    try:
        # memory-mapped: a truncated file, or a header that promises more bytes than the file has, fails here
        # instead of allocating what the header says; pickles (object arrays) are refused
        kspace = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, tokenize.TokenError) as e:  # TokenError: a corrupted header dict
        raise MRIInputError(
            f"{p} is not a readable k-space .npy array ({type(e).__name__}: {e}); save a complex (coils, H, W) array "
            "with np.save (object arrays and pickles are refused)."
        ) from None
    if not np.iscomplexobj(kspace):
        raise MRIInputError(
            f"{p} holds {kspace.dtype} values; k-space .npy files must be complex (e.g. save real + 1j * imag)."
        )
    if kspace.ndim == 2:
        kspace = kspace[None]
    if kspace.ndim != 3:
        raise MRIInputError(f"{p}: k-space .npy must have shape (coils, H, W), got {kspace.shape}.")
    if kspace.size == 0:
        raise MRIInputError(f"{p}: the k-space .npy has shape {kspace.shape}, with a zero-size axis; it holds no data.")
    with np.errstate(over="ignore", invalid="ignore"):  # complex128 beyond complex64 becomes Inf, refused below
        kspace = np.array(kspace, dtype=np.complex64, order="C")  # a copy: the memory map is released
    if not np.isfinite(kspace).all():
        raise MRIInputError(
            f"{p}: the k-space contains NaN or Inf values (or values beyond complex64); the file is corrupt."
        )
    return kspace


def load_mri_slice(path: str | os.PathLike, slice_index: int | None = None, slice_axis: int = -1) -> dict[str, Any]:
    """Read one 2-D slice of any supported MRI input (:class:`MRIVolume` for all of them).

    Args:
        path: a fastMRI or ISMRMRD ``.h5``, a BART ``.cfl``/``.hdr`` (or its base name), a complex k-space ``.npy``
            of shape (coils, H, W), a NIfTI file, or a DICOM series (folder or ``.dcm`` files).
        slice_index: the slice of a multi-slice input (default: the middle one).
        slice_axis: the axis of a NIfTI volume to slice along (default the last, axial for most scans); DICOM
            series are sliced along their slice dimension.

    Returns:
        a dictionary with "format", "path", "slice_index" (multi-slice inputs) and either k-space inputs — "kspace"
        complex64 (C, H, W), optionally "mask" float32 (H, W) when the file states it and "reference" float32
        (H', W') — or image inputs — "image" float32 (H, W), "affine" 4x4 (RAS) of the volume and, for DICOM, "series"
        (the read series).
    """
    volume = MRIVolume(path, slice_axis)
    return volume[volume.index(slice_index)]
