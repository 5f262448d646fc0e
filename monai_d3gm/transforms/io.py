# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Loading an MRI slice as a dictionary transform: the first step of the MRI bundles' preprocessing."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from monai.config import KeysCollection
from monai.transforms import MapTransform

from ..io import load_mri_slice
from .utils import checked_copy, init_keys

__all__ = ["LoadMRISliced"]


class LoadMRISliced(MapTransform):
    """Load one 2-D slice of the MRI input at ``data[key]`` (a path) and merge what the reader returns into the
    dictionary (the path stays under ``key``).

    See :func:`monai_d3gm.io.load_mri_slice` for the formats and the keys it adds ("kspace",
    "mask", "reference" for raw data; "image", "affine" for NIfTI and DICOM). ``slice_axis`` is the slice axis of
    NIfTI volumes (DICOM series use their slice dimension).
    """

    def __init__(
        self,
        keys: KeysCollection = "path",
        slice_index: int | None = None,
        slice_axis: int = -1,
        allow_missing_keys: bool = False,
    ) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.slice_index = slice_index
        self.slice_axis = slice_axis

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            index = d.get("slice_index", self.slice_index)
            d.update(load_mri_slice(d[key], slice_index=index, slice_axis=self.slice_axis))
        return d
