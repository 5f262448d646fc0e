# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the MRI image readers: NIfTI (:func:`read_nifti`), DICOM series
(:func:`read_dicom_series`) and :class:`MRIVolume`/:func:`load_mri_slice` over both.

Each fuzzed call either returns a sane image (finite float32 of the documented shape, a finite invertible 4x4 affine)
or refuses the input with :class:`MRIInputError`, whose message names the file or folder; see
:func:`tests.fuzz.check_contract`. Files are made in a fresh temporary folder per example. The regular tests at the end
pin the crashes and silently wrong results the fuzzing found.
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from monai_d3gm.errors import MRIInputError
from monai_d3gm.io import LPS_TO_RAS, load_mri_slice, read_dicom_series, read_nifti
from tests.fuzz import check_contract
from tests.io.test_dicom import make_dicom_series

NIFTI, DICOM, SLICE = "NIfTI reader", "DICOM reader", "MRI slice loader (NIfTI/DICOM)"
NAN, INF = float("nan"), float("inf")
SEEDS = st.integers(0, 2**32 - 1)

# ----- NIfTI helpers
#: the dtypes a user's array may have; float16 and bool have no NIfTI code, so they are stored as a converter would
#: (float16 values as float32, bool as uint8 0/1) or, for "bool-bit", with NIfTI's 1-bit DT_BINARY code (unreadable)
NIFTI_DTYPES = ["uint8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64", "bool", "bool-bit"]
NIFTI_DTYPES += ["RGB24", "RGBA32"]
PLANTED = [None] * 4 + [NAN, INF, -INF, 1e300]  # 1e300 overflows float32 to Inf
AFFINES = ["identity", "oblique", "oblique", "oblique", "zero", "nan", "singular", "tiny"]
SLOPES = [1.0, 1.0, 1.0, 0.0, NAN, INF, 2.5, -1.0, 1e38]
INTERS = [0.0, 0.0, 0.0, -3.0, NAN, INF, 1e38]
PIXDIMS = [1.0, 1.0, 1.0, 2.5, 0.0, -1.0, NAN, 1e-30]
QUATERNS = [0.0, 0.0, 0.3, 0.3, NAN, 2.0]
CODES = [1, 0, 1, 2, 4, 9]
CORRUPTIONS = ["none", "truncate", "truncate", "empty", "random", "header-only", "byte-flip", "byte-flip"]


def _nifti_data(kind: str, shape: tuple[int, ...], rng: np.random.Generator, planted: float | None) -> np.ndarray:
    """Data of a named dtype kind, with one planted value (NaN, Inf, 1e300) in float kinds."""
    if kind in ("RGB24", "RGBA32"):
        names = "RGB" if kind == "RGB24" else "RGBA"
        out = np.zeros(shape, dtype=[(c, "u1") for c in names])
        for c in names:
            out[c] = rng.integers(0, 256, shape)
        return out
    if kind in ("bool", "bool-bit"):
        return (rng.random(shape) > 0.5).astype(np.uint8)
    dtype = np.dtype(kind)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -(2**40)), min(info.max, 2**40), shape, dtype=dtype, endpoint=True)
    data = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)
    if dtype.kind == "c":
        data = data + 1j * rng.standard_normal(shape)
    if planted is not None and data.size:
        data.flat[int(rng.integers(data.size))] = planted
    if kind == "float16":
        with np.errstate(over="ignore", invalid="ignore"):
            return data.astype(np.float16).astype(np.float32)  # a float16 image as a converter stores it
    return data.astype(dtype)


def _affine(kind: str, rng: np.random.Generator) -> np.ndarray:
    affine = np.eye(4)
    if kind == "oblique":
        q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        affine[:3, :3] = q * rng.uniform(0.5, 3.0, 3)
        affine[:3, 3] = rng.uniform(-100, 100, 3)
    elif kind == "zero":
        affine[:3, :3] = 0
    elif kind == "nan":
        affine[int(rng.integers(3)), int(rng.integers(4))] = NAN
    elif kind == "singular":
        affine[:3, 2] = affine[:3, 0]
    elif kind == "tiny":
        affine[2, 2] = 1e-30
    return affine


