# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the synthetic rain / haze degradations (array and dictionary transforms, and the demo
functions they call).

Random shapes (RGB, grey, RGBA, channel-last, no channel axis, tiny and empty images), dtypes, NaN/Inf, values
outside [0, 1], random parameters, wrong and missing keys: every call returns a degraded image of the clean image's
shape, float32, finite and in [0, 1] (or None when the transform does not fire), or raises ``D3GMInputError`` with a
message that names the argument or key. The regression tests at the end pin the crashes the fuzzing found.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.apps.restoration.transforms import RandSyntheticDegradation, RandSyntheticDegradationd
from monai_d3gm.errors import D3GMInputError
from monai_d3gm.physics.weather import add_haze, add_rain
from tests.fuzz import arrays, check_contract, describe_value, one_bad

JUNK = (None, "photo.png", 3.5, {"a": 1}, [[0.1, 0.2], [0.3]], object())
MENTION = ("clean", "image", "kind", "prob", "density", "length", "angle", "intensity", "seed", "beta", "airlight")


@st.composite
def photos(draw):
    """Mostly clean photos (3 or 1 channels first, any size from 1x1) in [0, 1]; else other layouts (channel-last,
    RGBA, no channel axis, empty), NaN/Inf, values outside [0, 1], random arrays or wrong types."""
    choice = draw(st.sampled_from(["photo"] * 6 + ["array", "junk"]))  # the first is where shrinking goes
    if choice == "array":
        value, _ = draw(arrays(max_ndim=4, max_side=9))
    elif choice == "junk":
        return draw(st.sampled_from(JUNK))
    else:
        h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
        layout = draw(st.sampled_from(["rgb", "rgb", "rgb", "grey", "hwc", "rgba", "hw", "empty"]))
        shape = {
            "rgb": (3, h, w),
            "grey": (1, h, w),
            "hwc": (h, w, 3),
            "rgba": (4, h, w),
            "hw": (h, w),
            "empty": (3, 0, w),
        }[layout]
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        value = rng.random(shape)
        spoil = draw(st.sampled_from(["none", "none", "none", "nan", "inf", "255", "negative", "overshoot"]))
        if value.size and spoil in ("nan", "inf"):
            value.flat[draw(st.integers(0, value.size - 1))] = np.nan if spoil == "nan" else np.inf
        elif spoil == "255":
            value = np.round(value * 255)
        elif spoil == "negative":
            value = value - 0.5
        elif spoil == "overshoot":
            value = value * (1 + 1e-4)  # float round-off of resizing: within the tolerance
        dtype = draw(st.sampled_from(["float32", "float32", "float64", "float16", "uint8", "bool"]))
        with np.errstate(all="ignore"):
            value = value > 0.5 if dtype == "bool" else value.astype(dtype)
    return torch.from_numpy(np.ascontiguousarray(value)) if draw(st.booleans()) else value


def _check_degraded(out, clean) -> None:
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == np.shape(clean)
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@given(
    clean=photos(),
    kind=st.sampled_from(["rain", "haze", "rain", "haze", "rain", "haze", "snow", None]),
    prob=st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, 1.0, 1.5, -0.1, np.nan, "1", None]),
    seed=st.integers(0, 2**31 - 1),
)
def test_rand_synthetic_degradation(clean, kind, prob, seed):
    def call():
        return RandSyntheticDegradation(kind, prob).set_random_state(seed)(clean)

    out = check_contract(
        "RandSyntheticDegradation",
        call,
        mention=MENTION,
        describe=f"{describe_value(clean)} kind {kind!r} prob {prob!r}",
    )
    if out is not None:
        _check_degraded(out, clean)


@given(
    clean=photos(),
    rain=one_bad(
        {
            "density": st.floats(0.0, 0.05),
            "length": st.integers(1, 30),
            "angle": st.floats(-180, 180),
            "intensity": st.floats(0.0, 1.0),
            "seed": st.integers(0, 2**32),
        },
        {
            "density": [-0.1, 2.0, np.nan],
            "length": [0, -3, 2.5, None],
            "angle": [np.nan, np.inf],
            "intensity": [np.inf, "0.5"],
            "seed": [-1, "seed"],
        },
    ),
    haze=one_bad(
        {"beta": st.floats(0.0, 3.0), "airlight": st.floats(0.0, 1.0)},
        {"beta": [-1.0, np.nan, 1e300], "airlight": [np.inf, None]},
    ),
)
def test_add_rain_and_haze(clean, rain, haze):
    describe = describe_value(clean)
    out = check_contract("add_rain", lambda: add_rain(clean, **rain), mention=MENTION, describe=f"{describe} {rain}")
    if out is not None:
        _check_degraded(out, clean)
    out = check_contract("add_haze", lambda: add_haze(clean, **haze), mention=MENTION, describe=f"{describe} {haze}")
    if out is not None:
        _check_degraded(out, clean)


