# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the k-space physics the transforms call: mask generators, FFTs, the SENSE operator,
ESPIRiT and the data-consistency callables.

Random shapes, accelerations, centre fractions, seeds, dtypes, NaN/Inf and mismatched maps / k-space / masks /
samples: every call returns outputs of the documented shape and dtype (finite for finite inputs) or raises
``MRIInputError`` (``D3GMInputError`` from the scheduler) with a message that names the argument. The regression tests
at the end pin the crashes (and the hang) the fuzzing found.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_d3gm.errors import MRIInputError
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.consistency import (
    HardDataConsistency,
    SenseDataConsistency,
    SoftDataConsistency,
)
from monai_d3gm.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_d3gm.physics.masks import (
    CartesianMask,
    acceleration_of,
    center_fraction_of,
    load_mask,
    poisson_mask,
)
from monai_d3gm.physics.sense import SenseOperator, espirit_maps
from tests.fuzz import all_finite, arrays, check_contract, describe_value, one_bad

JUNK = (None, "mask.npy", 3.5, {"a": 1}, [[1.0, 2.0], [3.0]], object())
FEW = max(6, settings.default.max_examples // 4)
BAD_SHAPES = [(0, 4), (4, 0), (-1, 4), (4,), (4, 4, 4), (3.5, 4), ("a", 4), None, 7, "8x8"]


@st.composite
def any_array(draw, max_ndim: int = 4, max_side: int = 9, torch_only: bool = False):
    value, _ = draw(arrays(max_ndim=max_ndim, max_side=max_side))
    if torch_only or draw(st.booleans()):
        value = torch.from_numpy(np.ascontiguousarray(value))
    return value


def _randc(shape, rng, scale: float = 1.0) -> torch.Tensor:
    return torch.as_tensor((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * scale).to(torch.complex64)


# ----------------------------------------------------------------------------------------------------------- masks


@given(
    kwargs=one_bad(
        {
            "kind": st.sampled_from(["random", "equispaced"]),
            "acceleration": st.one_of(st.integers(1, 12), st.floats(1.0, 12.0)),
            "center_fraction": st.one_of(st.just(0.0), st.floats(0.0, 0.3)),
            "direction": st.sampled_from(["phase", "frequency"]),
            "seed": st.one_of(st.none(), st.integers(0, 2**32 - 1)),
        },
        {
            "kind": ["gaussian", None, ["random"]],
            "acceleration": [0, 0.5, -4, np.nan, np.inf, 1e300, "4", None, True],
            "center_fraction": [-0.1, 1.0, np.nan, np.inf, "0.08", None],
            "direction": ["readout", None, 0],
            "seed": [-1, 2**32, 1.5, "0", np.nan],
        },
    ),
    shape=st.one_of(
        st.tuples(st.integers(1, 64), st.integers(1, 64)), st.sampled_from(BAD_SHAPES), st.just((np.int64(8), 9))
    ),
    call_seed=st.one_of(st.none(), st.integers(0, 2**32 - 1), st.sampled_from([-5, 2**40, 2.0, "1"])),
)
def test_cartesian_mask(kwargs, shape, call_seed):
    def call():
        generator = CartesianMask(**kwargs)
        return generator, generator(shape, seed=call_seed)

    out = check_contract(
        "CartesianMask",
        call,
        mention=("kind", "acceleration", "center_fraction", "direction", "seed", "shape", "lines"),
        describe=f"{kwargs} shape {shape!r} seed {call_seed!r}",
    )
    if out is None:
        return
    generator, mask = out
    h, w = int(shape[0]), int(shape[1])
    assert mask.shape == (h, w) and mask.dtype == torch.float32
    assert bool(((mask == 0) | (mask == 1)).all())
    along = mask if kwargs["direction"] == "phase" else mask.T
    assert bool((along == along[:1]).all())  # whole lines
    n = along.shape[1]
    n_center = round(n * float(kwargs["center_fraction"]))
    pad = (n - n_center + 1) // 2
    assert bool(along[:, pad : pad + n_center].eq(1).all())
    if call_seed is not None or kwargs["seed"] is not None:
        torch.testing.assert_close(generator(shape, seed=call_seed), mask, rtol=0, atol=0)


@settings(max_examples=FEW)
@given(
    kwargs=one_bad(
        {
            "shape": st.tuples(st.integers(8, 32), st.integers(8, 32)),
            "acceleration": st.floats(1.5, 5.0),
            "calib": st.tuples(st.integers(0, 6), st.integers(0, 6)),
            "seed": st.one_of(st.none(), st.integers(0, 2**32 - 1)),
        },
        {
            "shape": BAD_SHAPES,
            "acceleration": [1, 0.5, np.nan, np.inf, -3, "4", None, 40, 1000, 1e300],
            "calib": [(-1, 2), (100, 100), (2,), "ab", (2.5, 2), None],
            "seed": [-1, 2**32, "1", 1.5],
        },
    )
)
def test_poisson_mask(kwargs):
    mask = check_contract(
        "poisson_mask",
        lambda: poisson_mask(**kwargs),
        mention=("shape", "acceleration", "calib", "seed"),
        describe=str(kwargs),
    )
    if mask is not None:
        assert mask.shape == tuple(kwargs["shape"]) and mask.dtype == torch.float32
        assert bool(((mask == 0) | (mask == 1)).all())
        assert abs(acceleration_of(mask) - float(kwargs["acceleration"])) < 0.1


@st.composite
def mask_files(draw):
    """(file content, shape, direction): a valid 1-D line mask (or a 2-D mask) for the shape, then sometimes a random
    array, an empty or truncated file, a bad shape or direction."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    direction = draw(st.sampled_from(["phase", "frequency"]))
    n = w if direction == "phase" else h
    dtype = draw(st.sampled_from(["float32", "uint8", "bool", "int64", "float64"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    content = (rng.random((h, w) if draw(st.integers(0, 3)) == 0 else n) > 0.5).astype(dtype)
    shape: object = (h, w)
    spoil = draw(st.sampled_from(["none", "none", "array", "raw", "shape", "direction", "values"]))
    if spoil == "array":
        content = draw(any_array(max_ndim=3, max_side=12))
    elif spoil == "raw":
        content = draw(st.sampled_from([b"", b"\x93NUMPY", b"not a numpy file"]))
    elif spoil == "shape":
        shape = draw(st.sampled_from(BAD_SHAPES))
    elif spoil == "direction":
        direction = draw(st.sampled_from(["readout", None, 1]))
    elif spoil == "values":
        content = content.astype(np.float32) * draw(st.sampled_from([0.5, np.nan, 2.0, -1.0]))
    return content, shape, direction


@settings(max_examples=FEW)
@given(case=mask_files())
def test_load_mask(case):
    content, shape, direction = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.npy"
        if isinstance(content, bytes):
            path.write_bytes(content)  # an empty or truncated file
        else:
            np.save(path, np.asarray(content))
        mask = check_contract(
            "load_mask",
            lambda: load_mask(path, shape, direction),
            mention=("mask", "shape", "direction"),
            describe=f"{describe_value(content)} shape {shape!r} direction {direction!r}",
        )
    if mask is not None:
        assert mask.shape == tuple(shape) and mask.dtype == torch.float32
        assert bool(((mask == 0) | (mask == 1)).all())


@given(mask=st.one_of(any_array(), st.sampled_from(JUNK)), direction=st.sampled_from(["phase", "frequency", "x"]))
def test_mask_statistics(mask, direction):
    acc = check_contract(
        "acceleration_of", lambda: acceleration_of(mask), mention=("mask",), describe=describe_value(mask)
    )
    if acc is not None:
        assert acc >= 1.0 or not all_finite(mask)
    cf = check_contract(
        "center_fraction_of",
        lambda: center_fraction_of(mask, direction),
        mention=("mask", "direction"),
        describe=f"{describe_value(mask)} {direction}",
    )
    if cf is not None:
        assert 0.0 <= cf <= 1.0


# ------------------------------------------------------------------------------------------------------------ FFTs


@st.composite
def complex_tensors(draw):
    """Complex tensors (..., H, W) of random rank and size, sometimes with NaN/Inf or huge values."""
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = _randc(shape, rng, draw(st.sampled_from([1.0, 1e-30, 1e30])))
    if x.numel() and draw(st.booleans()):
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from([float("nan"), float("inf")]))
    dtype = draw(st.sampled_from([torch.complex64, torch.complex128, torch.complex32]))
    return x.to(dtype)


@given(x=st.one_of(complex_tensors(), any_array(torch_only=True), any_array(), st.sampled_from(JUNK)))
def test_fft_and_channel_conversions(x):
    describe = describe_value(x)
    for name, function in (("fft2c", fft2c), ("ifft2c", ifft2c)):
        out = check_contract("fft", lambda f=function: f(x), mention=(name,), describe=f"{name} {describe}")
        if out is not None:
            assert out.shape == x.shape and out.dtype == x.dtype
            if all_finite(x) and float(x.abs().max()) < 1e30:
                torch.testing.assert_close(ifft2c(fft2c(x)), x, atol=1e-3 * max(1.0, float(x.abs().max())), rtol=1e-3)
    channels = check_contract(
        "fft", lambda: complex_to_channels(x), mention=("complex_to_channels",), describe=f"c2ch {describe}"
    )
    if channels is not None:
        assert channels.shape == (x.shape[0], 2 * x.shape[1], *x.shape[2:])
        torch.testing.assert_close(channels_to_complex(channels), x, equal_nan=True)
    back = check_contract(
        "fft", lambda: channels_to_complex(x), mention=("channels_to_complex",), describe=f"ch2c {describe}"
    )
    if back is not None:
        assert back.is_complex() and back.shape == (x.shape[0], x.shape[1] // 2, *x.shape[2:])


# ------------------------------------------------------------------------------------------------------------ SENSE


@st.composite
def sense_cases(draw):
    """(maps, mask, image x, k-space y): consistent shapes, then sometimes one of them of a wrong shape, dtype or
    content."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    b, c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    maps_b = draw(st.sampled_from([None, 1, b]))
    maps = None if maps_b is None else _randc((c, h, w) if maps_b == 1 else (b, c, h, w), rng) / math.sqrt(c)
    c = 1 if maps is None else c
    mask_shape = draw(st.sampled_from([(h, w), (b, h, w), (b, 1, h, w), (1, 1, h, w), (b, c, h, w)]))
    mask = torch.as_tensor(rng.random(mask_shape) > 0.4).to(draw(st.sampled_from([torch.float32, torch.bool])))
    x, y = _randc((b, h, w), rng), _randc((b, c, h, w), rng)
    parts = {"maps": maps, "mask": mask, "x": x, "y": y}
    if draw(st.integers(0, 1)) == 0:
        name = draw(st.sampled_from(sorted(parts)))
        spoil = draw(st.sampled_from(["array", "junk", "nan", "transpose", "batch", "real"]))
        value = parts[name]
        if spoil == "array":
            value = draw(any_array(torch_only=name in ("x", "y")))
        elif spoil == "junk":
            value = draw(st.sampled_from(JUNK))
        elif value is not None and spoil == "nan":
            value = value.clone().to(torch.complex64 if value.is_complex() else torch.float32)
            value.view(-1)[0] = float("nan")
        elif value is not None and spoil == "transpose":
            value = value.transpose(-1, -2)
        elif value is not None and spoil == "batch":
            value = torch.cat([value[:1]] * (b + 1)) if value.ndim >= 3 else value
        elif value is not None and spoil == "real":
            value = value.real if value.is_complex() else value
        parts[name] = value
    return parts


@given(case=sense_cases())
def test_sense_operator(case):
    describe = ", ".join(f"{k} {describe_value(v)}" for k, v in case.items())
    mention = ("maps", "mask", "SenseOperator", "coil")
    op = check_contract("SenseOperator", lambda: SenseOperator(case["maps"], case["mask"]), mention, describe=describe)
    if op is None:
        return
    ax = check_contract("SenseOperator", lambda: op.forward(case["x"]), mention, describe=f"forward {describe}")
    ahy = check_contract("SenseOperator", lambda: op.adjoint(case["y"]), mention, describe=f"adjoint {describe}")
    nx = check_contract("SenseOperator", lambda: op.normal(case["x"]), mention, describe=f"normal {describe}")
    x, y = case["x"], case["y"]
    if ax is not None:
        assert ax.shape == (x.shape[0], op.num_coils, *op.shape) and ax.is_complex()
        assert all_finite(ax) or not all_finite(x)
    if ahy is not None:
        assert ahy.shape == (y.shape[0], *op.shape) and ahy.is_complex()
        assert all_finite(ahy) or not all_finite(y)
    if ax is not None and ahy is not None and ax.shape == y.shape and all_finite(x) and all_finite(y):
        lhs = torch.vdot(ax.flatten().to(torch.complex128), y.flatten().to(torch.complex128))
        rhs = torch.vdot(x.flatten().to(torch.complex128), ahy.flatten().to(torch.complex128))
        assert abs(lhs - rhs) <= 1e-3 * max(1.0, abs(lhs))  # <Ax, y> = <x, A^H y>
    if nx is not None and ax is not None and all_finite(x):  # NaN may spread differently through the shortcut
        torch.testing.assert_close(nx, op.adjoint(ax), atol=1e-4, rtol=1e-4)


@settings(max_examples=FEW)
@given(
    data=st.data(),
    shape=st.tuples(st.integers(0, 3), st.integers(1, 4), st.integers(1, 16), st.integers(1, 16)),
    calib_width=st.sampled_from([4, 8, 24]),
)
def test_espirit_maps(data, shape, calib_width):
    b, c, h, w = shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    kspace = data.draw(
        st.one_of(
            st.just(_randc(shape[1:] if b == 0 else shape, rng)),
            any_array(),
            st.sampled_from(JUNK),
        ),
        label="kspace",
    )
    mask = data.draw(
        st.one_of(
            st.none(),
            st.just(torch.as_tensor(rng.random((h, w)) > 0.3)),
            st.just(torch.ones(w, h)),
            any_array(),
        ),
        label="mask",
    )

    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the low-resolution fallback warns
            return espirit_maps(kspace, calib_width=calib_width, mask=mask)

    maps = check_contract(
        "espirit_maps",
        call,
        mention=("kspace", "k-space", "mask"),
        describe=f"kspace {describe_value(kspace)}, mask {describe_value(mask)}",
    )
    if maps is not None:
        assert maps.shape == kspace.shape and maps.dtype == torch.complex64 and all_finite(maps)


# ---------------------------------------------------------------------------------------------- data consistency

SCHEDULER = D3GMScheduler(10)


@st.composite
def dc_cases(draw):
    """A data-consistency callable's arguments and a call's (sample, timestep, noise_std); consistent, then sometimes
    one argument spoiled (wrong shape, dtype, NaN, junk)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["hard", "soft", "sense"]))
    b, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    c = draw(st.integers(1, 4)) if kind == "sense" else 1
    mask = torch.as_tensor(rng.random(draw(st.sampled_from([(h, w), (b, h, w), (b, 1, h, w), (1, h, w)]))) > 0.5)
    mask = mask.to(draw(st.sampled_from([torch.float32, torch.bool, torch.uint8])))
    kspace = _randc((b, c, h, w) if kind == "sense" or draw(st.booleans()) else (b, h, w), rng)
    maps = _randc((c, h, w), rng) / math.sqrt(c) if kind == "sense" else None
    sample = complex_to_channels(_randc((draw(st.sampled_from([1, b])), 1, h, w), rng))
    sample = sample.to(draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16])))
    args = {
        "kspace": kspace,
        "mask": mask,
        "maps": maps,
        "sample": sample,
        "timestep": draw(st.integers(0, 10)),
        "noise_std": draw(st.sampled_from([0.0, float(SCHEDULER.marginal_std(5))])),
        "weight": draw(st.floats(0.0, 1.0)),
        "lam": draw(st.floats(1e-3, 10.0)),
        "iterations": draw(st.integers(1, 4)),
    }
    if draw(st.integers(0, 1)) == 0:
        name = draw(st.sampled_from(sorted(args)))
        value = args[name]
        bad = {
            "timestep": [-1, 11, 2.5, "3", None, torch.tensor([1, 2, 3, 4]), torch.tensor([np.nan])],
            "weight": [-0.5, 1.5, np.nan, "0.9", None],
            "lam": [0.0, -1.0, np.nan, np.inf, "1", None],
            "iterations": [0, -2, 2.5, "5", None],
            "noise_std": [-0.5, np.nan, np.inf, "0.1", None, torch.tensor([0.1, 0.2, 0.3, 0.4])],
        }.get(name)
        if bad is not None:
            args[name] = draw(st.sampled_from(bad))
        elif isinstance(value, torch.Tensor):
            spoil = draw(st.sampled_from(["array", "junk", "nan", "transpose", "batch", "real", "drop"]))
            if spoil == "array":
                value = draw(any_array(torch_only=name == "sample"))
            elif spoil == "junk":
                value = draw(st.sampled_from(JUNK))
            elif spoil == "nan":
                value = value.clone().to(torch.complex64 if value.is_complex() else torch.float32)
                value.view(-1)[0] = float("nan")
            elif spoil == "transpose":
                value = value.transpose(-1, -2)
            elif spoil == "batch":
                value = torch.cat([value[:1]] * (b + 2))
            elif spoil == "real":
                value = value.real if value.is_complex() else value
            else:
                value = value[0]
            args[name] = value
        else:
            args[name] = draw(st.sampled_from(JUNK))
    return kind, args


@given(case=dc_cases())
def test_data_consistency(case):
    kind, a = case
    describe = f"{kind}: " + ", ".join(f"{k} {describe_value(v)}" for k, v in a.items())

    def call():
        if kind == "hard":
            dc = HardDataConsistency(a["kspace"], a["mask"])
        elif kind == "soft":
            dc = SoftDataConsistency(a["kspace"], a["mask"], weight=a["weight"])
        else:
            dc = SenseDataConsistency(a["kspace"], a["mask"], a["maps"], a["iterations"], a["lam"])
        return dc(a["sample"], a["timestep"], a["noise_std"])

    out = check_contract(
        "data consistency",
        call,
        mention=("kspace", "mask", "maps", "sample", "timestep", "noise_std", "weight", "lam", "iterations"),
        describe=describe,
    )
    if out is not None:
        sample = a["sample"]
        assert out.shape == sample.shape and out.dtype == sample.dtype
        if all_finite(sample):
            assert all_finite(out)


# -------------------------------------------------------------------------- regressions: the crashes fuzzing found


def _raises(call, match: str) -> None:
    with pytest.raises(MRIInputError, match=match):
        call()


def test_regression_mask_generators(tmp_path):
    """ValueError from numpy (seed, NaN to int), TypeError (str), RuntimeError, EOFError (empty file) before."""
    (tmp_path / "empty.npy").write_bytes(b"")
    _raises(lambda: load_mask(tmp_path / "empty.npy", (4, 4)), "cannot read mask file")
    _raises(lambda: CartesianMask("equispaced", float("inf"), 0.0), "acceleration must be a finite number")
    _raises(lambda: CartesianMask("equispaced", 1e300, 0.0)((8, 8)), "acceleration 1e\\+300 exceeds the 8")
    _raises(lambda: CartesianMask(acceleration="4"), "acceleration must be a real number")
    _raises(lambda: CartesianMask(seed=-1), "seed must be None or an integer")
    _raises(lambda: CartesianMask()((8, 8), seed=2**32), "seed must be None or an integer")
    _raises(lambda: CartesianMask()(("a", 8)), "mask shape must be")
    _raises(lambda: CartesianMask().lines(0), "positive integer")
    _raises(lambda: center_fraction_of(torch.zeros(4, 0)), "non-empty mask")
    _raises(lambda: acceleration_of("mask"), "mask must be a numeric array")


def test_regression_poisson_mask_does_not_hang():
    """SigPy's bisection looped for ever on accelerations it cannot reach; NaN gave a mask without an error."""
    for shape, acceleration in (((16, 16), 12), ((8, 12), 7.3), ((32, 32), 1000)):
        _raises(lambda s=shape, a=acceleration: poisson_mask(s, a, (2, 2)), "cannot make a Poisson-disc mask")
    _raises(lambda: poisson_mask((16, 16), float("nan"), (4, 4)), "acceleration must be a finite number")
    _raises(lambda: poisson_mask((16, 16), 4, (4, 4), seed=-1), "seed must be None or an integer")
    _raises(lambda: poisson_mask((16, 16), 4, ("a", 4)), "calib must be two integers")
    mask = poisson_mask((16, 16), 3, (4, 4), seed=3)  # a reachable acceleration: the same mask as SigPy's
    from sigpy.mri import poisson

    expected = poisson((16, 16), 3.0, calib=(4, 4), dtype=np.float32, seed=3) != 0
    torch.testing.assert_close(mask, torch.as_tensor(expected, dtype=torch.float32), rtol=0, atol=0)


def test_regression_fft_and_sense():
    """RuntimeError from torch (empty grid, half / bfloat16 FFT, broadcasting batches) before."""
    _raises(lambda: fft2c(torch.zeros(0, 4, dtype=torch.complex64)), "non-empty")
    _raises(lambda: ifft2c(torch.zeros(0, 1, 1, dtype=torch.complex64)), "non-empty")  # MKL's error
    _raises(lambda: channels_to_complex(torch.zeros(1, 2, 4, 4, dtype=torch.bfloat16)), "x.float")
    _raises(lambda: fft2c(torch.zeros(1, 4, 4, dtype=torch.complex32)), "complex32")
    maps = torch.ones(2, 3, 4, 4, dtype=torch.complex64)
    _raises(lambda: SenseOperator(maps, torch.ones(4, 4)).forward(torch.ones(3, 4, 4, dtype=torch.complex64)), "batch")
    _raises(lambda: SenseOperator(maps[0] * float("nan"), torch.ones(4, 4)), "NaN or Inf")
    _raises(lambda: SenseOperator(None, torch.ones(1, 3, 4, 4)), "per-coil mask")
    _raises(lambda: SenseOperator(maps, "mask"), "mask must be a numeric array")
    _raises(lambda: espirit_maps(torch.zeros(2, 0, 4, dtype=torch.complex64)), "non-empty")


def test_regression_data_consistency():
    """float16 / bfloat16 samples crashed in the FFT; junk weights, lam, iterations and timesteps raised TypeError /
    ValueError; NaN maps gave NaN samples."""
    rng = np.random.default_rng(0)
    mask = CartesianMask("random", 2, 0.25, seed=0)((8, 8))
    kspace = _randc((1, 8, 8), rng) * mask
    for dtype in (torch.float16, torch.bfloat16):
        sample = complex_to_channels(_randc((1, 1, 8, 8), rng)).to(dtype)
        out = HardDataConsistency(kspace, mask)(sample, 0)
        assert out.dtype == dtype and all_finite(out)
        assert SenseDataConsistency(kspace[:, None], mask, None)(sample, 0).dtype == dtype
    _raises(lambda: SoftDataConsistency(kspace, mask, weight="0.9"), "weight must be a real number")
    _raises(lambda: SenseDataConsistency(kspace[:, None], mask, None, iterations="5"), "iterations")
    _raises(lambda: SenseDataConsistency(kspace[:, None], mask, None, lam="1"), "lam must be a real number")
    maps = torch.full((1, 8, 8), float("nan"), dtype=torch.complex64)
    _raises(lambda: SenseDataConsistency(kspace[:, None], mask, maps), "NaN or Inf")
    dc = HardDataConsistency(kspace, mask)
    sample = complex_to_channels(_randc((1, 1, 8, 8), rng))
    _raises(lambda: dc(sample, "3"), "timestep must be an integer")
    _raises(lambda: dc(sample, torch.tensor([1, 2, 3])), "one per sample")
    _raises(lambda: dc(sample, 3, "0.1"), "noise_std must be a real number")
    _raises(lambda: dc(sample, 3, -0.1), "noise_std must be >= 0")
    _raises(lambda: dc(sample, 3, torch.tensor([0.1, 0.2, 0.3])), "one per sample")
    _raises(lambda: HardDataConsistency(None, mask), "kspace must be a numeric array")


def test_regression_subnormal_soft_weight():
    """weight 2.2e-309 scaled the replacement noise by inf: NaN from finite input."""
    with pytest.raises(MRIInputError, match="too small"):
        SoftDataConsistency(torch.ones(1, 4, 4, dtype=torch.complex64), torch.ones(4, 4), weight=2.2e-309)
