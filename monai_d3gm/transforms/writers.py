# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Postprocessing transforms that write a case's files (``output_dir/NAME/...``, recorded under ``data["files"]`` for
the case's ``metrics.json``): the base, and the NIfTI / DICOM writer of an MRI slice."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ..errors import D3GMInputError
from ..io import write_dicom_series, write_nifti
from ..io.dicom import DicomSeries
from ..io.geometry import slice_affine
from .utils import checked_copy, init_keys

__all__ = ["SaveCased", "SaveMRISliced"]


class SaveCased(MapTransform):
    """Write a case's files into ``output_dir/NAME`` (:meth:`write`) and record them under ``data[files_key]``.

    Args:
        output_dir: the run's output folder.
        keys: the images written (absent or None values are skipped).
        name_key: the case's name (its sub-folder).
        files_key: where the written files are recorded (name -> path).
        required: further keys the writer needs.
        error: the documented error raised for a missing key.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        keys: KeysCollection,
        name_key: str = "name",
        files_key: str = "files",
        required: Sequence[str] = (),
        error: type[D3GMInputError] = D3GMInputError,
    ) -> None:
        init_keys(self, keys, allow_missing_keys=True, error=error)
        self.output_dir = Path(output_dir)
        self.name_key, self.files_key = name_key, files_key
        self.required, self.error = [name_key, *required], error

    def write(self, data: dict[Hashable, Any], folder: Path, files: dict[str, Any]) -> None:
        """Write the case's files into ``folder`` and add them to ``files``."""
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data, required=self.required, error=self.error)
        folder = self.output_dir / str(d[self.name_key])
        folder.mkdir(parents=True, exist_ok=True)
        files = dict(d.get(self.files_key) or {})
        self.write(d, folder, files)
        d[self.files_key] = files
        return d


class SaveMRISliced(SaveCased):
    """Write a slice's images as one-slice NIfTI volumes with the input's geometry (``NAME/<file name>.nii.gz``) and,
    for DICOM inputs, the first key as a derived DICOM series (``NAME/dicom/``) and each of ``dicom_keys`` present as
    one more (``NAME/dicom_<file name>/``, SeriesNumber 1001, 1002, ... above the input's).

    Args:
        output_dir: the run's output folder.
        write_dicom: write the derived DICOM series for DICOM inputs.
        keys: the images (absent or None values are skipped); the first is the one a DICOM series gets.
        file_names: key -> file name without suffix (default: the key).
        series_description: the derived series' description.
        name_key: the case's name (its sub-folder).
        files_key: where the written files are recorded.
        required: further keys the geometry needs.
        dicom_keys: further keys written as derived DICOM series for DICOM inputs (e.g. an interval's "lower" and
            "upper").
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        write_dicom: bool = True,
        keys: KeysCollection = ("magnitude", "std"),
        file_names: Mapping[str, str] | None = None,
        series_description: str = "D3GM reconstruction",
        name_key: str = "name",
        files_key: str = "files",
        required: Sequence[str] = (),
        dicom_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(output_dir, keys, name_key, files_key, required)
        self.dicom_keys = list(dicom_keys)
        self.write_dicom = write_dicom
        self.file_names = dict(file_names or {})
        self.series_description = series_description

    def geometry(self, data: Mapping[Hashable, Any]) -> tuple[np.ndarray, int]:
        """The affine of the written one-slice volume, and its axis of length one."""
        return slice_affine(data)

    def dicom_series(self, data: Mapping[Hashable, Any], image: np.ndarray) -> DicomSeries:
        """The series the written slice ``image`` (1, H, W) derives from: the input's slice."""
        series: DicomSeries = data["series"]
        i = data["slice_index"]
        return DicomSeries(series.volume[i : i + 1], series.affine, series.datasets[i : i + 1], series.spacing)

    def write(self, data: dict[Hashable, Any], folder: Path, files: dict[str, Any]) -> None:
        affine, axis = self.geometry(data)
        for key in self.key_iterator(data):
            if data[key] is not None:
                name = self.file_names.get(str(key), str(key))
                image = np.expand_dims(np.asarray(data[key], dtype=np.float32), axis)
                files[name] = str(write_nifti(image, affine, folder / f"{name}.nii.gz"))
        if self.write_dicom and data.get("format") == "dicom":
            for k, key in enumerate([self.keys[0], *self.dicom_keys]):
                if data.get(key) is None:
                    continue
                name = "dicom" if k == 0 else f"dicom_{self.file_names.get(str(key), str(key))}"
                description = self.series_description if k == 0 else f"{self.series_description} ({key})"
                image = np.asarray(data[key], dtype=np.float32)[None]
                written = write_dicom_series(
                    image, self.dicom_series(data, image), folder / name, description, overwrite=True,
                    series_offset=1000 + k,
                )  # fmt: skip
                files[name] = [str(f) for f in written]
