# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the NIfTI reader and writer."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import read_nifti, write_nifti
from tests.utils import shared_data

OBLIQUE = np.array(
    [[0.9, -0.1, 0.2, -40.0], [0.1, 1.1, 0.0, 12.5], [-0.15, 0.05, 2.0, 7.0], [0.0, 0.0, 0.0, 1.0]], dtype=np.float64
)


@pytest.mark.parametrize("name", ["img.nii", "img.nii.gz"])
def test_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    array = rng.standard_normal((6, 5, 4)).astype(np.float32)
    path = write_nifti(array, OBLIQUE, tmp_path / name)
    out, affine, header = read_nifti(path)
    assert out.dtype == np.float32 and out.shape == (6, 5, 4)
    np.testing.assert_array_equal(out, array)
    np.testing.assert_allclose(affine, OBLIQUE, atol=1e-5)
    assert affine.dtype == np.float64
    assert int(header["sform_code"]) == 1 and int(header["qform_code"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_keeps_codes_and_scaling(tmp_path):
    """An int16 file with scl_slope is read scaled; writing back with its header keeps its affine and codes."""
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    img = nib.Nifti1Image(data, OBLIQUE)
    img.header.set_slope_inter(0.5, -3.0)
    img.set_sform(OBLIQUE, code=2)
    img.set_qform(OBLIQUE, code=4)
    nib.save(img, tmp_path / "in.nii.gz")
    array, affine, header = read_nifti(tmp_path / "in.nii.gz")
    np.testing.assert_allclose(array, data * 0.5 - 3.0)
    write_nifti(array * 2, affine, tmp_path / "out.nii.gz", header=header)
    out, out_affine, out_header = read_nifti(tmp_path / "out.nii.gz")
    np.testing.assert_allclose(out, 2 * (data * 0.5 - 3.0))
    np.testing.assert_allclose(out_affine, affine, atol=1e-5)
    assert (int(out_header["sform_code"]), int(out_header["qform_code"])) == (2, 4)
    assert out_header.get_data_dtype() == np.float32


def test_2d_and_4d(tmp_path):
    write_nifti(np.ones((4, 3), np.float32), np.eye(4), tmp_path / "two.nii")
    assert read_nifti(tmp_path / "two.nii")[0].shape == (4, 3)
    nib.save(nib.Nifti1Image(np.ones((4, 3, 2, 1), np.float32), np.eye(4)), tmp_path / "single_volume.nii")
    assert read_nifti(tmp_path / "single_volume.nii")[0].shape == (4, 3, 2)  # trailing singleton dropped
    nib.save(nib.Nifti1Image(np.ones((4, 3, 2, 3), np.float32), np.eye(4)), tmp_path / "series.nii")
    with pytest.raises(MRIInputError, match="4-D NIfTI"):
        read_nifti(tmp_path / "series.nii")
    assert read_nifti(tmp_path / "series.nii", allow_4d=True)[0].shape == (4, 3, 2, 3)


def test_nan_only_and_bad_writes(tmp_path):
    nib.save(nib.Nifti1Image(np.full((3, 3, 3), np.nan, np.float32), np.eye(4)), tmp_path / "nan.nii")
    with pytest.raises(MRIInputError, match="only NaN"):
        read_nifti(tmp_path / "nan.nii")
    with pytest.raises(MRIInputError, match="no such file"):
        read_nifti(tmp_path / "absent.nii.gz")
    with pytest.raises(MRIInputError, match=r"\.nii or \.nii\.gz"):
        write_nifti(np.ones((3, 3)), np.eye(4), tmp_path / "x.png")
    with pytest.raises(MRIInputError, match="affine"):
        write_nifti(np.ones((3, 3)), np.zeros((4, 4)), tmp_path / "x.nii")
    with pytest.raises(MRIInputError, match="real-valued"):
        write_nifti(np.ones((3, 3), np.complex64), np.eye(4), tmp_path / "x.nii")
    with pytest.raises(MRIInputError, match="output folder"):
        write_nifti(np.ones((3, 3)), np.eye(4), tmp_path / "missing" / "x.nii")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.nii"]


def test_flair():
    array, affine, header = read_nifti(shared_data("niivue-brain-t1-flair", "FLAIR.nii.gz"))
    assert array.shape == (124, 160, 140) and array.dtype == np.float32
    assert 0 <= array.min() and array.max() <= 255
    assert affine.shape == (4, 4) and np.allclose(affine[3], [0, 0, 0, 1])
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), 1.0, atol=1e-3)  # 1 mm isotropic
    np.testing.assert_allclose(affine[:3, 3], [-64.898, -110.431, -27.926], atol=1e-2)


def test_ixi_round_trip(tmp_path):
    array, affine, header = read_nifti(shared_data("ixi-ixi002-dti", "IXI002-Guys-0828-DTI-00.nii.gz"))
    assert array.shape == (128, 128, 56) and 0 <= array.min() and array.max() == 1758
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), [1.75, 1.75, 2.35], atol=1e-3)
    write_nifti(array, affine, tmp_path / "ixi.nii.gz", header=header)
    out, out_affine, out_header = read_nifti(tmp_path / "ixi.nii.gz")
    np.testing.assert_array_equal(out, array)
    np.testing.assert_allclose(out_affine, affine, atol=1e-5)
    assert (int(out_header["sform_code"]), int(out_header["qform_code"])) == (1, 1)