@st.composite
def nifti_cases(draw: st.DrawFn, damaged: bool) -> dict[str, Any]:
    """A NIfTI file's recipe: shape, dtype, planted value, header fields, ``allow_4d`` and (when ``damaged``) a damage
    to its bytes. Undamaged recipes have a 2-D to 4-D shape with voxels, so most examples reach the data and affine."""
    if damaged:
        ndim = draw(st.integers(1, 5))
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    else:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=2, max_size=4)))
        shape += (1,) * draw(st.integers(0, 2))  # trailing singletons, dropped by the reader
    return {
        "shape": shape,
        "kind": draw(st.sampled_from(NIFTI_DTYPES)),
        "planted": draw(st.sampled_from(PLANTED)),
        "affine": draw(st.sampled_from(AFFINES)),
        "sform_code": draw(st.sampled_from(CODES)),
        "qform_code": draw(st.sampled_from(CODES)),
        "quatern": draw(st.lists(st.sampled_from(QUATERNS), min_size=3, max_size=3)),
        "pixdim": draw(st.lists(st.sampled_from(PIXDIMS), min_size=3, max_size=3)),
        "slope": draw(st.sampled_from(SLOPES)),
        "inter": draw(st.sampled_from(INTERS)),
        "ext": draw(st.sampled_from([".nii", ".nii.gz"])),
        "corruption": draw(st.sampled_from(CORRUPTIONS)) if damaged else "none",
        "fraction": draw(st.floats(0.0, 0.999)),
        "noise": draw(st.binary(min_size=0, max_size=600)) if damaged else b"",
        "allow_4d": draw(st.booleans()),
        "seed": draw(SEEDS),
    }


def _nifti_bytes(case: dict[str, Any]) -> tuple[bytes, np.ndarray]:
    """The file's bytes (header written field by field, so NaN/zero affines and any scaling are possible) and data."""
    rng = np.random.default_rng(case["seed"])
    data = _nifti_data(case["kind"], case["shape"], rng, case["planted"])
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(data.dtype)
    hdr.set_data_shape(case["shape"])
    if case["kind"] == "bool-bit":
        hdr["datatype"], hdr["bitpix"] = 1, 1
    hdr["vox_offset"] = 352
    hdr["pixdim"][1:4] = case["pixdim"]
    hdr.set_sform(_affine(case["affine"], rng), code=1)
    hdr["sform_code"], hdr["qform_code"] = case["sform_code"], case["qform_code"]  # 9: an invalid code
    hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"] = case["quatern"]
    hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"] = rng.uniform(-50, 50, 3)
    hdr["scl_slope"], hdr["scl_inter"] = case["slope"], case["inter"]
    raw = hdr.binaryblock + b"\0" * 4 + data.tobytes(order="F")
    return raw, data


def _expected_nifti(path: Path, data: np.ndarray, case: dict[str, Any]) -> tuple[bool | None, Any]:
    """(expect_error, (values, affine) when the file is valid): an oracle independent of the reader's checks."""
    try:
        img = nib.load(path)
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as f:  # the loaded header has no scaling
            slope, inter = nib.Nifti1Header.from_fileobj(f).get_slope_inter()
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception:
        return True, None  # nibabel itself cannot read the header
    shape = list(case["shape"])
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    real = data.dtype.fields is None and data.dtype.kind != "c" and case["kind"] != "bool-bit"
    if not 2 <= len(shape) <= (4 if case["allow_4d"] else 3) or 0 in shape or not real:
        return True, None
    with np.errstate(over="ignore", invalid="ignore"):
        values = (data.astype(np.float64) * (1.0 if slope is None else slope) + (inter or 0.0)).astype(np.float32)
    if not np.isfinite(values).all() or not np.isfinite(affine).all() or np.linalg.matrix_rank(affine[:3, :3]) < 3:
        return True, None
    return False, (values.reshape(shape), affine)


def _check_image_output(result: Any, describe: str, max_ndim: int = 3) -> None:
    array, affine, _ = result
    assert isinstance(array, np.ndarray) and array.dtype == np.float32, describe
    assert 2 <= array.ndim <= max_ndim and array.size > 0 and np.isfinite(array).all(), describe
    assert affine.shape == (4, 4) and affine.dtype == np.float64 and np.isfinite(affine).all(), describe
    assert np.linalg.matrix_rank(affine[:3, :3]) == 3, describe


