# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the raw k-space readers: fastMRI and ISMRMRD/MRD ``.h5``, BART ``.cfl``/``.hdr``, k-space
``.npy``, format detection and :class:`MRIVolume`/:func:`load_mri_slice` over all of them.

Each fuzzed call either returns sane k-space (complex64, finite, ``(C, H, W)`` per slice, a mask of the slice's shape)
or refuses the input with :class:`MRIInputError`, whose message names the file (or the slice argument); see
:func:`tests.fuzz.check_contract`. Files are made in a fresh temporary folder per example. The regular tests at the end
pin the crashes the fuzzing found.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import (
    MRIVolume,
    kspace_from_cfl,
    load_mri_slice,
    mri_format,
    noise_prewhitening_matrix,
    parse_ismrmrd_header,
    prewhiten,
    read_cfl,
    read_fastmri,
    read_ismrmrd,
    write_cfl,
    write_fastmri,
)
from monai_d3gm.io.ismrmrd import ISMRMRD_NAMESPACE
from tests.fuzz import check_contract
from tests.io.test_ismrmrd import _ACQUISITION, NOISE, mrd_xml, write_mrd

FASTMRI, ISMRMRD, BART, NPY, DETECT = (
    "fastMRI reader",
    "ISMRMRD reader",
    "BART reader",
    "k-space .npy reader",
    "format detection",
)
VOLUME, WHITEN, HEADER = "MRIVolume/load_mri_slice", "noise pre-whitening", "ISMRMRD header parser"

NAN, INF = float("nan"), float("inf")
#: values planted in an otherwise finite array (1e300 overflows complex64/float32 to Inf)
BAD_VALUES = [NAN, INF, -INF, complex(0, NAN), complex(INF, 0), 1e300]
SEEDS = st.integers(0, 2**32 - 1)
#: where to cut a file: mostly not at all, else at a random fraction of its bytes
CUTS = st.sampled_from([None] * 6 + ["cut"]).flatmap(lambda c: st.none() if c is None else st.floats(0.0, 0.99))


# ----- helpers
def _complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _array(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An array of ``shape`` of a named dtype kind (numeric, complex, compound, strings, objects)."""
    if kind == "S":
        return np.full(shape, b"ks", dtype="S2")
    if kind in ("str", "object"):
        out = np.empty(shape, dtype=object)
        out[...] = "kspace" if kind == "str" else {"k": 1}
        return out
    if kind in ("ri", "reim"):
        names = ("r", "i") if kind == "ri" else ("real", "imag")
        out = np.zeros(shape, dtype=[(names[0], "<f4"), (names[1], "<f4")])
        out[names[0]], out[names[1]] = rng.standard_normal(shape), rng.standard_normal(shape)
        return out
    dtype = np.dtype(kind)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 2, shape).astype(dtype)


def _plant(array: np.ndarray, position: int, value: complex | float) -> bool:
    """Put ``value`` at flat ``position`` of a float/complex array; whether it was planted."""
    if array.size == 0 or array.dtype.kind not in "fc" or (array.dtype.kind == "f" and isinstance(value, complex)):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        array.reshape(-1)[position % array.size] = value
    return True


def _put(group: h5py.Group, key: str, value: Any) -> None:
    """Store ``value`` under ``key``: "GROUP" makes a group, object arrays become variable-length strings."""
    if isinstance(value, str) and value == "GROUP":
        group.create_group(key)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        group.create_dataset(key, data=value.astype(str).astype(object), dtype=h5py.string_dtype())
    else:
        group[key] = value


def _truncate(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def check_slice(out: dict[str, Any]) -> None:
    """An accepted k-space slice is sane: complex64 finite non-empty (C, H, W), mask and reference 2-D float32."""
    kspace = out["kspace"]
    assert isinstance(kspace, np.ndarray) and kspace.dtype == np.complex64, kspace.dtype
    assert kspace.ndim == 3 and kspace.size > 0, kspace.shape
    assert np.isfinite(kspace).all()
    if "mask" in out:
        assert out["mask"].shape == kspace.shape[-2:] and out["mask"].dtype == np.float32
        assert np.isfinite(out["mask"]).all()
    if "reference" in out:
        ref = out["reference"]
        assert ref.ndim == 2 and ref.dtype == np.float32 and np.isfinite(ref).all(), (ref.shape, ref.dtype)


def check_volume(
    kind: str,
    path: Path,
    index: Any,
    describe: str,
    expect_error: bool | None = None,
    names: tuple[str, ...] | None = None,
) -> None:
    """MRIVolume(path)[index] and load_mri_slice(path, index): accepted slices are sane, refusals name the file (one
    of ``names``, default ``path.name``) or the slice argument."""
    names = (path.name,) if names is None else names
    volume = check_contract(kind, lambda: MRIVolume(path), mention=names, describe=describe)
    if volume is not None:
        assert len(volume) >= 1, f"{kind}: an MRIVolume without slices was accepted ({describe})"
        out = check_contract(kind, lambda: volume[index], mention=(*names, "slice"), describe=describe)
        if out is not None:
            check_slice(out)
    out = check_contract(
        kind,
        lambda: load_mri_slice(path, index),
        mention=(*names, "slice"),
        expect_error=expect_error,
        describe=describe,
    )
    if out is not None:
        check_slice(out)


INDICES = st.one_of(
    st.none(), st.integers(-6, 6), st.integers(-6, 6).map(np.int64), st.sampled_from([1.5, True, "0", 10**30])
)


def _valid_index(index: Any, n: int) -> bool:
    if index is None:
        return n > 0
    return isinstance(index, (int, np.integer)) and not isinstance(index, bool) and -n <= index < n


# ----- fastMRI
KSPACE_DTYPES = ["<c8", ">c8", "<c16", "<f4", "<f8", "<f2", "<i2", "|u1", "|b1", "ri", "reim", "S", "str"]
SLICE_ARGS = st.one_of(
    st.none(),
    st.integers(-6, 6),
    st.integers(-6, 6).map(np.int64),
    st.lists(st.integers(-6, 6), max_size=4),
    st.builds(
        slice,
        st.none() | st.integers(-6, 6),
        st.none() | st.integers(-6, 6),
        st.none() | st.integers(-2, 2),
    ),
    st.sampled_from([1.0, True, "0", [0.5], [None], np.float32(1)]),
)
HEADERS = st.sampled_from(
    [
        None,
        "valid",
        b"<ismrmrdHeader><encoding>",
        b"\x00\xff garbage",
        "empty array",
        "number",
        "GROUP",
        "inf matrix",
        "nan matrix",
        "negative matrix",
        "no encoding",
    ]
)


def _rows(slices: Any, n: int) -> list[int] | None:
    """The slice indices ``read_fastmri`` must read, or None when ``slices`` is not a valid request."""

    def ok(s: Any) -> bool:
        return isinstance(s, (int, np.integer)) and not isinstance(s, bool) and -n <= s < n

    if slices is None:
        return list(range(n))
    if isinstance(slices, slice):
        return None if slices.step == 0 else list(range(n))[slices]
    items = [slices] if np.isscalar(slices) else list(slices)
    return [int(s) % n for s in items] if all(ok(s) for s in items) else None


def header_text(kind: Any) -> Any:
    """An ``ismrmrd_header`` value: valid XML, broken XML, numbers in the matrix that are not sizes, non-text data."""
    if kind in ("valid", "inf matrix", "nan matrix", "negative matrix"):
        value = {"valid": "4", "inf matrix": "inf", "nan matrix": "nan", "negative matrix": "-4"}[kind]
        xml = mrd_xml(8, 4, 8, center=2).replace("<x>8</x><y>4</y>", f"<x>{value}</x><y>{value}</y>", 1)
        return np.bytes_(xml.encode())
    if kind == "no encoding":
        return np.bytes_(f'<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}"><version>1</version></ismrmrdHeader>'.encode())
    if kind == "empty array":
        return np.zeros(0, dtype="S4")
    if kind == "number":
        return np.float32(3.5)
    return np.bytes_(kind) if isinstance(kind, bytes) else kind


@st.composite
def fastmri_files(draw: st.DrawFn) -> dict[str, Any]:
    """A fastMRI file: a valid one (slices, [coils,] H, W) with zero or more mutations of each dataset."""
    spec: dict[str, Any] = {"seed": draw(SEEDS), "bad": []}
    multicoil = draw(st.booleans())
    n, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    shape = (n, draw(st.integers(1, 4)), h, w) if multicoil else (n, h, w)
    kspace = draw(st.sampled_from(["valid"] * 4 + ["shape", "dtype", "missing", "GROUP", "empty dataspace"]))
    if kspace == "shape":
        shape = draw(st.lists(st.integers(0, 5), max_size=5).map(tuple))
        if len(shape) not in (3, 4) or 0 in shape:
            spec["bad"].append("kspace shape")
    spec["dtype"] = "<c8"
    if kspace == "dtype":
        spec["dtype"] = draw(st.sampled_from(KSPACE_DTYPES))
        if spec["dtype"] not in ("<c8", ">c8", "<c16", "ri"):
            spec["bad"].append("kspace dtype")
    if kspace in ("missing", "GROUP", "empty dataspace"):
        spec["bad"].append(f"kspace {kspace}")
    spec["kspace"], spec["shape"] = kspace, shape
    spec["plant"] = draw(st.none() | st.tuples(st.integers(0, 10**6), st.sampled_from(BAD_VALUES)))
    spec["mask"] = draw(
        st.sampled_from([None, None, "valid", "length", "2-D", "NaN", "values", "strings", "GROUP", "bool"])
    )
    spec["reconstruction"] = draw(
        st.sampled_from([None, None, "valid", "slices", "0-d", "1-D", "complex", "NaN", "strings", "GROUP"])
    )
    spec["reconstruction_key"] = draw(st.sampled_from(["reconstruction_rss", "reconstruction_esc"]))
    spec["header"] = draw(HEADERS)
    spec["extra"] = draw(
        st.lists(st.sampled_from(["kspace_", "Kspace", "image", "data", "mask_"]), max_size=2, unique=True)
    )
    spec["attrs"] = draw(st.sampled_from([{}, {"max": 1.0, "acquisition": "CORPD"}, {"max": NAN, "norm": b"\xff"}]))
    spec["slices"] = draw(SLICE_ARGS)
    spec["truncate"] = draw(CUTS)
    spec["index"] = draw(INDICES)
    return spec


def write_fastmri_spec(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Write the file described by ``spec``; returns what is known about it (which slices hold planted values)."""
    rng = np.random.default_rng(spec["seed"])
    shape, known = spec["shape"], {"planted_slice": None}
    with h5py.File(path, "w") as f:
        if spec["kspace"] == "GROUP":
            f.create_group("kspace")
        elif spec["kspace"] == "empty dataspace":
            f["kspace"] = h5py.Empty("<f4")
        elif spec["kspace"] != "missing":
            kspace = _array(spec["dtype"], shape, rng)
            if spec["plant"] is not None and _plant(kspace, *spec["plant"]):
                if kspace.ndim >= 1 and kspace.shape[0] > 0:
                    known["planted_slice"] = int(np.unravel_index(spec["plant"][0] % kspace.size, kspace.shape)[0])
            _put(f, "kspace", kspace)
        n, w = (shape[0], shape[-1]) if len(shape) >= 1 else (1, 1)
        mask = {
            "valid": (rng.random(w) < 0.5).astype(np.float32),
            "bool": rng.random(w) < 0.5,
            "length": np.ones(w + 1, np.float32),
            "2-D": np.ones((2, w), np.float32),
            "NaN": np.full(w, NAN, np.float32),
            "values": np.full(w, 0.5, np.float32),
            "strings": np.full(w, b"1", "S1"),
            "GROUP": "GROUP",
        }.get(spec["mask"])
        if mask is not None:
            _put(f, "mask", mask)
        rec = {
            "valid": rng.random((n, 5, 4)).astype(np.float32),
            "slices": rng.random((n + 1, 5, 4)).astype(np.float32),
            "0-d": np.float32(1),
            "1-D": rng.random(n).astype(np.float32),
            "complex": _complex(rng, (n, 5, 4)),
            "NaN": np.full((n, 5, 4), NAN, np.float32),
            "strings": np.full((n, 5, 4), b"r", "S1"),
            "GROUP": "GROUP",
        }.get(spec["reconstruction"])
        if rec is not None:
            _put(f, spec["reconstruction_key"], rec)
        header = header_text(spec["header"])
        if header is not None:
            _put(f, "ismrmrd_header", header)
        for key in spec["extra"]:
            _put(f, key, rng.random(3))
        for key, value in spec["attrs"].items():
            f.attrs[key] = value
    if spec["truncate"] is not None:
        _truncate(path, spec["truncate"])
    return known


def fastmri_verdict(spec: dict[str, Any], known: dict[str, Any]) -> bool | None:
    """True: known bad (must be refused); False: known good (must be accepted); None: either is fine."""
    if spec["truncate"] is not None:
        return None  # a cut may or may not reach the data that is read
    if spec["bad"] or spec["mask"] not in (None, "valid", "bool"):
        return True
    if spec["reconstruction"] not in (None, "valid", "NaN"):
        return True
    rows = _rows(spec["slices"], spec["shape"][0])
    if rows is None:
        return True
    if spec["reconstruction"] == "NaN" and rows:  # only the slices read are checked
        return True
    if spec["plant"] is not None and known["planted_slice"] in rows:
        return True
    return False if rows else None


def check_fastmri_result(data: Any, spec: dict[str, Any]) -> None:
    """A FastMRIData returned by read_fastmri is sane."""
    kspace = data.kspace
    assert kspace.dtype == np.complex64 and kspace.ndim in (3, 4) and np.isfinite(kspace).all()
    assert kspace.shape[0] == len(data.slices) and all(0 <= s < data.num_slices for s in data.slices)
    if kspace.shape[0]:
        assert kspace.size > 0, kspace.shape
    if data.mask is not None:
        assert data.mask.shape == (kspace.shape[-1],) and np.isin(data.mask, (0, 1)).all()
    if data.reconstruction is not None:
        rec = data.reconstruction
        assert rec.dtype == np.float32 and rec.ndim == 3 and rec.shape[0] == kspace.shape[0]
        assert np.isfinite(rec).all()


@given(fastmri_files())
def test_fastmri_reader_fuzz(spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz_fastmri.h5"
        known = write_fastmri_spec(path, spec)
        describe = f"fastMRI file {spec} ({known})"
        data = check_contract(
            FASTMRI,
            lambda: read_fastmri(path, spec["slices"]),
            mention=(path.name,),
            expect_error=fastmri_verdict(spec, known),
            describe=describe,
        )
        if data is not None:
            check_fastmri_result(data, spec)
        check_volume(FASTMRI, path, spec["index"], describe)


# ----- ISMRMRD
#: ISMRMRD flag bits (1-based): noise, calibration, calibration+imaging, reverse, navigator, phase correction,
#: dummy scan, a user flag, and the top bit of the uint64
FLAG_BITS = [19, 20, 21, 22, 23, 24, 28, 57, 64]
MATRIX_VALUES = ["4", "8", "16", "0", "-8", "inf", "nan", "1e12", "abc", "2.5", ""]


@st.composite
def mrd_headers(draw: st.DrawFn) -> str | None:
    """An ISMRMRD XML header: a valid one with random matrix/limit values, or broken XML, or none."""
    kind = draw(st.sampled_from(["valid"] * 8 + ["random"] * 2 + ["garbage", "no encoding", "missing", "empty"]))
    if kind == "missing":
        return None
    if kind == "empty":
        return ""
    if kind == "garbage":
        return draw(st.text(max_size=40))
    if kind == "no encoding":
        return f'<?xml version="1.0"?><ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}"></ismrmrdHeader>'
    nx, ny, recon_x, center = (draw(st.sampled_from([8, 16, 12])) for _ in range(4))
    xml = mrd_xml(nx, ny, recon_x // 2, center=center // 2, channels=3)
    if kind == "random":
        fields = ["x", "y", "z", "center", "maximum", "trajectory", "kspace_encoding_step_1"]
        for name in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3)):
            value = draw(st.sampled_from(MATRIX_VALUES + ["radial", "Cartesian"]))
            start = xml.find(f"<{name}>")
            end = xml.find(f"</{name}>", start)
            xml = xml[: start + len(name) + 2] + value + xml[end:]
    return xml


#: one change to one acquisition: a field and the value it gets ("+1": one more than the others)
LINE_MUTATIONS = st.one_of(
    st.tuples(st.just("channels"), st.sampled_from([0, "+1"])),
    st.tuples(st.just("samples"), st.sampled_from([0, "+3"])),
    st.tuples(
        st.just("flags"),
        st.lists(st.sampled_from(FLAG_BITS), min_size=1, max_size=2, unique=True).map(
            lambda bits: sum(1 << (b - 1) for b in bits)
        ),
    ),
    st.tuples(st.just("ky"), st.sampled_from([7, 300])),
    st.tuples(st.just("slice"), st.sampled_from([1, 2])),
    st.tuples(st.just("contrast"), st.just(1)),
    st.tuples(st.just("step2"), st.just(1)),
    st.tuples(st.just("center_sample"), st.integers(0, 20)),
    st.tuples(st.just("discard"), st.sampled_from([(1, 0), (0, 2), (6, 7)])),
    st.tuples(st.just("data_mismatch"), st.sampled_from([-2, 2])),  # floats more or less than the header says
    st.tuples(st.just("traj"), st.just(2)),
    st.tuples(st.just("plant"), st.tuples(st.integers(0, 1000), st.sampled_from([NAN, INF, 3e38]))),
)


@st.composite
def mrd_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Consistent Cartesian acquisitions (1-2 slices, a noise scan or not), then up to 3 changes to random lines:
    flags, sample counts inconsistent with the data, indices, discards, trajectories, NaN/Inf."""
    coils, samples = draw(st.integers(1, 3)), draw(st.integers(1, 12))
    n_ky, n_slices = draw(st.integers(0, 5)), draw(st.integers(1, 2))
    base = {
        "channels": coils,
        "samples": samples,
        "flags": 0,
        "contrast": 0,
        "step2": 0,
        "center_sample": samples // 2,
        "discard": (0, 0),
        "data_mismatch": 0,
        "traj": 0,
        "plant": None,
    }
    lines = [{**base, "ky": ky, "slice": s} for s in range(n_slices) for ky in range(n_ky)]
    noise_samples = draw(st.sampled_from([None, None, 0, 1, 40]))
    if noise_samples is not None:
        lines.insert(0, {**base, "ky": 0, "slice": 0, "flags": NOISE, "samples": noise_samples, "center_sample": 0})
    for position, (key, value) in draw(st.lists(st.tuples(st.integers(0, 100), LINE_MUTATIONS), max_size=3)):
        if lines:
            line = lines[position % len(lines)]
            line[key] = line[key] + int(value) if isinstance(value, str) else value
    return lines


def write_mrd_spec(path: Path, spec: dict[str, Any]) -> None:
    """Write an MRD file with the acquisition head fields set as ``spec`` says (also inconsistent ones)."""
    rng = np.random.default_rng(spec["seed"])
    lines = spec["lines"]
    acq = np.zeros(len(lines), dtype=_ACQUISITION)
    for i, line in enumerate(lines):
        head = acq[i]["head"]
        head["version"] = 1
        head["flags"] = line["flags"]
        head["active_channels"] = head["available_channels"] = line["channels"]
        head["number_of_samples"] = line["samples"]
        head["discard_pre"], head["discard_post"] = line["discard"]
        head["center_sample"] = line["center_sample"]
        head["sample_time_us"] = 5.0
        head["trajectory_dimensions"] = line["traj"]
        head["idx"]["kspace_encode_step_1"] = line["ky"]
        head["idx"]["kspace_encode_step_2"] = line["step2"]
        head["idx"]["slice"] = line["slice"]
        head["idx"]["contrast"] = line["contrast"]
        acq[i]["head"] = head
        acq[i]["traj"] = np.zeros(line["traj"] * line["samples"], np.float32)
        data = rng.standard_normal(max(0, 2 * line["channels"] * line["samples"] + line["data_mismatch"]))
        data = data.astype(np.float32)
        if line["plant"] is not None:
            _plant(data, *line["plant"])
        acq[i]["data"] = data
    xml = spec["xml"]
    with h5py.File(path, "w") as f:
        structure = spec["structure"]
        if structure == "no group":
            f["other"] = np.zeros(2)
            return
        if structure == "group is a dataset":
            f["dataset"] = np.zeros(3)
            return
        grp = f.create_group("dataset")
        if xml is not None:
            if spec["xml_storage"] == "vlen":
                text = xml.replace("\x00", "").encode("utf-8", errors="surrogatepass")  # no NULs in HDF5 vlen strings
                grp.create_dataset("xml", data=np.array([text], dtype=object), dtype=h5py.string_dtype())
            elif spec["xml_storage"] == "fixed":
                grp["xml"] = np.bytes_(xml.encode("utf-8", errors="surrogatepass"))
            elif spec["xml_storage"] == "empty array":
                grp["xml"] = np.zeros(0, "S4")
            else:
                grp["xml"] = np.arange(3)
        if structure == "no data":
            return
        if structure == "data not compound":
            grp["data"] = np.zeros((len(lines), 4), np.float32)
        elif structure == "data 0-d":
            grp.create_dataset("data", shape=(), dtype=_ACQUISITION)
        elif structure == "wrong head":
            wrong = np.zeros(len(lines), dtype=[("head", "<u4"), ("traj", "<f4"), ("data", "<f4", (4,))])
            grp["data"] = wrong
        elif structure == "data is a group":
            grp.create_group("data")
        else:
            grp["data"] = acq
    if spec["truncate"] is not None:
        _truncate(path, spec["truncate"])


@st.composite
def mrd_files(draw: st.DrawFn) -> dict[str, Any]:
    structures = ["valid"] * 14 + [
        "no group",
        "group is a dataset",
        "no data",
        "data not compound",
        "data 0-d",
        "wrong head",
        "data is a group",
    ]
    return {
        "seed": draw(SEEDS),
        "xml": draw(mrd_headers()),
        "xml_storage": draw(st.sampled_from(["vlen"] * 6 + ["fixed", "empty array", "numbers"])),
        "lines": draw(mrd_lines()),
        "structure": draw(st.sampled_from(structures)),
        "truncate": draw(CUTS),
        "remove_oversampling": draw(st.booleans()),
        "center_ky": draw(st.booleans()),
        "index": draw(INDICES),
    }


def check_mrd_result(mrd: Any) -> None:
    """An MRDData returned by read_ismrmrd is sane."""
    kspace = mrd.kspace
    assert kspace.dtype == np.complex64 and kspace.ndim in (3, 4) and kspace.size > 0, (kspace.dtype, kspace.shape)
    assert np.isfinite(kspace).all()
    assert mrd.mask.shape == kspace.shape[:-3] + kspace.shape[-2:-1] == mrd.calibration.shape
    assert mrd.mask.any()
    if mrd.noise is not None:
        assert mrd.noise.ndim == 2 and mrd.noise.shape[0] == kspace.shape[-3] and np.isfinite(mrd.noise).all()


@given(mrd_files())
def test_ismrmrd_reader_fuzz(spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz_mrd.h5"
        write_mrd_spec(path, spec)
        describe = f"MRD file {spec}"
        mrd = check_contract(
            ISMRMRD,
            lambda: read_ismrmrd(path, remove_oversampling=spec["remove_oversampling"], center_ky=spec["center_ky"]),
            mention=(path.name,),
            expect_error=True if spec["structure"] != "valid" or not spec["lines"] else None,
            describe=describe,
        )
        if mrd is not None:
            check_mrd_result(mrd)
        check_volume(ISMRMRD, path, spec["index"], describe)


@given(st.one_of(mrd_headers().filter(lambda x: x is not None), st.binary(max_size=60)))
def test_ismrmrd_header_parser_fuzz(xml):
    header = check_contract(
        HEADER, lambda: parse_ismrmrd_header(xml, source="fuzz.h5"), mention=("fuzz.h5",), describe=repr(xml)
    )
    if header is not None:
        for key in ("encoded_matrix", "recon_matrix"):
            assert header[key] is None or all(isinstance(v, int) for v in header[key])
        for key in ("encoded_fov_mm", "recon_fov_mm"):
            assert header[key] is None or all(math.isfinite(v) for v in header[key]), header[key]


@given(
    st.sampled_from(["<c8", "<c16", "<f4", "<i2", "|b1", "S", "object"]),
    st.lists(st.integers(0, 5), max_size=3),
    st.integers(-45, 45),
    SEEDS,
    st.none() | st.tuples(st.integers(0, 1000), st.sampled_from(BAD_VALUES)),
    st.sampled_from([1.0, 1.0, 0.0, -1.0, NAN, INF, 1e30]),
    st.integers(-5, 4),
)
def test_prewhitening_fuzz(dtype, shape, exponent, seed, plant, scale, coil_axis):
    """noise_prewhitening_matrix and prewhiten on random noise/k-space: a finite matrix that whitens, or a refusal."""
    rng = np.random.default_rng(seed)
    noise = _array(dtype, tuple(shape), rng)
    if noise.dtype.kind in "fc":
        with np.errstate(over="ignore"):  # 1e45 overflows float32 to Inf: one more non-finite input
            noise = (noise * 10.0**exponent).astype(noise.dtype)
    if plant is not None:
        _plant(noise, *plant)
    describe = f"noise {dtype} {tuple(shape)} x 1e{exponent}, planted {plant}, scale {scale}"
    w = check_contract(
        WHITEN,
        lambda: noise_prewhitening_matrix(noise, scale=scale),
        mention=("noise", "scale"),
        describe=describe,
    )
    if w is not None:
        channels = noise.shape[0]
        assert w.dtype == np.complex64 and w.shape == (channels, channels) and channels > 0
        assert np.isfinite(w).all() and np.allclose(np.triu(w, 1), 0)
        white = w.astype(np.complex128) @ noise.astype(np.complex128)
        cov = white @ white.conj().T / noise.shape[1]
        np.testing.assert_allclose(cov, scale**2 * np.eye(channels), rtol=1e-2, atol=1e-2 * scale**2)
    matrix = w if w is not None else _complex(rng, (2, 2))
    kspace = _array(dtype, (2, 3, 4) if len(shape) != 3 else tuple(shape), rng)
    out = check_contract(
        WHITEN,
        lambda: prewhiten(kspace, matrix, coil_axis=coil_axis),
        mention=("prewhiten",),
        describe=f"prewhiten k-space {kspace.dtype} {kspace.shape}, W {matrix.shape}, coil axis {coil_axis}",
    )
    if out is not None:
        assert out.dtype == np.complex64 and out.shape == kspace.shape


# ----- BART
HDR_KINDS = ["valid"] * 5 + [
    "missing",
    "garbage",
    "bytes",
    "negative",
    "non-numeric",
    "float",
    "one line",
    "empty",
    "many dims",
    "huge dims",
    "product mismatch",
]


@st.composite
def bart_files(draw: st.DrawFn) -> dict[str, Any]:
    layout = draw(st.booleans())
    if layout:  # [1, H, W, C] (+ singleton dims) as kspace_from_cfl wants
        dims = [1, draw(st.integers(0, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 4))]
        dims += [1] * draw(st.integers(0, 2))
    else:
        dims = draw(st.lists(st.integers(0, 5), max_size=6))
    return {
        "dims": dims,
        "seed": draw(SEEDS),
        "hdr": draw(st.sampled_from(HDR_KINDS)),
        "garbage": draw(st.text(max_size=30)),
        "cfl": draw(st.sampled_from(["valid"] * 5 + ["missing", "empty", "truncated", "too long", "is a folder"])),
        "fraction": draw(st.floats(0.0, 0.99)),
        "plant": draw(st.none() | st.tuples(st.integers(0, 1000), st.sampled_from(BAD_VALUES))),
        "name": draw(st.sampled_from(["fuzzbart", "fuzzbart.cfl", "fuzzbart.hdr"])),
        "squeeze": draw(st.booleans()),
        "index": draw(INDICES),
    }


def write_bart_spec(folder: Path, spec: dict[str, Any]) -> None:
    rng = np.random.default_rng(spec["seed"])
    dims = spec["dims"]
    data = _complex(rng, (math.prod(dims),))
    if spec["plant"] is not None:
        _plant(data, *spec["plant"])
    hdr, cfl = folder / "fuzzbart.hdr", folder / "fuzzbart.cfl"
    text = " ".join(map(str, dims))
    hdr_text = {
        "valid": f"# Dimensions\n{text} \n",
        "garbage": spec["garbage"],
        "negative": f"# Dimensions\n{text} -1\n",
        "non-numeric": f"# Dimensions\n{text} x\n",
        "float": f"# Dimensions\n{text} 1.0\n",
        "one line": f"{text}\n",
        "empty": "",
        "many dims": "# Dimensions\n" + " ".join(["1"] * 70) + "\n",
        "huge dims": "# Dimensions\n4294967296 4294967296 4294967296 4294967296 2\n",
        "product mismatch": f"# Dimensions\n{text} 2\n",
    }.get(spec["hdr"])
    if spec["hdr"] == "bytes":
        hdr.write_bytes(b"# Dimensions\n\xff\xfe\x00 1 2\n")
    elif hdr_text is not None:
        hdr.write_text(hdr_text)
    raw = data.astype("<c8").tobytes()
    if spec["cfl"] == "is a folder":
        cfl.mkdir()
    elif spec["cfl"] != "missing":
        cfl.write_bytes(
            {
                "valid": raw,
                "empty": b"",
                "truncated": raw[: int(len(raw) * spec["fraction"])],
                "too long": raw + b"\x00" * 8,
            }[spec["cfl"]]
        )


@given(bart_files())
def test_bart_reader_fuzz(spec):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_bart_spec(folder, spec)
        path = folder / spec["name"]
        mention = ("fuzzbart.hdr", "fuzzbart.cfl", path.name)
        describe = f"BART pair {spec}"
        raw = 8 * math.prod(spec["dims"])  # the bytes of the data written, and what the .cfl holds
        found = {"valid": raw, "empty": 0, "truncated": int(raw * spec["fraction"]), "too long": raw + 8}
        expected = raw * (2 if spec["hdr"] == "product mismatch" else 1)  # what the header's dims need
        wrong_size = spec["cfl"] in found and found[spec["cfl"]] != expected
        known_bad = spec["hdr"] not in ("valid", "garbage", "product mismatch") or wrong_size
        known_bad |= spec["cfl"] in ("missing", "is a folder")
        array = check_contract(
            BART,
            lambda: read_cfl(path, squeeze=spec["squeeze"]),
            mention=mention,
            expect_error=True if known_bad else None,
            describe=describe,
        )
        if array is not None:
            assert array.dtype == np.complex64
            if not spec["squeeze"] and spec["hdr"] == "valid":
                assert list(array.shape) == spec["dims"]
        kspace = check_contract(BART, lambda: kspace_from_cfl(path), mention=mention, describe=describe)
        if kspace is not None:
            check_slice({"kspace": kspace})
            assert kspace.flags.c_contiguous
        check_volume(BART, path, spec["index"], describe, names=mention)


# ----- .npy
NPY_DTYPES = ["<c8", ">c8", "<c16", "clongdouble", "<f4", "<f8", "<i4", "|b1", "ri", "S", "object"]


@st.composite
def npy_files(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "dtype": draw(st.sampled_from(["<c8"] * 4 + NPY_DTYPES)),
        "shape": draw(
            st.one_of(
                st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12)),
                st.lists(st.integers(0, 5), max_size=5).map(tuple),
            )
        ),
        "seed": draw(SEEDS),
        "plant": draw(st.none() | st.tuples(st.integers(0, 1000), st.sampled_from(BAD_VALUES))),
        "fortran": draw(st.booleans()),
        "file": draw(st.sampled_from(["valid"] * 4 + ["truncated", "empty", "random bytes", "huge shape"])),
        "fraction": draw(st.floats(0.0, 0.99)),
        "bytes": draw(st.binary(max_size=64)),
        "index": draw(INDICES),
    }


def write_npy_spec(path: Path, spec: dict[str, Any]) -> None:
    rng = np.random.default_rng(spec["seed"])
    array = _array(spec["dtype"], spec["shape"], rng)
    if spec["plant"] is not None:
        _plant(array, *spec["plant"])
    if spec["fortran"]:
        array = np.asfortranarray(array)
    np.save(path, array, allow_pickle=True)
    if spec["file"] == "truncated":
        _truncate(path, spec["fraction"])
    elif spec["file"] == "empty":
        path.write_bytes(b"")
    elif spec["file"] == "random bytes":
        path.write_bytes(spec["bytes"])
    elif spec["file"] == "huge shape":  # a header that promises 80 GB followed by a few bytes
        header = {"descr": "<c8", "fortran_order": False, "shape": (10**5, 10**5)}
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\x00" * 64)


@given(npy_files())
def test_npy_reader_fuzz(spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz_kspace.npy"
        write_npy_spec(path, spec)
        shape, dtype = spec["shape"], np.dtype(spec["dtype"]) if spec["dtype"] not in ("ri", "S", "object") else None
        good = (
            spec["file"] == "valid"
            and dtype is not None
            and dtype.kind == "c"
            and len(shape) in (2, 3)
            and 0 not in shape
            and spec["plant"] is None
        )
        bad = (
            spec["file"] != "valid"
            or dtype is None
            or dtype.kind != "c"
            or len(shape) not in (2, 3)
            or 0 in shape
            or (spec["plant"] is not None and spec["plant"][1] in (NAN, INF, -INF) and math.prod(shape) > 0)
        )
        verdict = True if bad else (False if good and _valid_index(spec["index"], 1) else None)
        check_volume(NPY, path, spec["index"], f"k-space .npy {spec}", expect_error=verdict)


# ----- any file
def _valid_file(folder: Path, fmt: str, rng: np.random.Generator) -> Path:
    """A small valid input of ``fmt``."""
    if fmt == "fastmri":
        return write_fastmri(folder / "anyfile.h5", _complex(rng, (2, 2, 6, 5)), mask=np.ones(5, np.float32))
    if fmt == "ismrmrd":
        lines = [{"data": _complex(rng, (2, 8)), "ky": ky} for ky in range(4)]
        lines.append({"data": _complex(rng, (2, 32)), "flags": NOISE})
        return write_mrd(folder / "anyfile.h5", lines, mrd_xml(8, 4, 8, center=2, channels=2))
    if fmt == "npy":
        np.save(folder / "anyfile.npy", _complex(rng, (2, 6, 5)))
        return folder / "anyfile.npy"
    write_cfl(folder / "anyfile", _complex(rng, (1, 6, 5, 2)))
    return folder / "anyfile.cfl"


@given(
    st.sampled_from(["fastmri", "ismrmrd", "npy", "bart"]),
    st.sampled_from(["valid", "empty", "truncated", "random bytes", "HDF5 signature + garbage", "corrupted bytes"]),
    st.sampled_from([None, ".h5", ".hdf5", ".mrd", ".npy", ".cfl", ".hdr", ".H5", ".txt", ""]),
    st.floats(0.0, 0.99),
    st.binary(max_size=256),
    SEEDS,
    INDICES,
)
def test_any_file_fuzz(fmt, content, suffix, fraction, junk, seed, index):
    """Every file (valid, empty, truncated, random, with random bytes overwritten, with the wrong suffix) through
    mri_format, MRIVolume and load_mri_slice: a sane slice or a refusal that names the file."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(seed)
        path = _valid_file(folder, fmt, rng)
        if content == "empty":
            path.write_bytes(b"")
        elif content == "truncated":
            _truncate(path, fraction)
        elif content == "random bytes":
            path.write_bytes(junk)
        elif content == "HDF5 signature + garbage":
            path.write_bytes(b"\x89HDF\r\n\x1a\n" + junk)
        elif content == "corrupted bytes" and fmt in ("npy", "bart"):  # 1-8 bytes anywhere set to random values
            # (not HDF5: a corrupted global-heap size can make the HDF5 library loop forever reading a string;
            # the corrupted-HDF5 errors it raises otherwise are pinned by the regression tests below)
            data = bytearray(path.read_bytes())
            for position in rng.integers(0, len(data), 1 + len(junk) % 8):
                data[position] = int(rng.integers(0, 256))
            path.write_bytes(bytes(data))
        if suffix is not None:
            renamed = path.with_name("anyfile_renamed" + suffix)
            path.rename(renamed)
            path = renamed
        describe = f"{fmt} file, {content} (fraction {fraction:.2f}), named {path.name}, slice {index!r}"
        valid = content == "valid" and suffix is None
        found = check_contract(
            DETECT,
            lambda: mri_format(path),
            mention=(path.name,),
            expect_error=False if valid else None,
            describe=describe,
        )
        if found is not None:
            assert found in ("fastmri", "ismrmrd", "bart", "npy", "nifti", "dicom")
            if valid:
                assert found == fmt, f"{describe}: detected as {found}"
            if found in ("nifti", "dicom"):
                return  # image readers, fuzzed elsewhere
        n = 2 if fmt == "fastmri" else 1
        check_volume(VOLUME, path, index, describe, expect_error=False if valid and _valid_index(index, n) else None)


# ----- regressions
def _raises(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(MRIInputError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def _fastmri(tmp: Path, name: str = "reg.h5", kspace: Any = None, **datasets: Any) -> Path:
    """A fastMRI file with (by default) valid (2, 4, 6) k-space and the given extra datasets ("GROUP" makes a group)."""
    path = tmp / name
    with h5py.File(path, "w") as f:
        _put(f, "kspace", _complex(np.random.default_rng(0), (2, 4, 6)) if kspace is None else kspace)
        for key, value in datasets.items():
            _put(f, key, value)
    return path


def _header(**values: str) -> np.bytes_:
    """A valid ISMRMRD header with some matrix values replaced (e.g. x="inf")."""
    xml = mrd_xml(8, 4, 8, center=2)
    for key, value in values.items():
        xml = xml.replace(f"<{key}>8</{key}>", f"<{key}>{value}</{key}>", 1)
    return np.bytes_(xml.encode())


FASTMRI_REGRESSIONS = {
    # mask: was TypeError (a group), converted from text (b"1" -> 1.0) or accepted with NaN / 0.5 in it
    "mask is a group": ({"mask": "GROUP"}, None, ["'mask' is an HDF5 group"]),
    "mask of strings": ({"mask": np.full(6, b"1", "S1")}, None, ["'mask' holds |S1 values"]),
    "mask with NaN": ({"mask": np.full(6, NAN, np.float32)}, None, ["other than 0 and 1", "nan"]),
    "mask with 0.5": ({"mask": np.full(6, 0.5, np.float32)}, None, ["other than 0 and 1", "0.5"]),
    # ismrmrd_header: was IndexError (an empty array), OverflowError (x=inf); a broken header is ignored
    "empty header array": ({"ismrmrd_header": np.zeros(0, "S4")}, None, None),
    "header matrix inf": ({"ismrmrd_header": _header(x="inf")}, None, None),
    # reference image: was IndexError (0-d), ValueError (strings), dropped the imaginary part, gave a 0-d reference
    # (1-D) or NaN, accepted
    "0-d reference": ({"reconstruction_rss": np.float32(1)}, None, ["'reconstruction_rss' has shape ()"]),
    "string reference": ({"reconstruction_esc": np.full((2, 3, 3), b"r", "S1")}, None, ["real (slices, h, w)"]),
    "complex reference": ({"reconstruction_rss": np.ones((2, 3, 3), np.complex64)}, None, ["complex64"]),
    "1-D reference": ({"reconstruction_rss": np.ones(2, np.float32)}, None, ["has shape (2,)"]),
    "NaN reference": ({"reconstruction_rss": np.full((2, 3, 3), NAN, np.float32)}, None, ["NaN or Inf"]),
    # k-space: was AttributeError (a group), TypeError in MRIVolume (no dataspace), accepted empty k-space, or called
    # string/compound k-space "real-valued"
    "k-space is a group": ({}, "GROUP", ["'kspace' is an HDF5 group"]),
    "k-space without dataspace": ({}, h5py.Empty("<f4"), ["'kspace' is an HDF5 dataset with no dataspace"]),
    "empty k-space slices": ({}, np.zeros((2, 0, 6), np.complex64), ["zero-size axis", "(2, 0, 6)"]),
    "no slices": ({}, np.zeros((0, 4, 6), np.complex64), ["zero-size axis"]),
    "string k-space": ({}, np.full((2, 4, 6), "k", dtype=object), ["not complex numbers"]),
}


@pytest.mark.parametrize("case", list(FASTMRI_REGRESSIONS))
def test_fastmri_regressions(tmp_path, case):
    datasets, kspace, words = FASTMRI_REGRESSIONS[case]
    path = _fastmri(tmp_path, kspace=kspace, **datasets)
    if words is None:  # a broken optional header is ignored, as before
        data = read_fastmri(path)
        assert data.header is None or data.header["encoded_matrix"] is None
        check_slice(load_mri_slice(path, 1))
        return
    _raises(lambda: read_fastmri(path), "reg.h5", *words)
    _raises(lambda: load_mri_slice(path, 0), "reg.h5")


def test_fastmri_volume_checks_kspace(tmp_path):
    """MRIVolume read the slice count from 'kspace' unchecked: IndexError (0-d), AttributeError (a group)."""
    for name, kspace in (("reg.h5", np.complex64(1)), ("reg_group.h5", "GROUP")):
        path = _fastmri(tmp_path, name, kspace=kspace)
        _raises(lambda p=path: MRIVolume(p), name, "'kspace'")


@pytest.mark.parametrize("slices", [slice(0, 2, 0), slice(0, "a"), object()])
def test_fastmri_bad_slice_argument(tmp_path, slices):
    """A zero slice step was ValueError, a non-integer bound TypeError."""
    _raises(lambda: read_fastmri(_fastmri(tmp_path), slices), "reg.h5", "slice")


def test_fastmri_undecodable_names(tmp_path):
    """A dataset name that is not UTF-8 (a corrupted file) made the 'keys found' message fail with TypeError."""
    path = tmp_path / "reg.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(2)
        f[b"\xff\xfemask"] = np.zeros(2)
    _raises(lambda: read_fastmri(path), "reg.h5", "missing HDF5 dataset 'kspace'", "xfemask", "data")
    _raises(lambda: read_ismrmrd(path), "reg.h5", "no HDF5 group 'dataset'")


def _mrd(tmp: Path, lines: list[dict] | None = None, xml: str | None = None, name: str = "reg_mrd.h5") -> Path:
    if lines is None:
        lines = [{"data": _complex(np.random.default_rng(ky), (2, 8)), "ky": ky} for ky in range(4)]
    return write_mrd(tmp / name, lines, mrd_xml(8, 4, 8, center=2, channels=2) if xml is None else xml)


def _set_head(path: Path, i: int, **fields: int) -> Path:
    """Change head fields of acquisition ``i`` in place (sample counts inconsistent with the data, ...)."""
    with h5py.File(path, "r+") as f:
        acq = f["dataset/data"][()]
        for key, value in fields.items():
            acq[i]["head"][key] = value
        del f["dataset/data"]
        f["dataset/data"] = acq
    return path


def test_mrd_structure_regressions(tmp_path):
    """'dataset' as a dataset was AttributeError, an empty 'xml' array IndexError, 0-d 'data' IndexError, acquisitions
    without the head fields ValueError, compound field names that are not UTF-8 UnicodeDecodeError."""
    path = tmp_path / "reg_mrd.h5"
    with h5py.File(path, "w") as f:
        f["dataset"] = np.zeros(3)
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "'dataset' is an HDF5 dataset, not a group")
    with h5py.File(path, "w") as f:
        f.create_group("dataset")["xml"] = np.zeros(0, "S4")
        f["dataset"].create_dataset("data", shape=(1,), dtype=_ACQUISITION)
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "'dataset/xml' is empty")
    with h5py.File(path, "w") as f:
        f.create_group("dataset")["xml"] = np.bytes_(mrd_xml(8, 4, 8, center=2).encode())
        f["dataset"].create_dataset("data", shape=(), dtype=_ACQUISITION)
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "has shape ()", "1-D")
    with h5py.File(path, "r+") as f:
        del f["dataset/data"]
        f["dataset/data"] = np.zeros(2, dtype=[("head", "<u4"), ("traj", "<f4"), ("data", "<f4", (4,))])
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "lack the fields", "'flags'")
    with h5py.File(path, "r+") as f:
        del f["dataset/data"]
        tid = h5py.h5t.create(h5py.h5t.COMPOUND, 8)
        tid.insert(b"\xff\xfe", 0, h5py.h5t.NATIVE_FLOAT)
        tid.insert(b"data", 4, h5py.h5t.NATIVE_FLOAT)
        h5py.h5d.create(f["dataset"].id, b"data", tid, h5py.h5s.create_simple((2,)))
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "UnicodeDecodeError", "corrupted")


