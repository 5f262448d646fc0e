# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the fastMRI .h5 reader and writer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import read_cfl, read_fastmri, write_fastmri
from monai_d3gm.io.ismrmrd import ISMRMRD_NAMESPACE
from tests.utils import shared_data

_XML = f"""<?xml version="1.0"?>
<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}"><encoding>
<encodedSpace><matrixSize><x>640</x><y>372</y><z>1</z></matrixSize>
<fieldOfView_mm><x>280</x><y>140</y><z>4.5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>320</x><y>320</y><z>1</z></matrixSize>
<fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm></reconSpace>
<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>"""


def _kspace(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_single_coil_round_trip(tmp_path):
    kspace = _kspace((4, 10, 8))
    rec = np.abs(np.fft.ifft2(kspace)).astype(np.float32)
    mask = np.zeros(8, np.float32)
    mask[[0, 3, 4]] = 1
    path = write_fastmri(
        tmp_path / "file1.h5", kspace, reconstruction=rec, attrs={"acquisition": "CORPD_FBK"}, mask=mask
    )
    data = read_fastmri(path)
    assert not data.is_multicoil
    assert data.kspace.dtype == np.complex64 and data.kspace.shape == (4, 10, 8)
    np.testing.assert_array_equal(data.kspace, kspace)
    assert data.reconstruction_key == "reconstruction_esc"
    np.testing.assert_array_equal(data.reconstruction, rec)
    np.testing.assert_array_equal(data.mask, mask)
    assert data.attrs["acquisition"] == "CORPD_FBK"
    assert data.attrs["max"] == pytest.approx(float(rec.max()))
    assert data.ismrmrd_header is None and data.num_slices == 4 and data.slices == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["file1.h5"]  # no temporary file left


def test_multi_coil_slices_and_header(tmp_path):
    kspace = _kspace((5, 3, 6, 4), seed=1)
    rss = np.sqrt((np.abs(np.fft.ifft2(kspace)) ** 2).sum(1)).astype(np.float32)
    path = write_fastmri(tmp_path / "multi.h5", kspace, reconstruction=rss, ismrmrd_header=_XML, attrs={"norm": 2.5})
    data = read_fastmri(path, slices=[3, -1, 1])
    assert data.is_multicoil and data.kspace.shape == (3, 3, 6, 4)
    np.testing.assert_array_equal(data.kspace, kspace[[3, 4, 1]])
    np.testing.assert_array_equal(data.reconstruction, rss[[3, 4, 1]])
    assert data.reconstruction_key == "reconstruction_rss" and data.slices == [3, 4, 1]
    assert data.mask is None and data.attrs["norm"] == 2.5
    assert data.header["encoded_matrix"] == (640, 372, 1) and data.header["recon_matrix"] == (320, 320, 1)
    assert tuple(data.attrs["encoding_size"]) == (640, 372, 1)
    one = read_fastmri(path, slices=2)
    np.testing.assert_array_equal(one.kspace, kspace[2:3])
    np.testing.assert_array_equal(read_fastmri(path, slices=slice(1, 3)).kspace, kspace[1:3])


def test_reads_only_requested_slices(tmp_path, monkeypatch):
    kspace = _kspace((6, 4, 4))
    path = write_fastmri(tmp_path / "lazy.h5", kspace)
    requested = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        requested.append(key)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    read_fastmri(path, slices=[4])
    assert slice(4, 5) in requested and not any(k == slice(None) or k is Ellipsis for k in requested)


def test_real_file_without_reference(tmp_path):
    """A file as a user makes it: k-space only, no reconstruction."""
    path = write_fastmri(tmp_path / "user.h5", _kspace((1, 4, 4)))
    data = read_fastmri(path)
    assert data.reconstruction is None and data.reconstruction_key is None and data.mask is None


@pytest.mark.parametrize("slices", [7, -8, [0, 9]])
def test_slices_out_of_range(tmp_path, slices):
    path = write_fastmri(tmp_path / "f.h5", _kspace((7, 4, 4)))
    with pytest.raises(MRIInputError, match="out of range"):
        read_fastmri(path, slices=slices)


def test_wrong_ndim_and_bad_writes(tmp_path):
    path = tmp_path / "wrong.h5"
    with h5py.File(path, "w") as f:
        f["kspace"] = _kspace((4, 4))
    with pytest.raises(MRIInputError, match="2-D"):
        read_fastmri(path)
    with pytest.raises(MRIInputError, match="real-valued"):
        write_fastmri(tmp_path / "out.h5", np.ones((1, 4, 4), np.float32))
    with pytest.raises(MRIInputError, match="mask"):
        write_fastmri(tmp_path / "out.h5", _kspace((1, 4, 4)), mask=np.ones(5))
    with pytest.raises(MRIInputError, match="attribute"):
        write_fastmri(tmp_path / "out.h5", _kspace((1, 4, 4)), attrs={"bad": None})
    assert not (tmp_path / "out.h5").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["wrong.h5"]


def test_espirit_kspace_as_fastmri_round_trip(tmp_path):
    """Real multi-coil k-space (ESPIRiT brain) written as a fastMRI file and read back bit-exactly."""
    full = read_cfl(shared_data("espirit-brain-8ch-kspace", "full.cfl"), squeeze=True)  # (1, 230, 180, 8)
    kspace = np.moveaxis(full[0], -1, 0)[None]  # (1, 8, 230, 180)
    rss = np.sqrt((np.abs(np.fft.ifft2(kspace)) ** 2).sum(1)).astype(np.float32)
    path = write_fastmri(tmp_path / "brain.h5", kspace, reconstruction=rss, attrs={"acquisition": "AXT1"})
    data = read_fastmri(path)
    assert data.is_multicoil and data.kspace.shape == (1, 8, 230, 180)
    np.testing.assert_array_equal(data.kspace, kspace)
    assert data.attrs["max"] == pytest.approx(float(rss.max()))
