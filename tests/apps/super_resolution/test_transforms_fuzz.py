# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the super-resolution degradations and transforms (array and dictionary variants).

Images smaller than the scale factor, 1x1, odd sizes, zero-size, 1-D to 4-D inputs, integer / complex / bool dtypes,
NaN/Inf, huge values, scales 0 / 1 / negative / fractional / non-numeric, blur widths, wrong and missing keys: every
call returns outputs of the documented shape (finite for finite inputs) or raises ``D3GMInputError`` with a message
that names the argument or key. The regression tests at the end pin the crashes the fuzzing found.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.apps.super_resolution.transforms import SimulateLowResolution, SimulateLowResolutiond
from monai_d3gm.errors import D3GMInputError
from monai_d3gm.physics.resolution import (
    bicubic_upsample,
    blur_downsample,
    crop_to_multiple,
    kspace_downsample,
    lowpass,
    sinc_upsample,
)
from tests.fuzz import all_finite, arrays, check_contract, describe_value

JUNK = (None, "image.nii", 3.5, {"a": 1}, [[1.0, 2.0], [3.0]], object())
BAD_SCALES = [0, -1, -4, 1.5, np.nan, np.inf, "2", None, [2]]
MENTION = ("image", "scale", "sigma", "degradation")


def _moderate(value) -> bool:
    """Finite, non-empty and below 1e30 in magnitude: no resampler can overflow float32 on it."""
    t = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
    return t.numel() > 0 and all_finite(t) and not t.is_complex() and float(t.double().abs().max()) < 1e30


@st.composite
def images(draw, lead: tuple[int, ...] = ()):
    """Mostly real images (*lead, H, W) of any size from 1x1 (odd, smaller than the scale...) and dtype, sometimes
    with NaN/Inf or huge values; else a random array of any rank or a value of the wrong type."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        value, _ = draw(arrays(max_ndim=5, max_side=9))
    elif choice == 1:
        return draw(st.sampled_from(JUNK))
    else:
        shape = (*lead, draw(st.integers(1, 24)), draw(st.integers(1, 24)))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        x = rng.random(shape) * draw(st.sampled_from([1.0, 1.0, 255.0, 1e-30, 1e30, 1e37, 1e300]))
        if x.size and draw(st.integers(0, 4)) == 0:
            x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        dtype = draw(st.sampled_from(["float32", "float32", "float64", "float16", "uint8", "int16", "bool"]))
        with np.errstate(all="ignore"):
            value = x > 0.5 if dtype == "bool" else x.astype(dtype)
    return torch.from_numpy(np.ascontiguousarray(value)) if draw(st.booleans()) else value


scales = st.one_of(st.integers(1, 5), st.integers(1, 5), st.sampled_from(BAD_SCALES))


@given(image=images(lead=()), scale=scales, sigma=st.sampled_from([0.0, 0.5, 1.5, 3.0, -1.0, np.nan, np.inf, "1"]))
def test_degradations(image, scale, sigma):
    describe = f"{describe_value(image)} scale {scale!r}"
    cropped = check_contract(
        "crop_to_multiple", lambda: crop_to_multiple(image, scale), mention=MENTION, describe=describe
    )
    if cropped is not None:
        h, w = np.shape(image)[-2:]
        assert cropped.shape[-2:] == (h // int(scale) * int(scale), w // int(scale) * int(scale))
    source = cropped if cropped is not None else image
    finite = cropped is not None and _moderate(cropped)
    for name, function in (("kspace_downsample", kspace_downsample), ("lowpass", lowpass)):
        out = check_contract(name, lambda f=function: f(source, scale), mention=MENTION, describe=f"{name} {describe}")
        if out is not None:
            s = int(scale)
            expected = source.shape[-2:] if name == "lowpass" else (source.shape[-2] // s, source.shape[-1] // s)
            assert out.shape[-2:] == expected and out.is_floating_point()
            assert all_finite(out) or not finite
    out = check_contract(
        "blur_downsample",
        lambda: blur_downsample(source, scale, sigma),
        mention=MENTION,
        describe=f"blur_downsample sigma {sigma!r} {describe}",
    )
    if out is not None:
        assert out.shape[-2:] == (source.shape[-2] // int(scale), source.shape[-1] // int(scale))
        assert all_finite(out) or not finite
    for name, function in (("sinc_upsample", sinc_upsample), ("bicubic_upsample", bicubic_upsample)):
        out = check_contract(name, lambda f=function: f(image, scale), mention=MENTION, describe=f"{name} {describe}")
        if out is not None:
            h, w = np.shape(image)[-2:]
            assert out.shape[-2:] == (h * int(scale), w * int(scale)) and out.is_floating_point()
            if _moderate(image):
                assert all_finite(out)


@st.composite
def sr_kwargs(draw) -> dict:
    """SimulateLowResolution's arguments: valid, or (a third of the time) one of them bad."""
    kwargs = {
        "scale": draw(st.integers(1, 4)),
        "degradation": draw(st.sampled_from(["kspace", "blur"])),
        "sigma": draw(st.one_of(st.floats(0.0, 2.0), st.tuples(st.floats(0.0, 1.0), st.floats(1.0, 2.0)))),
    }
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(kwargs)))
        kwargs[name] = draw(
            st.sampled_from(
                {
                    "scale": BAD_SCALES,
                    "degradation": ["bicubic", None, ["kspace"]],
                    "sigma": [-1.0, np.nan, np.inf, (2.0, 1.0), (0.5,), (0.5, 1.0, 2.0), "ab", None, (0.5, np.inf)],
                }[name]
            )
        )
    return kwargs