# ----- NIfTI properties
@given(case=nifti_cases(damaged=False))
def test_nifti_reader_fuzz(case):
    """2-D/3-D images of random dtypes, NaN/Inf, affines, scaling and header fields: the exact scaled voxels and
    affine, or a refusal naming the file."""
    _check_nifti_case(case)


@given(case=nifti_cases(damaged=True))
def test_nifti_damaged_files_fuzz(case):
    """Random shapes (1-D to 5-D, zero-size axes), truncated, empty, header-only, byte-flipped and random-bytes files:
    a sane image or a refusal naming the file."""
    _check_nifti_case(case)


def _check_nifti_case(case: dict[str, Any]) -> None:
    raw, data = _nifti_bytes(case)
    describe = {k: v for k, v in case.items() if k != "noise"}
    corruption = case["corruption"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case{case['ext']}"
        path.write_bytes(gzip.compress(raw) if case["ext"] == ".nii.gz" else raw)
        expect, oracle = _expected_nifti(path, data, case)
        encoded = path.read_bytes()
        if corruption == "truncate":
            path.write_bytes(encoded[: int(len(encoded) * case["fraction"])])
            expect = True if case["ext"] == ".nii" else None  # a .nii.gz cut in its trailer may still decode
        elif corruption == "empty":
            path.write_bytes(b"")
            expect = True
        elif corruption == "random":
            path.write_bytes(case["noise"])
            expect = None
        elif corruption == "header-only":
            path.write_bytes(gzip.compress(raw[:348]) if case["ext"] == ".nii.gz" else raw[:348])
            expect = True
        elif corruption == "byte-flip":
            i = int(case["fraction"] * min(len(raw), 352))
            flipped = raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]
            path.write_bytes(gzip.compress(flipped) if case["ext"] == ".nii.gz" else flipped)
            expect = None
        result = check_contract(
            NIFTI,
            lambda: read_nifti(path, allow_4d=case["allow_4d"]),
            mention=(path.name,),
            expect_error=expect,
            describe=str(describe),
        )
        if result is None:
            return
        _check_image_output(result, str(describe), max_ndim=4 if case["allow_4d"] else 3)
        if oracle is not None and corruption in ("none", "truncate"):
            values, affine = oracle
            np.testing.assert_allclose(result[0], values, rtol=2e-6, atol=0, err_msg=str(describe))
            np.testing.assert_allclose(result[1], affine, rtol=1e-6, atol=1e-6, err_msg=str(describe))


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple),
    trailing=st.integers(0, 2),
    slice_axis=st.integers(-5, 4),
    slice_index=st.none() | st.integers(-6, 6),
    ext=st.sampled_from([".nii", ".nii.gz"]),
    seed=SEEDS,
)
def test_nifti_slices_fuzz(shape, trailing, slice_axis, slice_index, ext, seed):
    """MRIVolume/load_mri_slice over a valid NIfTI: any axis and index gives that slice, or an out-of-range refusal
    (a 2-D image ignores slice_axis)."""
    full = shape + (1,) * trailing
    shape = full[: max(len(shape), 3)] if len(full) > 2 else full  # the reader keeps at most 3 dims of trailing 1s
    volume = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    describe = f"shape {full}, slice_axis {slice_axis}, slice_index {slice_index}, {ext}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"vol{ext}"
        nib.save(nib.Nifti1Image(volume.reshape(full), np.diag([2.0, 1.5, 3.0, 1.0])), path)
        axis_ok = len(shape) == 2 or -3 <= slice_axis < 3
        if len(shape) == 2:
            n, image = 1, volume
        elif axis_ok:
            n = shape[slice_axis]
            i = n // 2 if slice_index is None else slice_index
            image = np.take(volume, i % n, axis=slice_axis) if -n <= i < n else None
        in_range = axis_ok and (slice_index is None or -n <= slice_index < n)
        out = check_contract(
            SLICE,
            lambda: load_mri_slice(path, slice_index=slice_index, slice_axis=slice_axis),
            mention=(path.name,),
            expect_error=not in_range,
            describe=describe,
        )
        if out is not None:
            assert out["format"] == "nifti" and out["image"].dtype == np.float32, describe
            np.testing.assert_array_equal(out["image"], image, err_msg=describe)
            assert out["affine"].shape == (4, 4) and np.isfinite(out["affine"]).all(), describe


