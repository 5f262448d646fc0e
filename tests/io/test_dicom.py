# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the DICOM series reader and writer on a synthetic oblique series generated with pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import (
    LPS_TO_RAS,
    read_dicom_series,
    read_nifti,
    write_dicom_series,
    write_nifti,
)
from monai_d3gm.io.dicom import _save_file_format


def _rotation(deg_z: float, deg_x: float) -> np.ndarray:
    z, x = np.deg2rad(deg_z), np.deg2rad(deg_x)
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return rz @ rx


def make_dicom_series(
    folder: Path,
    n: int = 5,
    rows: int = 16,
    cols: int = 12,
    rotation: tuple[float, float] = (20.0, 15.0),
    spacing: tuple[float, float, float] = (2.5, 0.9, 0.8),
    series_uid: str | None = None,
    prefix: str = "",
    seed: int = 0,
) -> dict:
    """Write an oblique MR series of ``n`` slices ``rows x cols`` (uint16 stored, slope 0.5, intercept -100).

    File names and InstanceNumbers are shuffled, so only the positions give the slice order.

    Returns:
        dict with ``volume`` (float32, slices ordered along the normal), ``affine_lps``, ``positions``, ``files``,
        ``series_uid``, ``study_uid``, ``frame_uid``, ``iop``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rot = _rotation(*rotation)
    iop = np.round(np.concatenate([rot[:, 0], rot[:, 1]]), 6)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    origin = np.array([-30.25, 12.5, -7.0])
    positions = np.round(origin[None] + np.arange(n)[:, None] * spacing[0] * normal[None], 5)
    stored = rng.integers(0, 4000, size=(n, rows, cols)).astype(np.uint16)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(), generate_uid()
    order = rng.permutation(n)  # file k holds slice order[k]
    files = []
    for k, s in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.PatientName, ds.PatientID = "MR", "Test^Phantom", "D3GM-TEST"
        ds.SeriesNumber, ds.SeriesDescription = 7, "synthetic oblique T1"
        ds.InstanceNumber = int(rng.integers(1, 1000))
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ImagePositionPatient = [float(v) for v in positions[s]]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-100"
        ds.PixelData = stored[s].tobytes()
        ds["PixelData"].VR = "OW"
        path = folder / f"{prefix}{rng.integers(10**6):06d}_{k}.dcm"
        _save_file_format(ds, path)  # pydicom 2.4 and 3
        files.append(path)
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = (positions[-1] - positions[0]) / max(n - 1, 1) if n > 1 else normal * spacing[0]
    affine_lps[:3, 1] = col_dir * spacing[1]
    affine_lps[:3, 2] = row_dir * spacing[2]
    affine_lps[:3, 3] = positions[0]
    return {
        "volume": stored.astype(np.float32) * 0.5 - 100,
        "affine_lps": affine_lps,
        "positions": positions,
        "files": files,
        "series_uid": series_uid,
        "study_uid": study_uid,
        "frame_uid": frame_uid,
        "iop": iop,
    }


def test_read_orders_by_position(tmp_path):
    made = make_dicom_series(tmp_path / "series")
    series = read_dicom_series(tmp_path / "series")
    assert series.volume.shape == (5, 16, 12) and series.volume.dtype == np.float32
    np.testing.assert_array_equal(series.volume, made["volume"])
    np.testing.assert_allclose(series.affine_lps, made["affine_lps"], atol=1e-6)
    np.testing.assert_allclose(series.affine, LPS_TO_RAS @ made["affine_lps"], atol=1e-6)
    np.testing.assert_allclose(series.positions, made["positions"], atol=1e-6)
    assert series.spacing == pytest.approx((2.5, 0.9, 0.8), abs=1e-4)
    assert series.series_instance_uid == made["series_uid"]
    assert all("PixelData" not in ds for ds in series.datasets)
    # the affine maps voxel (k, i, j) to the DICOM position of that pixel (LPS -> RAS)
    k, i, j = 3, 7, 5
    row_dir, col_dir = made["iop"][:3], made["iop"][3:]
    lps = made["positions"][k] + j * 0.8 * row_dir + i * 0.9 * col_dir
    np.testing.assert_allclose(series.affine @ [k, i, j, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-4)
    # a list of files in any order gives the same volume
    listed = read_dicom_series(list(reversed(made["files"])))
    np.testing.assert_array_equal(listed.volume, series.volume)


def test_write_read_round_trip(tmp_path):
    make_dicom_series(tmp_path / "series")
    ref = read_dicom_series(tmp_path / "series")
    recon = ref.volume * 0.37 + 12.3  # float values, not integers
    files = write_dicom_series(recon, ref, tmp_path / "out", series_number=42)
    assert [f.name for f in files] == [f"IM{k:05d}.dcm" for k in range(1, 6)] and all(f.is_file() for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "series"]  # no temporary folder left
    out = read_dicom_series(tmp_path / "out")
    step = (recon.max() - recon.min()) / 65535
    np.testing.assert_allclose(out.volume, recon, atol=step * 0.51 + 1e-4)
    np.testing.assert_allclose(out.affine, ref.affine, atol=1e-6)
    np.testing.assert_allclose(out.positions, ref.positions, atol=1e-6)
    assert out.spacing == pytest.approx(ref.spacing)
    assert out.series_instance_uid != ref.series_instance_uid
    old_sops = {ds.SOPInstanceUID for ds in ref.datasets}
    new_sops = {ds.SOPInstanceUID for ds in out.datasets}
    assert len(new_sops) == 5 and not new_sops & old_sops
    for new, old in zip(out.datasets, ref.datasets):
        assert new.StudyInstanceUID == old.StudyInstanceUID and new.FrameOfReferenceUID == old.FrameOfReferenceUID
        assert list(new.ImageOrientationPatient) == list(old.ImageOrientationPatient)
        assert list(new.ImageType[:2]) == ["DERIVED", "SECONDARY"]
        assert new.SeriesDescription == "D3GM reconstruction" and new.SeriesNumber == 42
        assert new.SourceImageSequence[0].ReferencedSOPInstanceUID == old.SOPInstanceUID
        assert new.BitsAllocated == 16 and new.PixelRepresentation == 0
        assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID
    assert [int(ds.InstanceNumber) for ds in out.datasets] == [1, 2, 3, 4, 5]
    raw = pydicom.dcmread(files[0])
    assert raw.pixel_array.dtype == np.uint16 and raw.pixel_array.max() <= 65535


def test_constant_volume_and_overwrite(tmp_path):
    make_dicom_series(tmp_path / "series", n=2)
    ref = read_dicom_series(tmp_path / "series")
    write_dicom_series(np.full(ref.volume.shape, 5.5, np.float32), ref, tmp_path / "out")
    np.testing.assert_allclose(read_dicom_series(tmp_path / "out").volume, 5.5)
    with pytest.raises(MRIInputError, match="non-empty folder"):
        write_dicom_series(ref.volume, ref, tmp_path / "out")
    write_dicom_series(ref.volume, ref, tmp_path / "out", overwrite=True)
    np.testing.assert_allclose(read_dicom_series(tmp_path / "out").volume, ref.volume, atol=0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "series"]


def test_single_slice_and_series_uid(tmp_path):
    one = make_dicom_series(tmp_path / "mixed", n=1, prefix="a")
    make_dicom_series(tmp_path / "mixed", n=3, prefix="b", seed=1)
    series = read_dicom_series(tmp_path / "mixed", series_uid=one["series_uid"])
    assert series.volume.shape == (1, 16, 12) and series.spacing[0] == pytest.approx(2.5)
    np.testing.assert_allclose(series.affine_lps, one["affine_lps"], atol=1e-6)
    with pytest.raises(MRIInputError, match="not among"):
        read_dicom_series(tmp_path / "mixed", series_uid="1.2.3")


def test_uneven_spacing(tmp_path):
    made = make_dicom_series(tmp_path / "series", n=5)
    order = np.argsort(made["positions"] @ np.cross(made["iop"][:3], made["iop"][3:]))
    files = [f for f in made["files"] if pydicom.dcmread(f).ImagePositionPatient != list(made["positions"][order[2]])]
    with pytest.raises(MRIInputError, match="evenly spaced"):
        read_dicom_series(files)


def test_dicom_and_nifti_agree(tmp_path):
    """A NIfTI written with the series' (RAS) affine puts each voxel at the DICOM pixel's position."""
    made = make_dicom_series(tmp_path / "series")
    series = read_dicom_series(tmp_path / "series")
    write_nifti(series.volume, series.affine, tmp_path / "series.nii.gz")
    array, affine, _ = read_nifti(tmp_path / "series.nii.gz")
    np.testing.assert_array_equal(array, series.volume)
    np.testing.assert_allclose(affine, series.affine, atol=1e-5)
    row_dir, col_dir = made["iop"][:3], made["iop"][3:]
    for k, i, j in [(0, 0, 0), (4, 15, 11), (2, 3, 9)]:
        lps = made["positions"][k] + j * 0.8 * row_dir + i * 0.9 * col_dir
        np.testing.assert_allclose(affine @ [k, i, j, 1], LPS_TO_RAS @ [*lps, 1], atol=1e-4)
