# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The k-space formats as MONAI ``ImageReader``s, so ``LoadImage`` / ``LoadImaged`` read them in any MONAI pipeline.

NIfTI and DICOM images already have MONAI's readers (``NibabelReader``, ``PydicomReader``); these add raw k-space:
fastMRI and ISMRMRD/MRD ``.h5`` files, BART ``.cfl``/``.hdr`` pairs and complex ``.npy`` arrays. Each is a thin face of
:class:`~.load.MRIVolume`, which does the reading and checking (one code path whether a bundle or a MONAI pipeline
reads the file)::

    from monai.transforms import LoadImaged
    from monai_d3gm.io.readers import FastMRIReader

    load = LoadImaged("kspace", reader=FastMRIReader(), dtype=None, image_only=False)  # dtype=None keeps it complex
    data = load({"kspace": "file1000000.h5"})

The array is the complex64 k-space, (coils, H, W) for one slice or (slices, coils, H, W); the metadata holds
"format", "num_slices", "original_channel_dim" (the coil axis), "spatial_shape" (H, W) and, when the file states
them, "mask" (the sampled k-space as 0/1 float32 (H, W), per slice for multi-slice files) and "reference" (the
file's magnitude reconstruction, fastMRI only). Bad files raise :class:`~monai_d3gm.errors.MRIInputError`.

MONAI's ``LoadImage`` casts to float32 unless ``dtype=None``, which would drop the imaginary part; so these readers
are used with ``dtype=None``. A reader given to ``LoadImage(reader=...)`` is tried among MONAI's own, and a refusal
comes back inside MONAI's ``RuntimeError`` ("cannot find a suitable reader", with the reason in its text); given at
the call, ``LoadImage(dtype=None)(path, reader=FastMRIReader())``, the reader's own ``MRIInputError`` reaches the
caller.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.data import ImageReader
from monai.utils import ensure_tuple

from ..errors import MRIInputError
from .load import MRIVolume, mri_format

__all__ = ["BartReader", "FastMRIReader", "ISMRMRDReader", "KspaceNpyReader", "KspaceReader"]


class KspaceReader(ImageReader):
    """Reads the raw k-space of any of ``formats`` (by default all four k-space formats of :func:`.load.mri_format`).

    Args:
        formats: the formats this reader accepts.
    """

    formats: tuple[str, ...] = ("fastmri", "ismrmrd", "bart", "npy")

    def __init__(self, formats: Sequence[str] | None = None) -> None:
        super().__init__()
        if formats is not None:
            unknown = set(formats) - set(KspaceReader.formats)
            if unknown:
                raise MRIInputError(f"unknown k-space formats {sorted(unknown)}; choose from {KspaceReader.formats}.")
            self.formats = tuple(formats)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        """Whether every file is of one of this reader's formats (HDF5 files are told apart by content)."""
        try:
            return all(mri_format(f) in self.formats for f in ensure_tuple(filename))
        except MRIInputError:
            return False

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs: Any) -> list[MRIVolume]:
        """Open each file (checked early: its format, its header and, for ISMRMRD, its noise scans)."""
        volumes = [MRIVolume(f) for f in ensure_tuple(data)]
        for volume in volumes:
            if volume.format not in self.formats:
                raise MRIInputError(
                    f"{volume.path} is {volume.format}, not {' or '.join(self.formats)}; use "
                    f"{_READER_OF.get(volume.format, 'a MONAI image reader')} for it."
                )
        return volumes

    def get_data(self, img: MRIVolume | Sequence[MRIVolume]) -> tuple[np.ndarray, dict[str, Any]]:
        """The k-space of one file (several files must have the same shape: they are stacked on a first axis)."""
        arrays, metas = zip(*(_kspace_and_meta(volume) for volume in ensure_tuple(img)))
        if len(arrays) == 1:
            return arrays[0], metas[0]
        if len({a.shape for a in arrays}) != 1:
            raise MRIInputError(f"k-space files of different shapes {[a.shape for a in arrays]} cannot be stacked.")
        meta = dict(metas[0])
        meta["original_channel_dim"] = int(meta["original_channel_dim"]) + 1
        return np.stack(arrays), meta


class FastMRIReader(KspaceReader):
    """fastMRI ``.h5`` k-space (single- or multi-coil), with the file's mask and reconstruction when it has them."""

    formats = ("fastmri",)


class ISMRMRDReader(KspaceReader):
    """ISMRMRD/MRD ``.h5`` raw data: Cartesian k-space with the oversampling removed, pre-whitened when the file has
    noise scans, and the mask of the acquired lines."""

    formats = ("ismrmrd",)


class BartReader(KspaceReader):
    """BART ``.cfl``/``.hdr`` k-space, one slice (coils, H, W)."""

    formats = ("bart",)


class KspaceNpyReader(KspaceReader):
    """Complex k-space saved with ``np.save``, one slice (coils, H, W)."""

    formats = ("npy",)


#: the reader to name when a file of another format is given
_READER_OF = {
    "fastmri": "FastMRIReader",
    "ismrmrd": "ISMRMRDReader",
    "bart": "BartReader",
    "npy": "KspaceNpyReader",
    "nifti": "MONAI's NibabelReader",
    "dicom": "MONAI's PydicomReader",
}


def _kspace_and_meta(volume: MRIVolume) -> tuple[np.ndarray, dict[str, Any]]:
    """All slices of ``volume`` as one complex64 array, and the metadata the module docstring lists."""
    slices = [volume[i] for i in range(len(volume))]
    kspace = np.stack([s["kspace"] for s in slices]) if volume.is_multislice else slices[0]["kspace"]
    meta: dict[str, Any] = {
        "format": volume.format,
        "num_slices": len(volume),
        "original_channel_dim": 1 if volume.is_multislice else 0,
        "spatial_shape": np.asarray(kspace.shape[-2:]),
    }
    if all("mask" in s for s in slices):
        masks = [s["mask"] for s in slices]
        meta["mask"] = np.stack(masks) if volume.is_multislice else masks[0]
    if all("reference" in s for s in slices):
        meta["reference"] = np.stack([s["reference"] for s in slices])
    return kspace, meta