POOL = ("target", "mu", "image", "label")


@st.composite
def dictionaries(draw):
    if draw(st.integers(0, 14)) == 0:
        return draw(st.sampled_from([None, [("target", 1)], "target", np.zeros(3)]))
    return {key: draw(photos()) for key in POOL if draw(st.integers(0, 5))}


@given(
    data=dictionaries(),
    clean_key=st.sampled_from(["target", "target", "target", *POOL, None, ("target",), ["target"]]),
    kind=st.sampled_from(["rain", "haze", "rain", "haze", "fog"]),
    prob=st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, 2.0]),
)
def test_rand_synthetic_degradationd(data, clean_key, kind, prob):
    def call():
        return RandSyntheticDegradationd(clean_key, "mu", kind, prob).set_random_state(0)(data)

    out = check_contract(
        "RandSyntheticDegradationd",
        call,
        mention=(*MENTION, *POOL, "keys", "dictionary"),
        describe=f"clean_key {clean_key!r} kind {kind} prob {prob} data "
        + (
            ", ".join(f"{k}: {describe_value(v)}" for k, v in data.items())
            if isinstance(data, dict)
            else describe_value(data)
        ),
    )
    if out is not None:
        assert set(data) <= set(out)
        if out.get("mu") is not data.get("mu"):  # it fired
            _check_degraded(out["mu"], data[clean_key])


# -------------------------------------------------------------------------- regressions: the crashes fuzzing found


def _raises(call, match: str) -> None:
    with pytest.raises(D3GMInputError, match=match):
        call()


def test_regression_layouts_and_values():
    """A grey (H, W) image came back (1, H, W), channel-last images got streaks across the wrong axes, 8-bit values
    were clipped to a white image, NaN passed through, an empty image raised a torch RuntimeError, a 1-D one a
    ValueError from unpacking, and a string a ValueError from numpy."""
    transform = RandSyntheticDegradation("rain", 1.0)
    rng = np.random.default_rng(0)
    _raises(lambda: transform(rng.random((8, 8))), r"add the channel axis: image\[None\]")
    _raises(lambda: transform(rng.random((8, 8, 3))), "channel-last")
    _raises(lambda: transform(rng.random((4, 8, 8))), "alpha")
    _raises(lambda: transform(np.round(rng.random((3, 8, 8)) * 255)), "divide by 255")
    _raises(lambda: transform(np.full((3, 8, 8), np.nan)), "NaN")
    _raises(lambda: transform(np.zeros((3, 0, 8))), "empty")
    _raises(lambda: transform(np.zeros(8)), "must have shape")
    _raises(lambda: transform("photo.png"), "clean must be a real numeric array")
    _raises(lambda: RandSyntheticDegradation("rain", prob=float("nan")), "prob")
    _raises(lambda: RandSyntheticDegradation("haze", prob=0.0)(np.zeros((3, 0, 8))), "empty")  # checked when idle
    grey = rng.random((1, 8, 8)).astype(np.float32)
    assert transform(grey).shape == (1, 8, 8)  # grey channel-first images keep working


def test_regression_demo_parameters():
    """length 0 raised a numpy ValueError (max of an empty kernel), a negative seed a numpy ValueError."""
    clean = np.full((3, 8, 8), 0.5, np.float32)
    _raises(lambda: add_rain(clean, length=0), "length")
    _raises(lambda: add_rain(clean, seed=-1), "seed")
    _raises(lambda: add_rain(clean, angle=float("nan")), "angle")
    _raises(lambda: add_haze(clean, beta=-1.0), "beta")
    assert add_rain(clean, length=1).shape == (3, 8, 8)


def test_regression_missing_key():
    """A missing clean key raised MONAI's KeyError; an unhashable one a TypeError."""
    _raises(lambda: RandSyntheticDegradationd("target")({"image": np.zeros((3, 4, 4))}), "key 'target' is missing")
    _raises(lambda: RandSyntheticDegradationd(["target"]), "keys must be one key")
    _raises(lambda: RandSyntheticDegradationd("target")(None), "takes a dictionary")