# ----- DICOM helpers
def _set_raw(ds: pydicom.Dataset, keyword: str, vr: str, text: bytes) -> None:
    """Store ``text`` as the raw value of ``keyword`` (bypasses pydicom's validation: invalid strings are possible)."""
    tag = Tag(tag_for_keyword(keyword))
    if len(text) % 2:
        text += b" "
    ds[tag] = RawDataElement(tag, vr, len(text), text, 0, False, True)


#: (name, function(ds, other_ds) that mutates ds, whether the series must then be refused)
def _mutations() -> dict[str, tuple[Any, bool | None]]:
    def delete(keyword: str):
        return lambda ds, other: delattr(ds, keyword)

    def raw(keyword: str, vr: str, text: bytes):
        return lambda ds, other: _set_raw(ds, keyword, vr, text)

    def setattr_(keyword: str, value: Any):
        return lambda ds, other: setattr(ds, keyword, value)

    def compressed(ds, other):
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8\xff\xe0not a jpeg"])
        ds["PixelData"].VR = "OB"

    def float_pixels(ds, other):
        values = np.frombuffer(ds.PixelData, "<u2").astype("<f4")
        values[0] = other
        del ds.PixelData
        ds.FloatPixelData = values.tobytes()
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31

    out: dict[str, tuple[Any, bool | None]] = {
        **{f"delete {k}": (delete(k), True) for k in ("PixelData", "Rows", "Columns", "BitsAllocated")},
        **{
            f"delete {k}": (delete(k), True)
            for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "PhotometricInterpretation")
        },
        "delete SeriesInstanceUID": (delete("SeriesInstanceUID"), None),
        "delete RescaleSlope": (delete("RescaleSlope"), None),
        "Rows + 1": (lambda ds, other: setattr(ds, "Rows", ds.Rows + 1), True),
        "Columns = other's Rows": (lambda ds, other: setattr(ds, "Columns", other.Rows), None),
        "duplicate position": (lambda ds, other: setattr(ds, "ImagePositionPatient", other.ImagePositionPatient), None),
        "other SeriesInstanceUID": (setattr_("SeriesInstanceUID", generate_uid()), None),
        "PixelSpacing 0": (setattr_("PixelSpacing", [0.0, 0.0]), True),
        "PixelSpacing negative": (setattr_("PixelSpacing", [-0.9, 0.8]), True),
        "PixelSpacing one value": (setattr_("PixelSpacing", [0.9]), True),
        "PixelSpacing NaN": (raw("PixelSpacing", "DS", b"nan\\0.8"), True),
        "PixelSpacing text": (raw("PixelSpacing", "DS", b"abc\\def"), True),
        "IOP zero": (setattr_("ImageOrientationPatient", [0.0] * 6), True),
        "IOP parallel": (setattr_("ImageOrientationPatient", [1.0, 0, 0, 1.0, 0, 0]), True),
        "IOP not unit": (setattr_("ImageOrientationPatient", [2.0, 0, 0, 0, 0.5, 0]), True),
        "IOP text": (raw("ImageOrientationPatient", "DS", b"1\\0\\0\\0\\1\\x"), True),
        "IPP text": (raw("ImagePositionPatient", "DS", b"abc\\1\\2"), True),
        "IPP Inf": (raw("ImagePositionPatient", "DS", b"inf\\1\\2"), True),
        "RescaleSlope NaN": (raw("RescaleSlope", "DS", b"nan"), True),
        "RescaleSlope Inf": (raw("RescaleSlope", "DS", b"inf"), True),
        "RescaleSlope 1e38": (raw("RescaleSlope", "DS", b"1e38"), True),
        "RescaleSlope two values": (raw("RescaleSlope", "DS", b"1\\2"), True),
        "RescaleSlope 0": (raw("RescaleSlope", "DS", b"0"), None),
        "RescaleIntercept text": (raw("RescaleIntercept", "DS", b"abc"), True),
        "NumberOfFrames 2": (raw("NumberOfFrames", "IS", b"2"), True),
        "NumberOfFrames text": (raw("NumberOfFrames", "IS", b"abc"), True),
        "SliceThickness NaN": (raw("SliceThickness", "DS", b"nan"), None),
        "SliceThickness text": (raw("SliceThickness", "DS", b"abc"), None),
        "SliceThickness negative": (raw("SliceThickness", "DS", b"-2"), None),
        "SpacingBetweenSlices 0": (raw("SpacingBetweenSlices", "DS", b"0"), None),
        "Rows 0": (setattr_("Rows", 0), True),
        "BitsAllocated 8": (setattr_("BitsAllocated", 8), True),
        "BitsAllocated 32": (setattr_("BitsAllocated", 32), True),
        "SamplesPerPixel 3": (setattr_("SamplesPerPixel", 3), True),
        "PixelRepresentation 1": (setattr_("PixelRepresentation", 1), None),
        "PixelData short": (lambda ds, other: setattr(ds, "PixelData", ds.PixelData[:-2]), True),
        "PixelData empty": (lambda ds, other: setattr(ds, "PixelData", b""), True),
        "compressed without decoder": (compressed, True),
        "float pixels with NaN": (lambda ds, other: float_pixels(ds, NAN), True),
        "float pixels finite": (lambda ds, other: float_pixels(ds, 3.5), None),
    }
    return out