@pytest.mark.parametrize(
    "values, words",
    [
        ({"x": "inf"}, None),  # was OverflowError in parse_ismrmrd_header; now an absent (None) matrix
        ({"x": "-8"}, ["encodedSpace matrixSize is (-8, 4, 1)"]),  # was accepted: the corrupted size ignored
        ({"x": "1e12"}, ["0..65535"]),  # was MemoryError: it allocated a 116 TiB k-space
    ],
)
def test_mrd_header_matrix_regressions(tmp_path, values, words):
    xml = mrd_xml(8, 4, 8, center=2, channels=2).replace("<x>8</x>", f"<x>{values['x']}</x>", 1)
    path = _mrd(tmp_path, xml=xml)
    if words is None:
        mrd = read_ismrmrd(path)
        assert mrd.header["encoded_matrix"] is None and mrd.kspace.shape == (2, 4, 8)
    else:
        _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", *words)


def test_mrd_zero_recon_matrix_keeps_readout(tmp_path):
    """A recon matrix x of 0 cropped the readout to nothing: ValueError from the FFT of 0 points."""
    xml = mrd_xml(8, 4, 8, center=2, channels=2).replace(
        "<reconSpace><matrixSize><x>8</x>", "<reconSpace><matrixSize><x>0</x>"
    )
    mrd = read_ismrmrd(_mrd(tmp_path, xml=xml), remove_oversampling=True)
    assert mrd.kspace.shape == (2, 4, 8) and not mrd.oversampling_removed


