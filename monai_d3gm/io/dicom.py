# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reader and writer of single-frame DICOM image series (e.g. MR Image Storage), through pydicom.

Geometry convention
-------------------
:func:`read_dicom_series` returns ``volume`` of shape ``(slices, rows, cols)`` and an ``affine`` that maps the voxel
index ``(k, i, j, 1)`` (slice, row, column, in that order) to **RAS+** world coordinates in mm, as NIfTI does, so
``write_nifti(series.volume, series.affine, "x.nii.gz")`` writes a NIfTI that overlays the DICOM series in any viewer.

DICOM uses **LPS+** patient coordinates. With ``r = ImageOrientationPatient[:3]`` (direction of increasing column
index ``j``), ``c = ImageOrientationPatient[3:]`` (direction of increasing row index ``i``), ``PixelSpacing =
(dr, dc)`` (row spacing, column spacing), ``p0`` the ImagePositionPatient of the first slice and ``s`` the step between
slices (sorted along the normal ``n = r x c``)::

    affine_lps = [[s, dr * c, dc * r, p0], [0, 0, 0, 1]]   (as columns)
    affine_ras = diag(-1, -1, 1, 1) @ affine_lps              (and back: affine_lps = diag(-1, -1, 1, 1) @ affine_ras)

:attr:`DicomSeries.affine_lps` gives the LPS form. :func:`write_dicom_series` writes the geometry tags of the
reference series unchanged, so reading its output gives the same ``affine``.
"""

from __future__ import annotations

import copy
import datetime
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRIInputError

__all__ = ["LPS_TO_RAS", "DicomSeries", "read_dicom_series", "write_dicom_series"]

#: ``affine_ras = LPS_TO_RAS @ affine_lps`` (and the inverse is the same matrix)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

_GEOMETRY_TAGS = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns")
_SKIP_NAMES = {"DICOMDIR"}
_UINT16_MAX = 65535


@dataclass
class DicomSeries:
    """One DICOM series as a volume.

    Attributes:
        volume: float32 ``(slices, rows, cols)``, RescaleSlope/RescaleIntercept applied, slices ordered along the
            slice normal (increasing ``ImagePositionPatient . (r x c)``).
        affine: float64 ``(4, 4)`` voxel ``(k, i, j)`` -> RAS+ mm (see the module docstring).
        datasets: the pydicom datasets in volume order, without their pixel data.
        spacing: ``(slice step, row spacing, column spacing)`` in mm.
        files: the files in volume order.
    """

    volume: np.ndarray
    affine: np.ndarray
    datasets: list[Any]
    spacing: tuple[float, float, float]
    files: list[Path] = field(default_factory=list)

    @property
    def affine_lps(self) -> np.ndarray:
        """The affine in DICOM's LPS+ coordinates."""
        return LPS_TO_RAS @ self.affine

    @property
    def series_instance_uid(self) -> str:
        """SeriesInstanceUID of the series."""
        return str(self.datasets[0].get("SeriesInstanceUID", ""))

    @property
    def positions(self) -> np.ndarray:
        """ImagePositionPatient (LPS, mm) of each slice, ``(slices, 3)``."""
        return np.array([[float(v) for v in ds.ImagePositionPatient] for ds in self.datasets])