MUTATIONS = _mutations()
FILE_DAMAGE = ["none"] * 4 + ["truncate", "random bytes", "empty", "junk file in folder", "hidden junk", "subfolder"]


@st.composite
def dicom_cases(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    return {
        "n": n,
        "rows": draw(st.integers(1, 6)),
        "cols": draw(st.integers(1, 6)),
        "rotation": (draw(st.floats(-180, 180)), draw(st.floats(-90, 90))),
        "spacing": tuple(draw(st.floats(0.1, 5.0)) for _ in range(3)),
        "mutations": draw(st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=min(n, 2))),
        "targets": draw(st.permutations(range(n))),  # one mutation per file: a later one cannot undo an earlier one
        "damage": draw(st.sampled_from(FILE_DAMAGE)),
        "fraction": draw(st.floats(0.0, 0.999)),
        "noise": draw(st.binary(max_size=300)),
        "as_list": draw(st.booleans()),
        "series_uid": draw(st.sampled_from([None, None, None, "its own", "1.2.3"])),
        "slice_index": draw(st.none() | st.integers(-5, 5)),
        "seed": draw(st.integers(0, 2**16)),
    }


def _check_series(series: Any, describe: str) -> None:
    vol = series.volume
    assert vol.dtype == np.float32 and vol.ndim == 3 and vol.size > 0 and np.isfinite(vol).all(), describe
    assert len(series.datasets) == len(series.files) == vol.shape[0], describe
    assert series.affine.shape == (4, 4) and np.isfinite(series.affine).all(), describe
    assert np.linalg.matrix_rank(series.affine[:3, :3]) == 3, describe
    assert all(np.isfinite(s) and s > 0 for s in series.spacing), describe