def test_mrd_discard_beyond_samples(tmp_path):
    """discard_pre + discard_post > number_of_samples was accepted: the line marked acquired, left zero."""
    path = _set_head(_mrd(tmp_path), 1, discard_pre=6, discard_post=7)
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "acquisition 1 keeps no samples")


def test_mrd_zero_channels(tmp_path):
    """Imaging lines with 0 active channels (and no data) were accepted as k-space of 0 coils."""
    lines = [{"data": np.ones((0, 8), np.complex64), "ky": ky} for ky in range(4)]
    _raises(lambda: read_ismrmrd(_mrd(tmp_path, lines=lines)), "reg_mrd.h5", "0 active channels")


def test_mrd_nan_samples(tmp_path):
    """NaN samples were returned by read_ismrmrd (only MRIVolume refused them, without naming the acquisition)."""
    data = np.ones((2, 8), np.complex64)
    data[1, 3] = NAN
    path = _mrd(tmp_path, lines=[{"data": np.ones((2, 8), np.complex64), "ky": 0}, {"data": data, "ky": 1}])
    _raises(lambda: read_ismrmrd(path), "reg_mrd.h5", "acquisition 1 has NaN or Inf")


def test_mrd_multislice_through_volume(tmp_path):
    """A valid 2-slice MRD file failed in MRIVolume[i] with ValueError: the (slices, ky) mask was broadcast whole."""
    rng = np.random.default_rng(1)
    lines = [{"data": _complex(rng, (2, 8)), "ky": ky, "slice": s} for s in range(2) for ky in (0, 2, 3)]
    path = _mrd(tmp_path, lines=lines)
    out = load_mri_slice(path, 1)
    check_slice(out)
    assert out["kspace"].shape == (2, 4, 8) and out["slice_index"] == 1
    np.testing.assert_array_equal(out["mask"][:, 0], [1, 0, 1, 1])


