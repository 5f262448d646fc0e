# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reader and writer of NIfTI images (``.nii``, ``.nii.gz``) through nibabel.

The affine is NIfTI's: it maps voxel indices ``(i, j, k)`` of the array as returned to RAS+ world coordinates in mm
(x grows to the Right, y to the Anterior, z to the Superior). DICOM uses LPS+ (x to the Left, y to the Posterior); see
:mod:`monai_d3gm.io.dicom` for the conversion ``affine_ras = diag(-1, -1, 1, 1) @ affine_lps``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRIInputError
from .files import atomic_file

__all__ = ["read_nifti", "write_nifti"]

_EXTENSIONS = (".nii.gz", ".nii")


def read_nifti(path: str | os.PathLike, allow_4d: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
    """Read a 2-D or 3-D NIfTI image as float32 (scaling by ``scl_slope``/``scl_inter`` applied).

    Trailing singleton dims beyond the third are dropped (``(x, y, z, 1)`` is 3-D).

    Args:
        path: a ``.nii`` or ``.nii.gz`` file, or another image nibabel reads (FreeSurfer ``.mgz``/``.mgh``, Analyze
            ``.hdr``/``.img``).
        allow_4d: accept a 4-D image (e.g. a time series); otherwise a 4-D image raises.

    Returns:
        ``(array, affine, header)``: float32 array in the file's axis order, float64 ``(4, 4)`` voxel-to-RAS affine
        (sform when its code is set, else qform), and the nibabel header (a copy).

    Raises:
        MRIInputError: missing, unreadable, truncated or non-NIfTI file (including a header whose shape needs more
            data than the file holds); 4-D image without ``allow_4d``; more than 4 dims; complex or RGB voxels; empty
            image; NaN/Inf voxels (after scaling); an affine that is not finite and invertible.
    """
    import nibabel as nib

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MRIInputError(f"{path}: no such file; pass the path of an existing .nii or .nii.gz image.")
    try:
        img = nib.load(path)
    except Exception as e:  # nibabel raises ImageFileError, OSError, EOFError, zlib errors...
        raise MRIInputError(
            f"{path}: the file cannot be read as NIfTI ({type(e).__name__}: {e}); it is truncated, corrupted or not "
            "an image nibabel reads. Pass a valid .nii/.nii.gz, .mgz/.mgh or Analyze .hdr/.img file."
        ) from None
    shape = _validate_header(path, img, allow_4d)
    image_file = getattr(img.file_map.get("image"), "filename", None) or path  # Analyze: the .img beside the .hdr
    _check_data_size(os.fspath(image_file), img)
    try:
        array = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float32).reshape(shape)
    except Exception as e:  # truncated data raises EOFError, OSError, ValueError, zlib.error...
        raise MRIInputError(
            f"{path}: the image data cannot be read ({type(e).__name__}: {e}); the file is probably truncated or "
            "corrupted. Copy or download it again."
        ) from None
    _validate_voxels(path, array)
    affine = np.asarray(img.affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all() or np.linalg.matrix_rank(affine[:3, :3]) < 3:
        raise MRIInputError(
            f"{path}: the voxel-to-world affine ({_affine_codes(img.header)}) is not a finite, invertible matrix: "
            f"{np.array2string(affine, precision=4).replace(chr(10), ' ')}; fix the header's sform/qform or pixdim "
            "(e.g. nibabel's img.set_sform(affine, code=1), or fslorient -copyqform2sform)."
        )
    return array, affine, img.header.copy()


def _validate_header(path: str, img: Any, allow_4d: bool) -> tuple[int, ...]:
    """The image's shape without trailing singleton dimensions past the third, checked: 2-D or 3-D (4-D when
    allowed), not empty, real grey-level voxels."""
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 4 or (len(shape) == 4 and not allow_4d):
        raise MRIInputError(
            f"{path}: {len(shape)}-D NIfTI of shape {shape} where a 2-D or 3-D image is expected; pick one volume "
            "(e.g. img.slicer[..., 0] in nibabel, or fslroi) or pass allow_4d=True."
        )
    if len(shape) < 2:
        raise MRIInputError(f"{path}: NIfTI image of shape {shape} is not a 2-D or 3-D image.")
    if any(s <= 0 for s in shape):
        raise MRIInputError(
            f"{path}: the NIfTI image is empty (shape {shape}); pass an image with voxels (a negative size means "
            "a corrupted header)."
        )
    dtype = img.get_data_dtype()
    if dtype.kind == "c" or dtype.fields is not None:
        what = f"complex-valued ({dtype})" if dtype.kind == "c" else f"colour ({'/'.join(dtype.names)} channels)"
        raise MRIInputError(
            f"{path}: the NIfTI voxels are {what}; a real-valued grey-level image is expected. Save the magnitude "
            "(e.g. np.abs) or one channel as a real NIfTI first."
        )
    return shape


def _validate_voxels(path: str, array: np.ndarray) -> None:
    """Some voxel that is a number, and none that is NaN or Inf."""
    finite = np.isfinite(array)
    if np.isnan(array).all():
        raise MRIInputError(f"{path}: the NIfTI image holds only NaN values; it has no usable data.")
    if not finite.all():
        raise MRIInputError(
            f"{path}: {int(array.size - finite.sum())} of {array.size} voxels are NaN or Inf (after scl_slope/"
            "scl_inter scaling, in float32); replace them first (e.g. fslmaths in.nii.gz -nan out.nii.gz, or "
            "np.nan_to_num)."
        )


def _affine_codes(header: Any) -> str:
    """NIfTI's sform/qform codes for messages (FreeSurfer and Analyze headers have none)."""
    try:
        return f"sform_code={int(header['sform_code'])}, qform_code={int(header['qform_code'])}"
    except (KeyError, TypeError, ValueError):
        return f"a {type(header).__name__}"


def _check_data_size(path: str, img: Any) -> None:
    """Refuse a header whose shape needs more voxel data than the file holds, before allocating that much memory.

    An uncompressed file's size is compared with ``vox_offset + voxels * itemsize``; a compressed file declaring
    more than 256 MiB is decompressed once, in chunks, to count its bytes (a corrupt ``dim`` would otherwise make
    nibabel allocate the declared size first).
    """
    import gzip

    proxy = img.dataobj
    offset = int(getattr(proxy, "offset", 0))
    needed = offset + int(np.prod(img.shape, dtype=np.float64)) * img.get_data_dtype().itemsize
    compressed = path.lower().endswith((".gz", ".mgz"))  # FreeSurfer's .mgz is a gzip-compressed .mgh
    if compressed:
        if needed <= 256 * 2**20:
            return
        found = 0
        try:
            with gzip.open(path, "rb") as f:
                while found < needed:
                    chunk = f.read(16 * 2**20)
                    if not chunk:
                        break
                    found += len(chunk)
        except Exception as e:  # truncated or corrupt gzip stream
            raise MRIInputError(
                f"{path}: the compressed data cannot be read ({type(e).__name__}: {e}); the file is truncated or "
                "corrupted. Copy or download it again."
            ) from None
    else:
        found = os.path.getsize(path)
    if found < needed:
        raise MRIInputError(
            f"{path}: the header declares shape {tuple(img.shape)} of {img.get_data_dtype()} at offset {offset} "
            f"({needed} bytes) but the {'uncompressed ' if compressed else ''}file holds "
            f"{found} bytes; the file is truncated or its header is corrupted. Copy or download it again."
        )


def write_nifti(array: np.ndarray, affine: np.ndarray, path: str | os.PathLike, header: Any = None) -> Path:
    """Write a float32 NIfTI image atomically (a temporary file in the same folder, then ``os.replace``).

    The affine is stored as both sform and qform. Their codes come from ``header`` (e.g. the one
    :func:`read_nifti` returned), so a read -> process -> write keeps the input's geometry and codes; without a
    header (or when both of its codes are 0) both codes are 1 (scanner anatomical).

    Args:
        array: real 2-D to 4-D array (stored as float32), in the axis order that ``affine`` indexes.
        affine: ``(4, 4)`` voxel-to-RAS affine.
        path: output ``.nii`` or ``.nii.gz``.
        header: optional nibabel header to start from (descriptions, units, codes).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        MRIInputError: None/non-numeric/complex/empty/non-finite array, bad affine, bad extension, missing output
            folder; no file is left behind.
    """
    import nibabel as nib

    path = Path(path)
    ext = next((e for e in _EXTENSIONS if path.name.lower().endswith(e)), None)
    if ext is None:
        raise MRIInputError(f"write_nifti({path}): the file name must end in .nii or .nii.gz.")
    if array is None:
        raise MRIInputError(f"write_nifti({path}): array is None; pass the image to write.")
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise MRIInputError(
            f"write_nifti({path}): array of dtype {array.dtype} is not real-valued; pass a magnitude image "
            "(e.g. np.abs(x))."
        )
    if not 2 <= array.ndim <= 4 or array.size == 0:
        raise MRIInputError(
            f"write_nifti({path}): array has shape {array.shape}; expected a non-empty 2-D to 4-D image."
        )
    if not np.isfinite(array).all():
        raise MRIInputError(
            f"write_nifti({path}): array has {int((~np.isfinite(array)).sum())} NaN/Inf values; fix them (e.g. "
            "np.nan_to_num) before writing."
        )
    affine = np.asarray(affine, dtype=np.float64) if affine is not None else None
    if affine is None or affine.shape != (4, 4) or not np.isfinite(affine).all() or np.linalg.det(affine[:3, :3]) == 0:
        raise MRIInputError(
            f"write_nifti({path}): affine must be a finite, invertible (4, 4) array, got "
            f"{None if affine is None else affine.shape}; pass the affine that read_nifti/read_dicom_series returned."
        )
    hdr = header.copy() if header is not None else None
    img = nib.Nifti1Image(array.astype(np.float32), affine, hdr)
    img.set_data_dtype(np.float32)
    img.header.set_slope_inter(None, None)
    sform_code = qform_code = 1
    if header is not None and "sform_code" in header:
        codes = int(header["sform_code"]), int(header["qform_code"])
        if any(codes):
            sform_code, qform_code = codes
    img.set_sform(affine, code=sform_code)
    img.set_qform(affine, code=qform_code)
    with atomic_file(path, suffix=ext) as tmp:
        nib.save(img, tmp)
    return path