# ----- DICOM properties
@given(case=dicom_cases())
def test_dicom_reader_fuzz(case):
    """Random series sizes and geometry, missing/invalid tags, mixed series, compressed or damaged files, junk in the
    folder: a sane volume or a refusal naming the file or folder."""
    describe = str({k: v for k, v in case.items() if k != "noise"})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        made = make_dicom_series(
            folder, n=case["n"], rows=case["rows"], cols=case["cols"], rotation=case["rotation"],
            spacing=case["spacing"], seed=case["seed"],
        )  # fmt: skip
        files = made["files"]
        expect: bool | None = False
        for name, k in zip(case["mutations"], case["targets"]):
            mutate, bad = MUTATIONS[name]
            ds, other = pydicom.dcmread(files[k]), pydicom.dcmread(files[(k + 1) % len(files)])
            try:
                mutate(ds, other)
            except Exception:  # e.g. copying a position from a file whose position an earlier mutation broke
                continue
            ds.save_as(files[k])
            expect = True if bad or expect is True else None
        damage = case["damage"]
        if damage == "truncate":
            data = files[0].read_bytes()
            files[0].write_bytes(data[: int(len(data) * case["fraction"])])
            expect = True
        elif damage == "random bytes":
            files[0].write_bytes(case["noise"])
            expect = True  # at most 300 random bytes: no DICM preamble
        elif damage == "empty":
            files[0].write_bytes(b"")
            expect = True
        elif damage == "junk file in folder":
            (folder / "notes.txt").write_bytes(case["noise"] or b"scan notes")
            expect = True if not case["as_list"] else expect
        elif damage == "hidden junk":
            (folder / ".DS_Store").write_bytes(case["noise"])
        elif damage == "subfolder":
            (folder / "sub").mkdir()
            (folder / "sub" / "x.dcm").write_bytes(case["noise"])
        source: Any = list(reversed(files)) if case["as_list"] else folder
        names = (folder.name, *(f.name for f in files), "notes.txt")
        uid = made["series_uid"] if case["series_uid"] == "its own" else case["series_uid"]
        if uid == "1.2.3":
            expect = True
        series = check_contract(
            DICOM,
            lambda: read_dicom_series(source, series_uid=uid),
            mention=names,
            expect_error=expect,
            describe=describe,
        )
        if series is None:
            return
        _check_series(series, describe)
        assert series.volume.shape[1:] in {(case["rows"], case["cols"]), (case["cols"], case["rows"])}, describe
        if not case["mutations"] and damage != "random bytes":
            np.testing.assert_array_equal(series.volume, made["volume"], err_msg=describe)
            np.testing.assert_allclose(series.affine, LPS_TO_RAS @ made["affine_lps"], atol=1e-5, err_msg=describe)
        n, i = series.volume.shape[0], case["slice_index"]
        in_range = i is None or -n <= i < n
        if (
            not case["as_list"] and damage != "junk file in folder" and uid is None
        ):  # (the folder as MRIVolume reads it)
            out = check_contract(
                SLICE,
                lambda: load_mri_slice(folder, slice_index=i),
                mention=(folder.name,),
                expect_error=not in_range,
                describe=describe,
            )
            if out is not None:
                np.testing.assert_array_equal(out["image"], series.volume[(n // 2 if i is None else i) % n])


@given(
    names=st.lists(st.text("abcXYZ019_-.", min_size=1, max_size=8).filter(lambda n: n not in (".", "..")), max_size=4),
    contents=st.lists(st.binary(max_size=200), min_size=4, max_size=4),
    single_file=st.booleans(),
    through_loader=st.booleans(),
)
def test_dicom_junk_fuzz(names, contents, single_file, through_loader):
    """A folder of random files (none of them DICOM; hidden or none at all), or one random-bytes ``.dcm``: always
    refused, naming the file or folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "junk_series"
        folder.mkdir()
        for name, data in zip(names, contents):
            (folder / name).write_bytes(data)
        target = folder
        if single_file:
            target = folder / "random.dcm"
            target.write_bytes(contents[0])
        mention = (target.name, *names)
        call = (lambda: load_mri_slice(target)) if through_loader else (lambda: read_dicom_series(target))
        check_contract(
            SLICE if through_loader else DICOM,
            call,
            mention=mention,
            expect_error=True,
            describe=f"files {names}, single_file={single_file}",
        )


# ----- regressions: the inputs the fuzzing found, each once
def _nifti(path: Path, data: np.ndarray, **fields: Any) -> Path:
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(data.dtype)
    hdr.set_data_shape(fields.pop("shape", data.shape))
    hdr["vox_offset"] = 352
    hdr.set_sform(np.eye(4), code=1)
    for key, value in fields.items():
        hdr[key] = value
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + data.tobytes(order="F"))
    return path


def test_nifti_complex_and_rgb_are_refused(tmp_path):
    """Complex voxels were read as their real part (silently); RGB24 ones failed with a 'truncated' message."""
    data = (np.ones((3, 3, 2)) + 2j).astype(np.complex64)
    with pytest.raises(MRIInputError, match=r"complex\.nii: the NIfTI voxels are complex-valued"):
        read_nifti(_nifti(tmp_path / "complex.nii", data))
    rgb = np.zeros((3, 3, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    with pytest.raises(MRIInputError, match=r"rgb\.nii: the NIfTI voxels are colour \(R/G/B channels\)"):
        read_nifti(_nifti(tmp_path / "rgb.nii", rgb))


@pytest.mark.parametrize(
    "fields",
    [
        {"srow_x": [NAN, 0, 0, 0]},  # NaN sform
        {"srow_x": [0, 0, 0, 0], "srow_y": [0, 0, 0, 0], "srow_z": [0, 0, 0, 0]},  # zero sform
        {"sform_code": 0, "qform_code": 1, "quatern_b": NAN},  # NaN quaternion
        {"sform_code": 0, "qform_code": 0, "pixdim": [1, NAN, 1, 1, 1, 1, 1, 1]},  # NaN pixdim
        {"srow_z": [0, 0, 1e-30, 0]},  # numerically singular
    ],
)
def test_nifti_broken_affine_is_refused(tmp_path, fields):
    """A NaN or singular affine was returned as is (NaN world coordinates; write_nifti refused it after the work)."""
    path = _nifti(tmp_path / "affine.nii", np.ones((3, 3, 2), np.float32), **fields)
    with pytest.raises(MRIInputError, match=r"affine\.nii: the voxel-to-world affine .* is not a finite, invertible"):
        read_nifti(path)


@pytest.mark.parametrize("value", [NAN, INF, 1e300])
def test_nifti_non_finite_voxels_are_refused(tmp_path, value):
    """A NaN/Inf voxel (or a float64 value that overflows float32) was returned in the image."""
    data = np.ones((4, 4, 2))
    data[1, 2, 1] = value
    with pytest.raises(MRIInputError, match=r"nonfinite\.nii: 1 of 32 voxels are NaN or Inf"):
        read_nifti(_nifti(tmp_path / "nonfinite.nii", data))
    data16 = np.full((4, 4, 2), 30000, np.int16)
    with pytest.raises(MRIInputError, match="NaN or Inf"):
        read_nifti(_nifti(tmp_path / "scaled.nii", data16, scl_slope=1e38, scl_inter=0))


@pytest.mark.parametrize("name", ["huge.nii", "huge.nii.gz"])
def test_nifti_huge_declared_shape_is_refused_quickly(tmp_path, name):
    """A header declaring (3000, 3000, 300) voxels in a 452-byte file made nibabel allocate 10.8 GB (30+ s)."""
    path = _nifti(tmp_path / name, np.ones(25, np.float32), shape=(3000, 3000, 300))
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(path.read_bytes()))
    start = time.perf_counter()
    with pytest.raises(MRIInputError, match=r"huge\.nii(\.gz)?: the header declares shape \(3000, 3000, 300\)"):
        read_nifti(path)
    assert time.perf_counter() - start < 5.0


def _one_dicom(tmp_path: Path, n: int = 1, **raw: bytes) -> Path:
    made = make_dicom_series(tmp_path / "series", n=n, rows=4, cols=3)
    ds = pydicom.dcmread(made["files"][0])
    for keyword, text in raw.items():
        _set_raw(ds, keyword, "IS" if keyword == "NumberOfFrames" else "DS", text)
    ds.save_as(made["files"][0])
    return tmp_path / "series"


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"RescaleSlope": b"nan"}, "RescaleSlope = 'nan' is not one finite number"),  # was: a NaN volume
        ({"RescaleSlope": b"inf"}, "RescaleSlope = 'inf' is not one finite number"),  # was: an Inf volume
        ({"RescaleSlope": b"1e38"}, "NaN or Inf after RescaleSlope"),  # was: an Inf volume
        ({"RescaleSlope": b"1\\2"}, "RescaleSlope = .* is not one finite number"),  # was: TypeError
        ({"RescaleIntercept": b"abc"}, "RescaleIntercept = 'abc' is not one finite number"),  # was: ValueError
        ({"NumberOfFrames": b"abc"}, "NumberOfFrames = 'abc' is not one finite number"),  # was: ValueError
        ({"ImagePositionPatient": b"abc\\1\\2"}, "ImagePositionPatient = .* is not 3 numbers"),
        ({"PixelSpacing": b"0\\0"}, r"PixelSpacing \[0.0, 0.0\] is not positive"),  # was: a singular affine
        ({"PixelSpacing": b"-0.9\\0.8"}, r"PixelSpacing \[-0.9, 0.8\] is not positive"),  # was: a flipped affine
        ({"ImageOrientationPatient": b"2\\0\\0\\0\\0.5\\0"}, "is not two orthogonal unit vectors"),  # wrong scale
    ],
)
def test_dicom_invalid_header_values_are_refused(tmp_path, raw, match):
    folder = _one_dicom(tmp_path, **raw)
    with pytest.raises(MRIInputError, match=match) as info:
        read_dicom_series(folder)
    assert "series" in str(info.value)


@pytest.mark.parametrize("thickness", [b"nan", b"abc", b"-2", b"0"])
def test_dicom_single_slice_with_unusable_thickness_gets_1mm(tmp_path, thickness):
    """A one-slice series with SliceThickness 'nan' had a NaN affine ('abc' raised ValueError)."""
    series = read_dicom_series(_one_dicom(tmp_path, SliceThickness=thickness))
    assert np.isfinite(series.affine).all() and series.spacing[0] == pytest.approx(1.0)


def test_dicom_float_pixel_data(tmp_path):
    """FloatPixelData slices are read (``del ds.PixelData`` raised AttributeError); a NaN among them is refused."""
    made = make_dicom_series(tmp_path / "series", n=2, rows=4, cols=3)
    for value, file in zip((3.5, NAN), made["files"]):
        ds = pydicom.dcmread(file)
        values = np.frombuffer(ds.PixelData, "<u2").astype("<f4")
        values[0] = value
        del ds.PixelData
        ds.FloatPixelData = values.tobytes()
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
        ds.save_as(file)
        if np.isnan(value):
            with pytest.raises(MRIInputError, match="NaN or Inf after RescaleSlope"):
                read_dicom_series(tmp_path / "series")
        else:
            series = read_dicom_series(tmp_path / "series")
            assert np.isfinite(series.volume).all() and all("FloatPixelData" not in d for d in series.datasets)


def test_dicom_pixel_data_longer_than_rows_x_columns(tmp_path):
    """Columns changed from 3 to 2 (pixel data for 2 x 3): pydicom decoded the first 2 x 2 values, a scrambled image."""
    made = make_dicom_series(tmp_path / "series", n=1, rows=2, cols=3)
    ds = pydicom.dcmread(made["files"][0])
    ds.Columns = 2
    ds.save_as(made["files"][0])
    with pytest.raises(
        MRIInputError, match=r"PixelData holds 12 bytes but Rows x Columns = \(2, 2\) of 16 bits need 8"
    ):
        read_dicom_series(tmp_path / "series")


@pytest.mark.parametrize(
    "source, match",
    [
        (None, "read_dicom_series: expected a folder or a list of DICOM files, got NoneType"),
        (3, "read_dicom_series: expected a folder or a list of DICOM files, got int"),
        ([None], "read_dicom_series: the list of files holds NoneType"),
        (b"missing_folder", "missing_folder: no such folder or file"),  # bytes paths are paths
        ([b"missing.dcm"], "missing.dcm: no such file"),
    ],
)
def test_dicom_source_that_is_not_a_path(source, match):
    """None, a number, a list holding a non-path, and bytes paths raised TypeError."""
    with pytest.raises(MRIInputError, match=match):
        read_dicom_series(source)


def test_dicom_bytes_paths(tmp_path):
    made = make_dicom_series(tmp_path / "series", n=2, rows=4, cols=3)
    assert read_dicom_series(bytes(tmp_path / "series")).volume.shape == (2, 4, 3)
    assert read_dicom_series([bytes(f) for f in made["files"]]).volume.shape == (2, 4, 3)


def test_regression_truncated_file_is_not_dropped_as_another_series(tmp_path):
    """A file cut before its SeriesInstanceUID was filtered out as 'another series' when series_uid was given: a
    two-slice series silently became one slice."""
    folder = tmp_path / "series"
    folder.mkdir()
    made = make_dicom_series(folder, n=2, rows=1, cols=1, rotation=(0.0, 0.0), spacing=(1.0, 1.0, 1.0))
    first = sorted(folder.iterdir())[0]
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    with pytest.raises(MRIInputError, match="no SeriesInstanceUID"):
        read_dicom_series(folder, series_uid=made["series_uid"])