@pytest.mark.parametrize("noise_samples", [0, 1])
def test_mrd_short_noise_scan_names_file(tmp_path, noise_samples):
    """A noise scan too short to pre-whiten was refused by MRIVolume with a message that did not name the file."""
    lines = [{"data": np.ones((2, 8), np.complex64), "ky": ky} for ky in range(4)]
    lines.insert(0, {"data": np.ones((2, noise_samples), np.complex64), "flags": NOISE})
    path = _mrd(tmp_path, lines=lines)
    assert read_ismrmrd(path).noise.shape == (2, noise_samples)
    _raises(lambda: MRIVolume(path), "reg_mrd.h5", "cannot pre-whiten", "more samples than channels")


def test_parse_header_regressions():
    """'inf' in an integer field was OverflowError; a lone surrogate UnicodeEncodeError; a non-text header
    AttributeError; a non-finite FOV was returned as inf/nan."""
    header = parse_ismrmrd_header(_header(x="inf", z="nan").decode(), source="reg.h5")
    assert header["encoded_matrix"] is None and header["encoded_fov_mm"] is not None
    xml = mrd_xml(8, 4, 8, center=2).replace("<x>16</x>", "<x>inf</x>", 1)
    assert parse_ismrmrd_header(xml)["encoded_fov_mm"] is None
    _raises(lambda: parse_ismrmrd_header("<a>\udcff</a>", source="reg.h5"), "reg.h5", "cannot be parsed")
    _raises(lambda: parse_ismrmrd_header(None, source="reg.h5"), "reg.h5", "not text")


