# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the BART .cfl/.hdr reader and writer."""

from __future__ import annotations

import numpy as np
import pytest

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import kspace_from_cfl, read_cfl, write_cfl
from tests.utils import shared_data


def _array(shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.mark.parametrize("name", ["x", "x.cfl", "x.hdr"])
def test_round_trip_and_names(tmp_path, name):
    array = _array((1, 6, 5, 3))
    hdr, cfl = write_cfl(tmp_path / "x", array)
    assert hdr.read_text().splitlines() == ["# Dimensions", "1 6 5 3 "]
    assert cfl.stat().st_size == array.size * 8
    # Fortran order on disk, as BART writes it
    np.testing.assert_array_equal(np.fromfile(cfl, np.complex64), array.ravel(order="F"))
    out = read_cfl(tmp_path / name)
    assert out.shape == (1, 6, 5, 3) and out.dtype == np.complex64
    np.testing.assert_array_equal(out, array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cfl", "x.hdr"]


def test_squeeze_and_kspace_layout(tmp_path):
    array = _array((1, 6, 5, 3, 1, 1))
    write_cfl(tmp_path / "k", array)
    assert read_cfl(tmp_path / "k").shape == (1, 6, 5, 3, 1, 1)
    assert read_cfl(tmp_path / "k", squeeze=True).shape == (1, 6, 5, 3)
    kspace = kspace_from_cfl(tmp_path / "k")
    assert kspace.shape == (3, 6, 5) and kspace.flags.c_contiguous
    np.testing.assert_array_equal(kspace, np.moveaxis(array[0, :, :, :, 0, 0], -1, 0))
    write_cfl(tmp_path / "one", _array((1, 6, 5)))
    assert kspace_from_cfl(tmp_path / "one").shape == (1, 6, 5)


@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (1, 6, 5, 3, 2)])
def test_kspace_from_cfl_rejects_other_layouts(tmp_path, shape):
    write_cfl(tmp_path / "k", _array(shape))
    with pytest.raises(MRIInputError, match=r"\[1, PHS1, PHS2, COIL\]"):
        kspace_from_cfl(tmp_path / "k")


def test_header_with_extra_sections(tmp_path):
    array = _array((2, 3))
    write_cfl(tmp_path / "a", array)
    (tmp_path / "a.hdr").write_text("# Dimensions\n2 3 \n# Command\nbart ones 2 2 3\n")
    np.testing.assert_array_equal(read_cfl(tmp_path / "a"), array)


def test_unparsable_header(tmp_path):
    write_cfl(tmp_path / "a", _array((2, 3)))
    (tmp_path / "a.hdr").write_text("# Dimensions\ntwo three\n")
    with pytest.raises(MRIInputError, match="cannot be parsed"):
        read_cfl(tmp_path / "a")


def test_espirit_brain_files():
    assert read_cfl(shared_data("espirit-brain-8ch-kspace", "full.cfl")).shape == (1, 230, 180, 8, 1)  # BART's dims
    full = read_cfl(shared_data("espirit-brain-8ch-kspace", "full.cfl"), squeeze=True)
    und = read_cfl(shared_data("espirit-brain-8ch-kspace", "und2x2.hdr"), squeeze=True)
    assert full.shape == und.shape == (1, 230, 180, 8) and full.dtype == np.complex64
    assert np.abs(full).max() == pytest.approx(1872, rel=0.01)
    sampled = und != 0
    assert 0.2 < sampled.mean() < 0.3  # 25.7 % of the samples
    np.testing.assert_array_equal(und[sampled], full[sampled])  # und2x2 is an exact subset of full
    kspace = kspace_from_cfl(shared_data("espirit-brain-8ch-kspace", "full.hdr"))
    assert kspace.shape == (8, 230, 180)
    np.testing.assert_array_equal(kspace[3], full[0, :, :, 3])
