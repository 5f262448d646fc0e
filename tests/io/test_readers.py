# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The k-space formats through MONAI's LoadImage / LoadImaged: the same k-space and mask as load_mri_slice."""

from __future__ import annotations

import numpy as np
import pytest
from monai.transforms import LoadImage, LoadImaged

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import load_mri_slice, write_cfl, write_fastmri, write_nifti
from monai_d3gm.io.readers import BartReader, FastMRIReader, ISMRMRDReader, KspaceNpyReader, KspaceReader
from tests.io.test_ismrmrd import make_acquisition


def _kspace(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.fixture
def files(tmp_path):
    """One file of each k-space format, and a NIfTI image."""
    fastmri = write_fastmri(tmp_path / "knee.h5", _kspace((3, 4, 16, 12)), mask=(np.arange(12) % 2 == 0))
    ismrmrd = make_acquisition(tmp_path, slices=2)[0]
    bart = write_cfl(tmp_path / "slice", np.moveaxis(_kspace((4, 16, 12), seed=1), 0, -1)[None])[1]  # [1, H, W, C]
    npy = tmp_path / "slice.npy"
    np.save(npy, _kspace((2, 16, 12), seed=2))
    nifti = write_nifti(np.ones((8, 8, 3), np.float32), np.eye(4), tmp_path / "image.nii.gz")
    return {"fastmri": fastmri, "ismrmrd": ismrmrd, "bart": bart, "npy": npy, "nifti": nifti}


@pytest.mark.parametrize(
    "fmt, reader",
    [("fastmri", FastMRIReader), ("ismrmrd", ISMRMRDReader), ("bart", BartReader), ("npy", KspaceNpyReader)],
)
def test_loadimage_reads_what_load_mri_slice_reads(files, fmt, reader):
    image, meta = LoadImage(reader=reader(), dtype=None, image_only=False)(files[fmt])
    assert image.dtype.is_complex and meta["format"] == fmt
    slices = [load_mri_slice(files[fmt], i) for i in range(meta["num_slices"])]
    expected = np.stack([s["kspace"] for s in slices]) if meta["num_slices"] > 1 else slices[0]["kspace"]
    np.testing.assert_array_equal(image.numpy(), expected)  # pre-whitened ISMRMRD k-space too
    assert meta["original_channel_dim"] == image.ndim - 3 and tuple(meta["spatial_shape"]) == image.shape[-2:]
    if "mask" in slices[0]:
        masks = np.stack([s["mask"] for s in slices]) if meta["num_slices"] > 1 else slices[0]["mask"]
        np.testing.assert_array_equal(meta["mask"], masks)
    else:
        assert "mask" not in meta


def test_loadimaged_and_automatic_choice(files):
    data = LoadImaged("kspace", reader=FastMRIReader(), dtype=None)({"kspace": files["fastmri"]})
    assert data["kspace"].shape == (3, 4, 16, 12) and data["kspace"].meta["mask"].shape == (3, 16, 12)
    loader = LoadImage(dtype=None)
    loader.register(KspaceReader())  # chosen by content for every k-space format
    for fmt in ("fastmri", "ismrmrd", "bart", "npy"):
        assert loader(files[fmt]).dtype.is_complex


def test_suffixes_and_refusals(files, tmp_path):
    assert FastMRIReader().verify_suffix(files["fastmri"]) and not FastMRIReader().verify_suffix(files["ismrmrd"])
    assert KspaceReader().verify_suffix([files["bart"], files["npy"]])
    assert not KspaceReader().verify_suffix(files["nifti"]) and not KspaceReader().verify_suffix(tmp_path / "absent.h5")
    with pytest.raises(MRIInputError, match="is ismrmrd, not fastmri; use ISMRMRDReader"):
        FastMRIReader().read(files["ismrmrd"])
    with pytest.raises(MRIInputError, match="NibabelReader"):
        KspaceReader().read(files["nifti"])
    with pytest.raises(MRIInputError, match="unknown k-space formats"):
        KspaceReader(formats=["dicom"])
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(MRIInputError, match="not a readable k-space .npy"):  # a reader given at the call
        LoadImage(dtype=None)(tmp_path / "bad.npy", reader=KspaceNpyReader())
    with pytest.raises(RuntimeError, match="not a readable k-space .npy"):  # MONAI wraps what its readers raise
        LoadImage(reader=KspaceNpyReader(), dtype=None)(tmp_path / "bad.npy")


def test_several_files_stack_on_a_new_axis(files, tmp_path):
    other = tmp_path / "other.npy"
    np.save(other, _kspace((2, 16, 12), seed=5))
    reader = KspaceNpyReader()
    array, meta = reader.get_data(reader.read([files["npy"], other]))
    assert array.shape == (2, 2, 16, 12) and meta["original_channel_dim"] == 1
    np.save(other, _kspace((3, 16, 12), seed=5))
    with pytest.raises(MRIInputError, match="different shapes"):
        reader.get_data(reader.read([files["npy"], other]))
