# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monai_d3gm.apps.reconstruction.transforms import LoadMRISliced
from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import load_mri_slice, write_cfl, write_fastmri, write_nifti
from tests.utils import shared_data


def test_every_format_gives_one_slice(tmp_path):
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((3, 2, 8, 6)) + 1j * rng.standard_normal((3, 2, 8, 6))).astype(np.complex64)
    write_fastmri(tmp_path / "f.h5", k, mask=np.array([1, 0, 1, 1, 0, 1], np.float32))
    d = load_mri_slice(tmp_path / "f.h5", slice_index=2)
    assert d["format"] == "fastmri" and d["slice_index"] == 2
    np.testing.assert_array_equal(d["kspace"], k[2])
    assert d["mask"].shape == (8, 6) and d["mask"][:, 1].sum() == 0
    write_cfl(tmp_path / "k", k[0].transpose(1, 2, 0)[None])  # BART layout [1, H, W, coils]
    np.testing.assert_array_equal(load_mri_slice(tmp_path / "k")["kspace"], k[0])
    np.save(tmp_path / "k.npy", k[1])
    np.testing.assert_array_equal(load_mri_slice(tmp_path / "k.npy")["kspace"], k[1])
    vol = rng.random((5, 6, 7)).astype(np.float32)
    write_nifti(vol, np.eye(4), tmp_path / "v.nii.gz")
    d = LoadMRISliced("path")({"path": str(tmp_path / "v.nii.gz")})
    np.testing.assert_array_equal(d["image"], vol[:, :, 3])
    assert d["affine"].shape == (4, 4)


def test_real_inputs():
    d = load_mri_slice(shared_data("espirit-brain-8ch-kspace", "full.cfl"))
    assert d["kspace"].shape == (8, 230, 180)
    d = load_mri_slice(shared_data("sigpy-brain-8ch-poisson-kspace", "cartesian_ksp.npy"))
    assert d["kspace"].shape == (8, 230, 180)
    d = load_mri_slice(shared_data("gadgetron-ismrmrd-phantom-14ch", "meas_MID00349_FID09273_SNR_R3.h5"))
    assert d["kspace"].shape[0] == 14 and d["mask"].shape == d["kspace"].shape[1:]
    d = load_mri_slice(shared_data("niivue-brain-t1-flair", "FLAIR.nii.gz"), slice_index=10)
    assert d["image"].shape == (124, 160) and d["slice_index"] == 10


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("missing.h5", None, "does not exist"),
        ("notes.txt", b"hello", "unknown MRI format"),
        ("bad.h5", b"not hdf5", "HDF5"),
        ("real.npy", np.zeros((2, 4, 4)), "complex"),
        ("nan.npy", np.full((1, 4, 4), np.nan, np.complex64), "NaN"),
    ],
)
def test_bad_inputs(tmp_path, name, content, match):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    with pytest.raises(MRIInputError, match=match):
        load_mri_slice(path)


def test_slice_out_of_range(tmp_path):
    write_nifti(np.ones((2, 2, 3), np.float32), np.eye(4), tmp_path / "v.nii")
    with pytest.raises(MRIInputError, match="out of range"):
        load_mri_slice(tmp_path / "v.nii", slice_index=3)


def test_images_nibabel_reads_and_dicom_without_a_suffix(tmp_path):
    """FreeSurfer .mgz/.mgh, Analyze .hdr/.img pairs and a DICOM file named like a scanner export all read."""
    import nibabel as nib

    from monai_d3gm.io import MRIVolume, mri_format
    from tests.io.test_dicom import make_dicom_series

    vol = np.random.default_rng(1).random((6, 7, 3)).astype(np.float32)
    affine = np.diag([0.9, 0.9, 2.0, 1.0])
    nib.save(nib.MGHImage(vol, affine), tmp_path / "v.mgz")
    nib.save(nib.MGHImage(vol, affine), tmp_path / "v.mgh")
    nib.save(nib.AnalyzeImage(vol, affine), tmp_path / "a.hdr")  # writes a.hdr + a.img
    for name in ("v.mgz", "v.mgh", "a.hdr", "a.img"):
        assert mri_format(tmp_path / name) == "nifti", name
        volume = MRIVolume(tmp_path / name)
        np.testing.assert_allclose(volume.affine, nib.load(tmp_path / name).affine, atol=1e-5)  # the file's own
        np.testing.assert_allclose(load_mri_slice(tmp_path / name, slice_index=1)["image"], vol[:, :, 1], rtol=1e-6)
    series = make_dicom_series(tmp_path / "series", n=1)
    renamed = Path(series["files"][0]).rename(tmp_path / "IM000001")  # PACS exports often have no suffix
    assert mri_format(renamed) == "dicom"
    np.testing.assert_allclose(load_mri_slice(renamed)["image"], series["volume"][0])
    (tmp_path / "IM000002").write_bytes(b"\0" * 200)  # no DICM marker: still unknown
    with pytest.raises(MRIInputError, match="unknown MRI format"):
        mri_format(tmp_path / "IM000002")


def test_real_suffixless_dicom_and_freesurfer_volume():
    d = load_mri_slice(shared_data("nonbrain-mr", "shoulder-nema-wg04", "MR2_UNCR"))
    assert d["format"] == "dicom" and d["image"].shape == (1024, 1024)
    d = load_mri_slice(shared_data("brain-mr-volumes", "niivue-freesurfer-mgz", "norm.mgz"))
    assert d["format"] == "nifti" and d["image"].shape == (256, 256)


def test_a_folder_of_cases_finds_the_new_formats(tmp_path):
    import nibabel as nib

    from monai_d3gm.io.inputs import case_name, find_mri_inputs
    from tests.io.test_dicom import make_dicom_series

    vol = np.ones((6, 7, 3), np.float32)
    nib.save(nib.MGHImage(vol, np.eye(4)), tmp_path / "a.mgz")
    nib.save(nib.AnalyzeImage(vol, np.eye(4)), tmp_path / "b.hdr")
    series = make_dicom_series(tmp_path / "export", n=2)
    for k, f in enumerate(series["files"]):
        Path(f).rename(tmp_path / "export" / f"IM{k:04d}")  # a series of suffix-less files
    found = find_mri_inputs(tmp_path)
    assert sorted(p.name for p in found) == ["a.mgz", "b.hdr", "export"]
    assert sorted(case_name(p) for p in found) == ["a", "b", "export"]


def test_every_format_has_one_slice_source():
    """MRIVolume reads each format through the slice source registered under its name, not an if/elif switch."""
    from monai_d3gm.io.load import FORMATS, SliceSources

    assert set(SliceSources.names) == set(FORMATS)
    for name, source in SliceSources:
        assert callable(getattr(source, "__getitem__", None)), name