def test_prewhitening_regressions():
    """prewhiten: coil_axis out of range was IndexError, string k-space ValueError, NaN W accepted;
    noise_prewhitening_matrix: string noise TypeError, 0 channels accepted, NaN/0 scale accepted, tiny noise
    returned an Inf matrix."""
    rng = np.random.default_rng(0)
    w = noise_prewhitening_matrix(_complex(rng, (2, 50)))
    kspace = _complex(rng, (2, 3, 4))
    _raises(lambda: prewhiten(kspace, w, coil_axis=3), "prewhiten", "coil_axis=3")
    _raises(lambda: prewhiten(kspace.astype(str), w), "prewhiten", "numeric")
    _raises(lambda: prewhiten(kspace, np.full((2, 2), NAN, np.complex64)), "prewhiten", "NaN or Inf")
    _raises(lambda: noise_prewhitening_matrix(np.full((2, 50), "n")), "noise", "not numbers")
    _raises(lambda: noise_prewhitening_matrix(np.zeros((0, 50), np.complex64)), "noise", "at least one channel")
    for scale in (NAN, 0.0, -1.0):
        _raises(lambda s=scale: noise_prewhitening_matrix(_complex(rng, (2, 50)), scale=s), "scale")
    _raises(lambda: noise_prewhitening_matrix(_complex(rng, (2, 50)) * 1e-40), "noise", "overflows complex64")


