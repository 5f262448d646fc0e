# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Malformed inputs: each one raises MRIInputError early, with a message naming the problem, and leaves no output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import (
    read_cfl,
    read_dicom_series,
    read_fastmri,
    read_ismrmrd,
    read_nifti,
    write_cfl,
    write_dicom_series,
    write_fastmri,
    write_nifti,
)
from tests.io.test_dicom import make_dicom_series
from tests.io.test_ismrmrd import mrd_xml, write_mrd


def _kspace(shape=(2, 8, 6)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _h5(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def _truncate(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _missing_kspace(tmp: Path) -> Callable:
    path = _h5(tmp / "no_kspace.h5", reconstruction_rss=np.zeros((1, 4, 4), np.float32))
    return lambda: read_fastmri(path)


def _real_kspace(tmp: Path) -> Callable:
    path = _h5(tmp / "real.h5", kspace=np.zeros((1, 4, 4, 2), np.float32))
    return lambda: read_fastmri(path)


def _bad_value_kspace(value: float) -> Callable:
    def make(tmp: Path) -> Callable:
        kspace = _kspace()
        kspace[1, 2, 3] = value
        path = _h5(tmp / "bad_values.h5", kspace=kspace)
        return lambda: read_fastmri(path)

    return make


def _truncated_hdf5(tmp: Path) -> Callable:
    path = _truncate(write_fastmri(tmp / "cut.h5", _kspace((4, 32, 32))))
    return lambda: read_fastmri(path)


def _not_hdf5(tmp: Path) -> Callable:
    path = tmp / "notes.h5"
    path.write_text("this is not an HDF5 file\n")
    return lambda: read_fastmri(path)


def _truncated_cfl(tmp: Path) -> Callable:
    write_cfl(tmp / "k", _kspace((1, 8, 6, 2)))
    _truncate(tmp / "k.cfl", 0.75)
    return lambda: read_cfl(tmp / "k")


def _missing_hdr(tmp: Path) -> Callable:
    write_cfl(tmp / "k", _kspace((1, 8, 6, 2)))
    (tmp / "k.hdr").unlink()
    return lambda: read_cfl(tmp / "k.cfl")


def _mrd_without_data(tmp: Path) -> Callable:
    path = write_mrd(tmp / "mrd.h5", [], mrd_xml(8, 4, 8, center=2), with_data=False)
    return lambda: read_ismrmrd(path)


def _nifti_4d(tmp: Path) -> Callable:
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3, 2), np.float32), np.eye(4)), tmp / "dwi.nii.gz")
    return lambda: read_nifti(tmp / "dwi.nii.gz")


def _truncated_nifti(name: str) -> Callable:
    def make(tmp: Path) -> Callable:
        rng = np.random.default_rng(0)
        nib.save(nib.Nifti1Image(rng.standard_normal((24, 24, 24)).astype(np.float32), np.eye(4)), tmp / name)
        _truncate(tmp / name, 0.5)
        return lambda: read_nifti(tmp / name)

    return make


def _non_dicom_in_list(tmp: Path) -> Callable:
    made = make_dicom_series(tmp / "series", n=3)
    (tmp / "series" / "README.txt").write_text("scan notes")
    return lambda: read_dicom_series([*made["files"], tmp / "series" / "README.txt"])


def _mixed_geometry(tmp: Path) -> Callable:
    made = make_dicom_series(tmp / "series", n=3)
    ds = pydicom.dcmread(made["files"][0])
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.save_as(made["files"][0])
    return lambda: read_dicom_series(tmp / "series")


def _mixed_pixel_spacing(tmp: Path) -> Callable:
    made = make_dicom_series(tmp / "series", n=3)
    ds = pydicom.dcmread(made["files"][1])
    ds.PixelSpacing = [1.5, 1.5]
    ds.save_as(made["files"][1])
    return lambda: read_dicom_series(tmp / "series")


def _two_series(tmp: Path) -> Callable:
    make_dicom_series(tmp / "series", n=2, series_uid="1.2.826.0.1.3680043.8.498.1", prefix="a")
    make_dicom_series(tmp / "series", n=2, series_uid="1.2.826.0.1.3680043.8.498.2", prefix="b", seed=1)
    return lambda: read_dicom_series(tmp / "series")