def _list_files(folder_or_files: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(folder_or_files, bytes):
        folder_or_files = os.fsdecode(folder_or_files)
    if isinstance(folder_or_files, (str, os.PathLike)):
        folder = Path(folder_or_files)
        if folder.is_dir():
            files = sorted(
                p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in _SKIP_NAMES
            )
            if not files:
                raise MRIInputError(f"{folder}: no DICOM files in this folder; pass the folder of one DICOM series.")
            return files
        if folder.is_file():
            return [folder]
        raise MRIInputError(f"{folder}: no such folder or file; pass a folder holding one DICOM series.")
    if not isinstance(folder_or_files, Sequence):
        raise MRIInputError(
            f"read_dicom_series: expected a folder or a list of DICOM files, got {type(folder_or_files).__name__} "
            f"{folder_or_files!r:.80}; pass the series folder's path."
        )
    bad = [p for p in folder_or_files if not isinstance(p, (str, bytes, os.PathLike))]
    if bad:
        raise MRIInputError(
            f"read_dicom_series: the list of files holds {type(bad[0]).__name__} {bad[0]!r:.80}, not a path; pass the "
            "paths of the series' DICOM files."
        )
    files = [Path(os.fsdecode(p)) for p in folder_or_files]
    if not files:
        raise MRIInputError("read_dicom_series: the list of files is empty; pass the files of one DICOM series.")
    for p in files:
        if not p.is_file():
            raise MRIInputError(f"{p}: no such file; pass existing DICOM files.")
    return files


def _value(ds: Any, tag: str, path: Path) -> Any:
    """The value of ``tag`` in ``ds``, None when it is absent or empty.

    Raises:
        MRIInputError: pydicom cannot parse the stored value (a corrupted header).
    """
    if tag not in ds:
        return None
    try:
        value = ds[tag].value
    except Exception as e:  # pydicom parses values lazily: a corrupt one raises ValueError, struct.error...
        raise MRIInputError(
            f"{path}: the {tag} element cannot be parsed ({type(e).__name__}: {e}); the file's header is corrupted."
        ) from None
    return None if value is None or (isinstance(value, (str, bytes)) and not value) else value


def _number(ds: Any, tag: str, path: Path, default: float | None = None, positive: bool = False) -> float:
    """``tag`` as one finite number (``default`` when absent; when ``positive``, it must be > 0).

    Raises:
        MRIInputError: the value is not one finite (positive) number, or it is absent and there is no default.
    """
    value = _value(ds, tag, path)
    if value is None and default is not None:
        return default
    try:
        number = float(value)  # a multi-valued element raises TypeError
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or (positive and number <= 0):
        raise MRIInputError(
            f"{path}: {tag} = {value!r:.80} is not one finite{' positive' if positive else ''} number; the file's "
            "header is broken. Pass a series with valid values."
        )
    return number


def _floats(ds: Any, tag: str, n: int, path: Path) -> np.ndarray:
    value = _value(ds, tag, path)
    try:
        values = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        values = np.zeros(0)
    if values.shape != (n,) or not np.isfinite(values).all():
        raise MRIInputError(f"{path}: {tag} = {value!r:.80} is not {n} numbers; the file's geometry is broken.")
    return values


def _slice_step(ds: Any, path: Path) -> float:
    """The slice step of a one-slice series: SpacingBetweenSlices, else SliceThickness, else 1 mm (the first that is
    a finite positive number)."""
    for tag in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            return _number(ds, tag, path, positive=True)
        except MRIInputError:
            continue
    return 1.0


def read_dicom_series(
    folder_or_files: str | os.PathLike | Sequence[str | os.PathLike], series_uid: str | None = None
) -> DicomSeries:
    """Read a single-frame DICOM series into a volume, ordering the slices by position along the slice normal.

    The order comes from ``ImagePositionPatient`` projected on ``ImageOrientationPatient[:3] x [3:]``, not from the
    file names or ``InstanceNumber``.

    Args:
        folder_or_files: a folder (its non-hidden DICOM files: ``DICOMDIR`` and files that are not DICOM, such as the
            notes an export leaves beside the images, are skipped with a warning) or a list of files.
        series_uid: the SeriesInstanceUID to read when the files hold several series.

    Returns:
        :class:`DicomSeries` with ``volume`` float32 ``(slices, rows, cols)`` and an RAS+ ``affine``.

    Raises:
        MRIInputError: no files (or not a path), an unreadable or non-DICOM file, several series without
            ``series_uid``, missing pixel data or geometry tags, unparseable or non-finite header values (geometry,
            Rows/Columns, RescaleSlope/RescaleIntercept, NumberOfFrames), non-positive pixel spacing, multi-frame files,
            mixed geometry (orientation, rows/columns, pixel spacing), duplicate slice positions, unevenly spaced
            slices, undecodable pixel data, NaN/Inf pixel values.
    """
    files = _list_files(folder_or_files)
    from_folder = isinstance(folder_or_files, (str, bytes, os.PathLike)) and Path(os.fsdecode(folder_or_files)).is_dir()
    files, datasets = _read_datasets(files, from_folder)
    files, datasets = _one_series(files, datasets, series_uid)
    _validate_slices(files, datasets)
    iop0, ps0, shape0 = _validate_geometry(files, datasets)
    files, datasets, positions, step = _stack_order(files, datasets, iop0)
    volume = _decode_volume(files, datasets, shape0)

    row_dir, col_dir = iop0[:3], iop0[3:]
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = step
    affine_lps[:3, 1] = col_dir * ps0[0]
    affine_lps[:3, 2] = row_dir * ps0[1]
    affine_lps[:3, 3] = positions[0]
    spacing = (float(np.linalg.norm(step)), float(ps0[0]), float(ps0[1]))
    return DicomSeries(volume=volume, affine=LPS_TO_RAS @ affine_lps, datasets=datasets, spacing=spacing, files=files)


def _read_datasets(files: list[Path], from_folder: bool) -> tuple[list[Path], list[Any]]:
    """The headers of ``files`` (pixel data read lazily); in a folder, files that are not DICOM are skipped with a
    warning, in a list they are refused."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    datasets, read, strays = [], [], []
    for p in files:
        try:
            datasets.append(pydicom.dcmread(p))
            read.append(p)
        except InvalidDicomError:
            if from_folder:  # exports put notes, thumbnails or checksums beside the images: skip them
                strays.append(p)
                continue
            raise MRIInputError(
                f"{p}: not a DICOM file (no DICM preamble); remove it from the list or pass the series folder."
            ) from None
        except Exception as e:  # truncated or corrupted files raise OSError, EOFError, struct.error...
            raise MRIInputError(
                f"{p}: the DICOM file cannot be read ({type(e).__name__}: {e}); it is truncated or corrupted."
            ) from None
    if not strays:
        return files, datasets
    if not read:
        raise MRIInputError(
            f"{strays[0].parent}: no DICOM file among its {len(strays)} files (e.g. {strays[0].name} has no DICM "
            "preamble); pass the folder of one DICOM series."
        )
    names = ", ".join(p.name for p in strays[:3]) + (", ..." if len(strays) > 3 else "")
    warnings.warn(f"{strays[0].parent}: skipped {len(strays)} file(s) that are not DICOM ({names}).", stacklevel=3)
    return read, datasets


def _one_series(files: list[Path], datasets: list[Any], series_uid: str | None) -> tuple[list[Path], list[Any]]:
    """The files of one series: ``series_uid``'s, or the only one there is."""
    uids: dict[str, list[Path]] = {}
    series = [str(_value(ds, "SeriesInstanceUID", p) or "") for p, ds in zip(files, datasets)]
    for p, uid in zip(files, series):
        uids.setdefault(uid, []).append(p)
    if "" in uids and len(uids) > 1:  # not another series: a file cut before its SeriesInstanceUID, or a stray one
        raise MRIInputError(
            f"{uids[''][0]}: no SeriesInstanceUID, unlike the other files; it is truncated or not part of the series. "
            "Remove it from the folder or pass the list of the series' files."
        )
    if series_uid is not None:
        if series_uid not in uids:
            raise MRIInputError(
                f"{files[0].parent}: SeriesInstanceUID {series_uid} is not among the files' series {sorted(uids)}; "
                "pass one of those as series_uid."
            )
        keep = [i for i, uid in enumerate(series) if uid == series_uid]
        return [files[i] for i in keep], [datasets[i] for i in keep]
    if len(uids) > 1:
        listing = "; ".join(f"{uid} ({len(ps)} files, e.g. {ps[0].name})" for uid, ps in sorted(uids.items()))
        raise MRIInputError(
            f"{files[0].parent}: several series in the input (SeriesInstanceUIDs: {listing}); pass one series: its "
            "own folder, its list of files, or series_uid=..."
        )
    return files, datasets


def _validate_slices(files: list[Path], datasets: list[Any]) -> None:
    """Every file is one image slice with pixel data and the tags that place it in space."""
    for p, ds in zip(files, datasets):
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise MRIInputError(f"{p}: missing pixel data (no PixelData element); it is not an image slice.")
        frames = _number(ds, "NumberOfFrames", p, default=1.0)
        if frames > 1:
            raise MRIInputError(
                f"{p}: multi-frame (enhanced) DICOM with {frames:g} frames; this reader takes single-frame series. "
                "Convert it (e.g. with dcm2niix or emf2sf) first."
            )
        missing = [t for t in _GEOMETRY_TAGS if _value(ds, t, p) is None]
        if missing:
            raise MRIInputError(
                f"{p}: missing geometry tags {missing}; the slice cannot be placed in space. Pass a series that has "
                "them."
            )


def _validate_geometry(files: list[Path], datasets: list[Any]) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The series' one orientation, pixel spacing and matrix (the first file's, which every other file must share)."""
    first = files[0]
    iop0 = _floats(datasets[0], "ImageOrientationPatient", 6, first)
    ps0 = _floats(datasets[0], "PixelSpacing", 2, first)
    if (ps0 <= 0).any():
        raise MRIInputError(
            f"{first}: PixelSpacing {ps0.tolist()} is not positive; the file's geometry is broken. Pass a series with "
            "valid pixel spacing."
        )
    shape0 = _matrix(datasets[0], first)
    for p, ds in zip(files, datasets):
        problems = []
        iop = _floats(ds, "ImageOrientationPatient", 6, p)
        if not np.allclose(iop, iop0, atol=1e-4):
            problems.append(f"ImageOrientationPatient {iop.tolist()} vs {iop0.tolist()}")
        if _matrix(ds, p) != shape0:
            problems.append(f"Rows/Columns {_matrix(ds, p)} vs {shape0}")
        pixel_spacing = _floats(ds, "PixelSpacing", 2, p)
        if not np.allclose(pixel_spacing, ps0, rtol=1e-4, atol=1e-6):
            problems.append(f"PixelSpacing {pixel_spacing.tolist()} vs {ps0.tolist()}")
        if problems:
            raise MRIInputError(
                f"{p}: mixed geometry in the series: {'; '.join(problems)} (first file {first.name}); a volume needs "
                "one orientation, matrix and pixel spacing. Pass the files of one stack only."
            )
    return iop0, ps0, shape0


def _stack_order(
    files: list[Path], datasets: list[Any], iop: np.ndarray
) -> tuple[list[Path], list[Any], np.ndarray, np.ndarray]:
    """Files and datasets sorted along the slice normal, their positions, and the step from one slice to the next;
    the slices must be distinct and evenly spaced."""
    first = files[0]
    normal = np.cross(iop[:3], iop[3:])
    unit = np.allclose(np.linalg.norm(iop.reshape(2, 3), axis=1), 1.0, atol=1e-3)
    if not unit or not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise MRIInputError(
            f"{first}: ImageOrientationPatient {iop.tolist()} is not two orthogonal unit vectors; the geometry is "
            "broken."
        )
    positions = np.stack([_floats(ds, "ImagePositionPatient", 3, p) for p, ds in zip(files, datasets)])
    depth = positions @ normal
    order = np.argsort(depth, kind="stable")
    files, datasets = [files[i] for i in order], [datasets[i] for i in order]
    positions, depth = positions[order], depth[order]
    gaps = np.diff(depth)
    dup = np.flatnonzero(np.abs(gaps) < 1e-3)
    if dup.size:
        i = int(dup[0])
        raise MRIInputError(
            f"duplicate slice positions: {files[i]} and {files[i + 1].name} are both at {depth[i]:.4f} mm along the "
            f"slice normal ({dup.size} duplicate(s)); the folder probably holds several echoes/time points or copies. "
            "Pass one volume's files."
        )
    if len(gaps) > 1 and np.abs(gaps - gaps.mean()).max() > 0.01 * abs(gaps.mean()) + 1e-3:
        raise MRIInputError(
            f"{first.parent}: the slices are not evenly spaced (gaps {np.round(gaps, 4).tolist()} mm); a slice is "
            "missing or two stacks are mixed. Pass a complete, evenly spaced series."
        )
    if len(files) > 1:
        step = (positions[-1] - positions[0]) / (len(files) - 1)
    else:
        step = normal * _slice_step(datasets[0], first)
    return files, datasets, positions, step


def _decode_volume(files: list[Path], datasets: list[Any], shape: tuple[int, int]) -> np.ndarray:
    """The rescaled pixel values as float32 (slices, rows, cols); each dataset's pixel data is dropped once decoded."""
    volume = np.empty((0, *shape), dtype=np.float32)  # allocated once the first slice has decoded
    for k, (p, ds) in enumerate(zip(files, datasets)):
        try:
            pixels = np.asarray(ds.pixel_array)
        except Exception as e:  # missing decoder, truncated pixel data...
            raise MRIInputError(
                f"{p}: the pixel data cannot be decoded ({type(e).__name__}: {e}); the file is truncated, or it is "
                "compressed and needs a decoder plugin (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg)."
            ) from None
        if pixels.shape != shape:
            raise MRIInputError(
                f"{p}: pixel data of shape {pixels.shape}, not Rows x Columns = {shape}; colour or multi-frame "
                "images are not supported."
            )
        _check_excess_pixel_data(ds, p, pixels)
        slope = _number(ds, "RescaleSlope", p, default=1.0) or 1.0
        intercept = _number(ds, "RescaleIntercept", p, default=0.0)
        if k == 0:
            volume = np.empty((len(files), *shape), dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            volume[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        if not np.isfinite(volume[k]).all():
            raise MRIInputError(
                f"{p}: the pixel values are NaN or Inf after RescaleSlope {slope:g} / RescaleIntercept "
                f"{intercept:g} (float32); the file is corrupted. Pass a series with finite values."
            )
        for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            if tag in ds:
                del ds[tag]
    return volume


def _check_excess_pixel_data(ds: Any, path: Path, pixels: np.ndarray) -> None:
    """Refuse uncompressed pixel data longer than Rows x Columns x BitsAllocated (plus the one padding byte): pydicom
    decodes the first Rows x Columns values of it, which scrambles the image when Rows or Columns is wrong."""
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if transfer_syntax is not None and getattr(transfer_syntax, "is_compressed", False):
        return
    keyword = next(k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds)
    stored = len(ds[keyword].value or b"")
    bits = _number(ds, "BitsAllocated", path, default=8.0 * pixels.itemsize)
    needed = -(-pixels.size * int(bits) // 8)
    if stored > needed + 1:
        raise MRIInputError(
            f"{path}: {keyword} holds {stored} bytes but Rows x Columns = {pixels.shape} of {int(bits)} bits need "
            f"{needed}; Rows/Columns (or BitsAllocated) are wrong, so the image would be scrambled."
        )


def _matrix(ds: Any, path: Path) -> tuple[int, int]:
    """``(Rows, Columns)``, each a whole number >= 1."""
    shape = (_number(ds, "Rows", path), _number(ds, "Columns", path))
    if any(n < 1 or n != int(n) for n in shape):
        raise MRIInputError(f"{path}: Rows x Columns = {shape} is not a valid image matrix; the file is corrupted.")
    return int(shape[0]), int(shape[1])


def ds_number(value: float) -> tuple[str, float]:
    """A DICOM DS string (at most 16 characters) for ``value`` and the float it stands for."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.8g}"
    return text, float(text)


def _set_uint16_pixels(ds: Any, pixels: np.ndarray) -> None:
    """Store a (rows, cols) uint16 image as uncompressed MONOCHROME2 pixel data (pydicom 2.4 and 3 alike)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds["PixelData"].VR = "OW"  # 16-bit words, explicit VR


def _save_file_format(ds: Any, path: Path) -> None:
    """Write ``ds`` as a DICOM Part 10 file (preamble and file meta), explicit VR little endian.

    pydicom 3 spells it ``enforce_file_format=True``; pydicom 2.4 ``write_like_original=False`` with the encoding set
    on the dataset.
    """
    import pydicom

    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def write_dicom_series(
    volume: np.ndarray,
    reference: DicomSeries,
    out_dir: str | os.PathLike,
    series_description: str = "D3GM reconstruction",
    series_number: int | None = None,
    overwrite: bool = False,
    series_offset: int = 1000,
) -> list[Path]:
    """Write ``volume`` as a derived DICOM series with the geometry of ``reference``.

    Each slice is a deep copy of the reference slice dataset with a new SeriesInstanceUID and SOPInstanceUID,
    ``ImageType`` DERIVED\\SECONDARY, the same geometry and study tags (ImagePositionPatient, ImageOrientationPatient,
    PixelSpacing, SliceThickness, FrameOfReferenceUID, StudyInstanceUID), a SourceImageSequence pointing at the
    reference slice, and uint16 pixel data with one RescaleSlope/RescaleIntercept for the whole series that maps
    ``[volume.min(), volume.max()]`` onto ``[0, 65535]`` (the quantisation step is ``(max - min) / 65535``).

    The files are written into a temporary folder beside ``out_dir`` and renamed into place at the end; on any error
    the temporary folder is removed, so ``out_dir`` is either complete or untouched.

    Args:
        volume: real ``(slices, rows, cols)`` array, the shape of ``reference.volume``, in the same slice order.
        reference: the series read by :func:`read_dicom_series`.
        out_dir: the output folder; it must not exist or be empty (unless ``overwrite``).
        series_description: SeriesDescription of the new series.
        series_number: SeriesNumber; default: reference SeriesNumber + ``series_offset`` (``series_offset`` when it
            has none).
        overwrite: replace an existing non-empty ``out_dir``.
        series_offset: the default SeriesNumber's offset (derived series of one input written side by side, e.g. a
            reconstruction and its interval bounds, take 1000, 1001, 1002).

    Returns:
        the written files in slice order (``IM00001.dcm``, ...).

    Raises:
        MRIInputError: the volume shape does not match the reference, non-finite or complex values, ``out_dir`` is a
            file or a non-empty folder; nothing is written then.
    """
    from pydicom.uid import generate_uid

    out_dir = Path(out_dir)
    volume = _validate_output(volume, reference, out_dir, overwrite)
    stored, window = _quantise(volume)
    if series_number is None:
        try:
            series_number = int(reference.datasets[0].get("SeriesNumber", 0) or 0) + series_offset
        except (TypeError, ValueError):
            series_number = series_offset
    series = {"uid": generate_uid(), "description": series_description, "number": int(series_number)}
    now = datetime.datetime.now()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        paths = []
        for k, ref in enumerate(reference.datasets):
            ds = _derived_slice(ref, k, series, now)
            _set_uint16_pixels(ds, stored[k])
            ds.RescaleSlope, ds.RescaleIntercept = window["slope"], window["intercept"]
            ds.WindowCenter, ds.WindowWidth = window["center"], window["width"]
            path = tmp / f"IM{k + 1:05d}.dcm"
            _save_file_format(ds, path)
            paths.append(out_dir / path.name)
        _replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return paths


def _validate_output(volume: Any, reference: DicomSeries, out_dir: Path, overwrite: bool) -> np.ndarray:
    """``volume`` as an array of the reference's shape, real and finite; ``out_dir`` new, empty or overwritable."""
    if volume is None:
        raise MRIInputError(f"write_dicom_series({out_dir}): volume is None; pass the image to write.")
    volume = np.asarray(volume)
    expected = (len(reference.datasets), *reference.volume.shape[1:])
    if volume.shape != expected:
        raise MRIInputError(
            f"write_dicom_series({out_dir}): volume shape {volume.shape} does not match the reference series "
            f"{expected} (slices, rows, cols); resample or crop the volume to the reference grid first."
        )
    if volume.dtype.kind not in "biuf":
        raise MRIInputError(
            f"write_dicom_series({out_dir}): volume of dtype {volume.dtype} is not real-valued; pass a magnitude image."
        )
    if not np.isfinite(volume).all():
        raise MRIInputError(f"write_dicom_series({out_dir}): volume has NaN/Inf values; fix them before writing.")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not overwrite)):
        raise MRIInputError(
            f"write_dicom_series({out_dir}): the output exists and is "
            f"{'a file' if not out_dir.is_dir() else 'a non-empty folder'}; choose a new folder or pass overwrite=True."
        )
    return volume


def _quantise(volume: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """uint16 pixels for the whole series with one RescaleSlope/RescaleIntercept mapping [min, max] onto [0, 65535],
    and the DS strings of slope, intercept and the window (centre, width) that shows the whole range."""
    values = volume.astype(np.float64)
    vmin, vmax = float(values.min()), float(values.max())
    slope_text, slope = ds_number((vmax - vmin) / _UINT16_MAX * (1 + 1e-7) if vmax > vmin else 1.0)
    intercept_text, intercept = ds_number(vmin)
    stored = np.clip(np.rint((values - intercept) / slope), 0, _UINT16_MAX).astype("<u2")
    window = {
        "slope": slope_text,
        "intercept": intercept_text,
        "center": ds_number((vmin + vmax) / 2)[0],
        "width": ds_number(max(vmax - vmin, 1e-6))[0],
    }
    return stored, window


#: elements of a reference slice that do not describe the derived slice's pixels
_DROPPED_PIXEL_TAGS = (
    "PixelData",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "ModalityLUTSequence",
    "VOILUTSequence",
    "WindowCenterWidthExplanation",
    "NumberOfFrames",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PlanarConfiguration",
)


def _derived_slice(ref: Any, k: int, series: dict[str, Any], now: datetime.datetime) -> Any:
    """A deep copy of reference slice ``ref`` as slice ``k`` of the derived series: new UIDs, DERIVED\\SECONDARY,
    a SourceImageSequence pointing at ``ref``, the same geometry and study; its pixels are set by the caller."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = copy.deepcopy(ref)
    for tag in _DROPPED_PIXEL_TAGS:
        if tag in ds:
            delattr(ds, tag)
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_uid = generate_uid()
    source = Dataset()
    source.ReferencedSOPClassUID = ref.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.4")
    source.ReferencedSOPInstanceUID = ref.get("SOPInstanceUID", "")
    ds.SOPInstanceUID = sop_uid
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series["uid"]
    ds.SeriesDescription = series["description"]
    ds.SeriesNumber = series["number"]
    ds.InstanceNumber = k + 1
    old_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in old_type[2:]]]
    ds.DerivationDescription = series["description"][:64]
    ds.SourceImageSequence = [source]
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    return ds


def _replace_folder(tmp: Path, out_dir: Path) -> None:
    """Rename the finished ``tmp`` folder to ``out_dir``, replacing an existing one only once the rename succeeds."""
    backup = None
    if out_dir.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        backup.rmdir()
        os.rename(out_dir, backup)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if backup is not None:
            os.rename(backup, out_dir)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