def test_bart_regressions(tmp_path):
    """70 dims was ValueError from reshape; dims whose product overflows int64 (to 0) with an empty .cfl ValueError;
    a zero dim gave empty k-space, accepted."""
    base = tmp_path / "reg"
    (tmp_path / "reg.cfl").write_bytes(b"\x00" * 8)
    (tmp_path / "reg.hdr").write_text("# Dimensions\n" + " ".join(["1"] * 70) + "\n")
    _raises(lambda: read_cfl(base), "reg.hdr", "70 dims")
    (tmp_path / "reg.cfl").write_bytes(b"")
    (tmp_path / "reg.hdr").write_text("# Dimensions\n4294967296 4294967296 2\n")
    _raises(lambda: read_cfl(base), "reg.cfl", "size mismatch")
    write_cfl(base, np.zeros((1, 0, 5, 2), np.complex64))
    assert read_cfl(base).shape == (1, 0, 5, 2)  # read_cfl reads any array, empty ones too
    _raises(lambda: kspace_from_cfl(base), "reg.cfl", "include 0")
    _raises(lambda: load_mri_slice(base), "reg")


def test_npy_regressions(tmp_path):
    """An empty file was EOFError; a header promising 80 GB MemoryError (it tried to allocate it); a corrupted
    header dict tokenize.TokenError; a zero-size array was accepted as empty k-space."""
    path = tmp_path / "reg.npy"
    path.write_bytes(b"")
    _raises(lambda: load_mri_slice(path), "reg.npy", "EOFError")
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<c8", "fortran_order": False, "shape": (10**5, 10**5)})
        f.write(b"\x00" * 64)
    _raises(lambda: load_mri_slice(path), "reg.npy", "not a readable k-space .npy")
    np.save(path, np.ones((1, 4, 4), np.complex64))
    data = path.read_bytes()
    path.write_bytes(data.replace(b"}", b" ", 1))
    _raises(lambda: load_mri_slice(path), "reg.npy", "not a readable k-space .npy")
    np.save(path, np.ones((2, 0, 4), np.complex64))
    _raises(lambda: load_mri_slice(path), "reg.npy", "zero-size axis")
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _raises(lambda: load_mri_slice(path), "reg.npy", "pickle")


@pytest.mark.parametrize("index", ["a", 1.5, True])
def test_slice_index_regressions(tmp_path, index):
    """load_mri_slice(path, "a") was ValueError from int(); 1.5 silently read slice 1, True slice 1."""
    path = _fastmri(tmp_path)
    _raises(lambda: load_mri_slice(path, index), "reg.h5", "slice index")
    _raises(lambda: MRIVolume(path)[index], "reg.h5", "slice index")