def _duplicate_positions(tmp: Path) -> Callable:
    made = make_dicom_series(tmp / "series", n=3)
    ds = pydicom.dcmread(made["files"][0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp / "series" / "copy.dcm")
    return lambda: read_dicom_series(tmp / "series")


def _missing_pixel_data(tmp: Path) -> Callable:
    made = make_dicom_series(tmp / "series", n=2)
    ds = pydicom.dcmread(made["files"][1])
    del ds.PixelData
    ds.save_as(made["files"][1])
    return lambda: read_dicom_series(tmp / "series")


def _empty_folder(tmp: Path) -> Callable:
    (tmp / "empty").mkdir()
    return lambda: read_dicom_series(tmp / "empty")


READERS = {
    "missing HDF5 key": (_missing_kspace, ["missing", "'kspace'", "reconstruction_rss"]),
    "real-valued k-space": (_real_kspace, ["real-valued", "complex64"]),
    "NaN k-space": (_bad_value_kspace(np.nan), ["NaN", "k-space"]),
    "Inf k-space": (_bad_value_kspace(np.inf), ["Inf", "k-space"]),
    "truncated HDF5": (_truncated_hdf5, ["truncated", "cut.h5"]),
    "non-HDF5 file": (_not_hdf5, ["not an HDF5 file", "notes.h5"]),
    "truncated .cfl": (_truncated_cfl, ["truncated", "expected 768 bytes", "found 576 bytes", "k.cfl"]),
    "missing .hdr": (_missing_hdr, ["missing", "k.hdr"]),
    "ISMRMRD without dataset/data": (_mrd_without_data, ["missing", "dataset/data"]),
    "4-D NIfTI": (_nifti_4d, ["4-D NIfTI", "3-D"]),
    "truncated .nii.gz": (_truncated_nifti("cut.nii.gz"), ["truncated", "cut.nii.gz"]),
    "truncated .nii": (_truncated_nifti("cut.nii"), ["truncated", "cut.nii"]),
    "non-DICOM file in a list": (_non_dicom_in_list, ["not a DICOM file", "README.txt"]),
    "mixed orientation": (_mixed_geometry, ["mixed geometry", "ImageOrientationPatient"]),
    "mixed pixel spacing": (_mixed_pixel_spacing, ["mixed geometry", "PixelSpacing"]),
    "two series": (_two_series, ["several series", "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"]),
    "duplicate positions": (_duplicate_positions, ["duplicate slice positions"]),
    "missing pixel data": (_missing_pixel_data, ["missing pixel data"]),
    "empty series folder": (_empty_folder, ["no DICOM files"]),
}


@pytest.mark.parametrize("case", list(READERS))
def test_malformed_reader_input(tmp_path, case):
    make, words = READERS[case]
    call = make(tmp_path)
    with pytest.raises(MRIInputError) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{case}: {word!r} not in {info.value}"


def _dicom_shape_mismatch(tmp: Path) -> tuple[Callable, Path]:
    make_dicom_series(tmp / "series", n=3)
    ref = read_dicom_series(tmp / "series")
    return lambda: write_dicom_series(np.zeros((3, 8, 8), np.float32), ref, tmp / "out"), tmp / "out"


def _dicom_nan_volume(tmp: Path) -> tuple[Callable, Path]:
    make_dicom_series(tmp / "series", n=3)
    ref = read_dicom_series(tmp / "series")
    volume = ref.volume.copy()
    volume[1, 2, 3] = np.nan
    return lambda: write_dicom_series(volume, ref, tmp / "out"), tmp / "out"


def _nifti_nan(tmp: Path) -> tuple[Callable, Path]:
    array = np.ones((4, 4, 4), np.float32)
    array[0, 0, 0] = np.inf
    return lambda: write_nifti(array, np.eye(4), tmp / "out.nii.gz"), tmp / "out.nii.gz"


def _nifti_none(tmp: Path) -> tuple[Callable, Path]:
    return lambda: write_nifti(None, np.eye(4), tmp / "out.nii.gz"), tmp / "out.nii.gz"


def _fastmri_nan(tmp: Path) -> tuple[Callable, Path]:
    kspace = _kspace()
    kspace[0, 0, 0] = np.nan
    return lambda: write_fastmri(tmp / "out.h5", kspace), tmp / "out.h5"


def _cfl_not_numeric(tmp: Path) -> tuple[Callable, Path]:
    return lambda: write_cfl(tmp / "out", np.array(["a", "b"])), tmp / "out.cfl"


WRITERS = {
    "write_dicom_series shape mismatch": (_dicom_shape_mismatch, ["does not match", "(3, 16, 12)"]),
    "write_dicom_series NaN volume": (_dicom_nan_volume, ["NaN"]),
    "write_nifti non-finite array": (_nifti_nan, ["NaN/Inf"]),
    "write_nifti None array": (_nifti_none, ["None"]),
    "write_fastmri NaN k-space": (_fastmri_nan, ["NaN"]),
    "write_cfl non-numeric array": (_cfl_not_numeric, ["not numeric"]),
}


@pytest.mark.parametrize("case", list(WRITERS))
def test_malformed_writer_input_leaves_nothing(tmp_path, case):
    make, words = WRITERS[case]
    call, output = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MRIInputError) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{case}: {word!r} not in {info.value}"
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file or folder either


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    """An error in the middle of writing (here: the 3rd DICOM slice) removes the temporary folder."""
    make_dicom_series(tmp_path / "series", n=4)
    ref = read_dicom_series(tmp_path / "series")
    calls = []
    original = pydicom.dataset.Dataset.save_as

    def failing_save_as(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", failing_save_as)
    with pytest.raises(OSError, match="disk full"):
        write_dicom_series(ref.volume, ref, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_nifti(ref.volume, ref.affine, tmp_path / "out.nii.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]


def test_stray_files_in_a_series_folder_are_skipped(tmp_path):
    """A PACS or CD export leaves notes beside the images: the folder still reads, with a warning naming them."""
    made = make_dicom_series(tmp_path / "series", n=3)
    (tmp_path / "series" / "README.txt").write_text("scan notes")
    with pytest.warns(UserWarning, match="README.txt"):
        series = read_dicom_series(tmp_path / "series")
    assert series.volume.shape[0] == 3 == len(made["files"])
    only_notes = tmp_path / "notes"
    only_notes.mkdir()
    (only_notes / "a.txt").write_text("x")
    with pytest.raises(MRIInputError, match="no DICOM file"):
        read_dicom_series(only_notes)