@given(image=images(lead=()), kwargs=sr_kwargs(), seed=st.integers(0, 2**31 - 1))
def test_simulate_low_resolution(image, kwargs, seed):
    def call():
        return SimulateLowResolution(**kwargs).set_random_state(seed)(image)

    out = check_contract("SimulateLowResolution", call, mention=MENTION, describe=f"{describe_value(image)} {kwargs}")
    if out is not None:
        mu, target = out
        s = kwargs["scale"]
        h, w = np.shape(image)[-2:]
        assert mu.shape == target.shape == (1, h // s * s, w // s * s)
        assert mu.dtype == target.dtype == torch.float32
        if all_finite(image):
            assert all_finite(mu) and all_finite(target)


POOL = ("image", "mu", "target", "label", "other")


@st.composite
def dictionaries(draw):
    if draw(st.integers(0, 14)) == 0:
        return draw(st.sampled_from([None, [("image", 1)], "image", np.zeros(3)]))
    return {key: draw(images()) for key in POOL if draw(st.integers(0, 2))}


@given(
    data=dictionaries(),
    keys=st.one_of(st.just("image"), st.sampled_from(POOL), st.sampled_from([[], ["image", "mu"], [["image"]]])),
    allow_missing_keys=st.booleans(),
    kwargs=sr_kwargs(),
)
def test_simulate_low_resolutiond(data, keys, allow_missing_keys, kwargs):
    def call():
        transform = SimulateLowResolutiond(keys, allow_missing_keys=allow_missing_keys, **kwargs)
        return transform.set_random_state(0)(data)

    before = dict(data) if isinstance(data, dict) else None
    out = check_contract(
        "SimulateLowResolutiond",
        call,
        mention=(*MENTION, *POOL, "keys", "dictionary"),
        describe=f"keys {keys!r} allow_missing_keys={allow_missing_keys} {kwargs} data "
        + (
            ", ".join(f"{k}: {describe_value(v)}" for k, v in data.items())
            if isinstance(data, dict)
            else describe_value(data)
        ),
    )
    if out is not None:
        assert {k: id(v) for k, v in data.items()} == {k: id(v) for k, v in before.items()}  # the input is unchanged
        key = keys if isinstance(keys, str) else keys[0]
        if key in data:
            assert out["mu"].shape == out["target"].shape and out["mu"].dtype == torch.float32
        else:
            assert out == data


# -------------------------------------------------------------------------- regressions: the crashes fuzzing found


def _raises(call, match: str) -> None:
    with pytest.raises(D3GMInputError, match=match):
        call()


def test_regression_degradations():
    """ZeroDivisionError, OverflowError, IndexError and torch RuntimeErrors (padding, empty FFT) before; plain
    ValueErrors are now the documented D3GMInputError."""
    x = torch.rand(8, 8)
    _raises(lambda: crop_to_multiple(x, 0), "scale must be a positive integer")
    _raises(lambda: crop_to_multiple(torch.zeros(5), 2), "at least 2 dimensions")
    _raises(lambda: kspace_downsample(x, float("nan")), "scale must be a positive integer")
    _raises(lambda: kspace_downsample(x, float("inf")), "scale must be a positive integer")
    _raises(lambda: sinc_upsample(torch.zeros(0, 8), 2), "empty")
    _raises(lambda: bicubic_upsample(torch.zeros(8, 0), 2), "empty")
    _raises(lambda: blur_downsample(x, 2, 3.0), "too small for a Gaussian blur")
    _raises(lambda: blur_downsample(torch.rand(1, 4), 1, 0.5), "too small for a Gaussian blur")
    _raises(lambda: blur_downsample(x, 2, float("inf")), "sigma must be a finite number")
    _raises(lambda: kspace_downsample("image.png", 2), "image must be a numeric array")
    _raises(lambda: kspace_downsample(torch.zeros(30, 32), 4), "multiples of the scale")
    torch.testing.assert_close(blur_downsample(x, 2, 1.0), blur_downsample(x, 2, 1))  # valid input: unchanged


def test_regression_simulate_low_resolution():
    """Complex images were cast to real with a warning, scale 0 raised ZeroDivisionError, sigma inf an OverflowError,
    a string sigma a TypeError, a tiny image with blur a RuntimeError; a missing key raised KeyError."""
    _raises(lambda: SimulateLowResolution(2)(torch.ones(8, 8, dtype=torch.complex64)), "must be real")
    _raises(lambda: SimulateLowResolution(0), "scale must be a positive integer")
    _raises(lambda: SimulateLowResolution(2.5), "scale must be a positive integer")
    _raises(lambda: SimulateLowResolution(2, "blur", sigma=float("inf")), "sigma must be a finite number")
    _raises(lambda: SimulateLowResolution(2, "blur", sigma="ab"), "sigma must be a finite number")
    _raises(lambda: SimulateLowResolution(4, "blur", sigma=1.5)(torch.rand(4, 4)), "too small for a Gaussian blur")
    _raises(lambda: SimulateLowResolution(2)(np.full((8, 8), 1e300)), "float32 range")
    edge = np.zeros((16, 16), np.float32)
    edge[:, :5] = 3.3e38  # Gibbs overshoot past float32's maximum: "contains NaN or Inf" blamed the input before
    _raises(lambda: SimulateLowResolution(4)(edge), "too large to resample")
    _raises(lambda: SimulateLowResolution(2)(None), "image must be a numeric array")
    _raises(lambda: SimulateLowResolutiond("image")({"img": torch.rand(8, 8)}), "key 'image' is missing")
    _raises(lambda: SimulateLowResolutiond([]), "keys must be one key")
    assert SimulateLowResolutiond("image", allow_missing_keys=True)({"x": 1}) == {"x": 1}
