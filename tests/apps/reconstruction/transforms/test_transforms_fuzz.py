# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the MRI reconstruction transforms, array and dictionary variants.

Random shapes, dtypes, NaN/Inf, huge values, wrong types (None, strings, lists), wrong and missing keys: every call
returns outputs of the documented shape and dtype (finite for finite inputs) or raises ``MRIInputError`` with a
message that names the argument or key. The regression tests at the end pin the crashes the fuzzing found.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_d3gm.apps.reconstruction import MRIInputError
from monai_d3gm.apps.reconstruction.transforms import (
    ChannelsToComplex,
    ChannelsToComplexd,
    ComplexToChannels,
    ComplexToChannelsd,
    EstimateCoilMaps,
    LoadMRISliced,
    NormalizeByMax,
    NormalizeByMaxd,
    ScaleBackd,
    SenseAdjoint,
    SenseAdjointd,
    SimulateKspace,
    SimulateKspaced,
    UndersampleKspace,
    UndersampleKspaced,
    as_kspace,
)
from monai_d3gm.physics.masks import CartesianMask
from tests.fuzz import FUZZ_DTYPES, all_finite, arrays, check_contract, describe_value, one_bad

#: values of the wrong type for an array argument
JUNK = (None, "kspace.h5", b"\x00\x01", 3.5, 7, {"a": 1}, [[1.0, 2.0], [3.0]], ["a", "b"], object())
#: ESPIRiT is slow: fewer examples than the profile for the tests that run it
FEW = max(6, settings.default.max_examples // 4)


@st.composite
def any_array(draw, max_ndim: int = 4, max_side: int = 9):
    """A random array from ``tests.fuzz.arrays`` (any rank, dtype, NaN/Inf/huge), as numpy or torch."""
    value, _ = draw(arrays(max_ndim=max_ndim, max_side=max_side, dtypes=(*FUZZ_DTYPES, "uint16")))
    if draw(st.booleans()):
        value = torch.from_numpy(np.ascontiguousarray(value))
    return value


@st.composite
def grid_array(draw, shape: tuple[int, ...], complex_: bool, poison: bool = True):
    """An array of a valid ``shape``: moderate to huge values, sometimes one NaN/Inf, numpy or torch."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    x = x * draw(st.sampled_from([1.0, 1.0, 1e-3, 1e3, 1e-30, 1e30, 1e37, 1e300]))
    if poison and x.size and draw(st.integers(0, 4)) == 0:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    dtype = draw(st.sampled_from(["complex64", "complex128"] if complex_ else ["float32", "float64", "float16"]))
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
    return torch.from_numpy(x) if draw(st.booleans()) else x


@st.composite
def kspaces(draw, max_coils: int = 4, max_side: int = 16):
    """Mostly valid k-space (C, H, W) or (H, W); else a random array or a value of the wrong type."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(any_array())
    if choice == 1:
        return draw(st.sampled_from(JUNK))
    c, h, w = draw(st.integers(1, max_coils)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    shape = (h, w) if c == 1 and draw(st.booleans()) else (c, h, w)
    return draw(grid_array(shape, complex_=True))


@st.composite
def images(draw, max_side: int = 16):
    """Mostly valid real or complex slices (H, W) / (1, H, W); else a random array or a wrong type."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(any_array())
    if choice == 1:
        return draw(st.sampled_from(JUNK))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    shape = (1, h, w) if draw(st.booleans()) else (h, w)
    return draw(grid_array(shape, complex_=choice == 2))


def _hw(value) -> tuple[int, int]:
    return tuple(np.shape(value)[-2:])


# ------------------------------------------------------------------------------------------------ array transforms


@given(kspace=kspaces())
def test_as_kspace(kspace):
    out = check_contract("as_kspace", lambda: as_kspace(kspace), mention=("kspace",), describe=describe_value(kspace))
    if out is not None:
        assert out.dtype == torch.complex64 and out.ndim == 3 and out.numel() > 0 and all_finite(out)
        assert out.shape[-2:] == _hw(kspace)


@given(
    image=images(),
    kwargs=one_bad(
        {"num_coils": st.integers(1, 4), "phase": st.sampled_from(["none", "smooth"]), "max_phase": st.just(1.5)},
        {
            "num_coils": [0, -1, 2.5, "2", None, True],
            "phase": ["random", None, 1],
            "max_phase": [np.nan, np.inf, "pi", None],
        },
    ),
    seed=st.integers(0, 2**31 - 1),
)
def test_simulate_kspace(image, kwargs, seed):
    def call():
        transform = SimulateKspace(**kwargs)
        transform.set_random_state(seed)
        return transform(image)

    out = check_contract(
        "SimulateKspace",
        call,
        mention=("image", "num_coils", "phase"),
        describe=f"{describe_value(image)} {kwargs}",
    )
    if out is not None:
        kspace, maps = out
        assert kspace.shape == maps.shape == (kwargs["num_coils"], *_hw(image))
        assert kspace.dtype == maps.dtype == torch.complex64
        assert all_finite(kspace) and all_finite(maps)


@st.composite
def masks_for(draw, kspace):
    """A mask argument for ``kspace``: None (the acquired mask), a generator, a fixed 0/1 mask of the right shape,
    a random array or a wrong type."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return None
    if choice == 1:
        kwargs = draw(
            one_bad(
                {
                    "kind": st.sampled_from(["random", "equispaced"]),
                    "acceleration": st.sampled_from([1, 2, 3, 4.5]),
                    "center_fraction": st.sampled_from([0.0, 0.1, 0.2]),
                    "direction": st.sampled_from(["phase", "frequency"]),
                },
                {"acceleration": [8, 40], "center_fraction": [0.3, 0.49]},
            )
        )
        return ("CartesianMask", kwargs)  # built inside the call: its arguments are fuzzed too
    if choice == 2 and isinstance(kspace, (np.ndarray, torch.Tensor)) and np.ndim(kspace) >= 2:
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        mask = (rng.random(_hw(kspace)) > 0.5).astype(draw(st.sampled_from(["float32", "bool", "uint8", "float64"])))
        if draw(st.booleans()) and mask.size:
            mask = mask.astype(np.float32)
            mask.flat[0] = draw(st.sampled_from([np.nan, 0.5, -1.0, 2.0]))
        return mask
    if choice == 3:
        return draw(st.sampled_from(JUNK))
    return draw(any_array())


@given(data=st.data(), kspace=kspaces(), seed=st.integers(0, 2**31 - 1))
def test_undersample_kspace(data, kspace, seed):
    mask = data.draw(masks_for(kspace))

    def call():
        source = CartesianMask(**mask[1]) if isinstance(mask, tuple) else mask
        return UndersampleKspace(source).set_random_state(seed)(kspace)

    out = check_contract(
        "UndersampleKspace",
        call,
        mention=("kspace", "k-space", "mask", "lines", "center_fraction", "acceleration"),
        describe=f"kspace {describe_value(kspace)}, mask {describe_value(mask)}",
    )
    if out is not None:
        masked, m = out
        assert masked.dtype == torch.complex64 and masked.ndim == 3 and masked.shape[-2:] == _hw(kspace)
        assert m.dtype == torch.float32 and m.shape == masked.shape[-2:]
        assert all_finite(masked) and bool(((m == 0) | (m == 1)).all())


@st.composite
def multicoil_kspace(draw):
    """Small multi-coil k-space of a smooth object, sometimes with zeroed columns (undersampled)."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(kspaces(max_side=12))
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 16)), draw(st.integers(1, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    phase = np.exp(1j * (rng.random((c, 1, 1)) * 2 * np.pi + yy * rng.random((c, 1, 1))))
    image = np.exp(-(yy**2 + xx**2) * 3) * phase
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    k = k * draw(st.sampled_from([1.0, 1e-6, 1e6]))
    if draw(st.booleans()):
        k[..., rng.random(w) < 0.5] = 0
    return k.astype(np.complex64)


@settings(max_examples=FEW)
@given(
    kspace=multicoil_kspace(),
    kwargs=one_bad(
        {
            "calib_width": st.sampled_from([4, 8, 24]),
            "thresh": st.sampled_from([0.0, 0.02, 0.5]),
            "crop": st.sampled_from([0.0, 0.8, 0.95]),
            "absorb_phase": st.booleans(),
        },
        {
            "calib_width": [0, -3, 2.5, "24", None],
            "thresh": [np.nan, -1.0, 2.0, "0.02"],
            "crop": [np.nan, 1.5, -0.1, None],
        },
    ),
)
def test_estimate_coil_maps(kspace, kwargs):
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the low-resolution fallback warns for small calibration regions
            return EstimateCoilMaps(**kwargs)(kspace)

    maps = check_contract(
        "EstimateCoilMaps",
        call,
        mention=("kspace", "calib_width", "thresh", "crop"),
        describe=f"{describe_value(kspace)} {kwargs}",
    )
    if maps is not None:
        assert maps.dtype == torch.complex64 and maps.shape == as_kspace(kspace).shape and all_finite(maps)


@st.composite
def maps_for(draw, kspace):
    """Coil maps for ``kspace``: None, maps of its shape (complex or real, sometimes NaN), another shape, junk."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return None
    if choice in (1, 2) and isinstance(kspace, (np.ndarray, torch.Tensor)) and np.ndim(kspace) in (2, 3):
        shape = tuple(np.shape(kspace)) if np.ndim(kspace) == 3 else (1, *np.shape(kspace))
        return draw(grid_array(shape, complex_=choice == 1))
    if choice == 3:
        return draw(st.sampled_from(JUNK))
    return draw(any_array())


@given(data=st.data(), kspace=kspaces())
def test_sense_adjoint(data, kspace):
    maps = data.draw(maps_for(kspace))
    image = check_contract(
        "SenseAdjoint",
        lambda: SenseAdjoint()(kspace, maps),
        mention=("kspace", "k-space", "maps"),
        describe=f"kspace {describe_value(kspace)}, maps {describe_value(maps)}",
    )
    if image is not None:
        assert image.dtype == torch.complex64 and image.shape == _hw(kspace)
        if all_finite(maps if maps is not None else 0.0):
            assert all_finite(image)


@given(image=images(), reference=st.one_of(st.none(), images()))
def test_normalize_by_max(image, reference):
    out = check_contract(
        "NormalizeByMax",
        lambda: NormalizeByMax()(image, reference),
        mention=("image", "reference"),
        describe=f"image {describe_value(image)}, reference {describe_value(reference)}",
    )
    if out is not None:
        normalised, scale = out
        assert isinstance(scale, float) and np.isfinite(scale) and scale > 0
        assert normalised.shape == np.shape(image)
        assert normalised.is_floating_point() or normalised.is_complex()
        if all_finite(image):
            assert all_finite(normalised)
        if reference is None:
            assert float(normalised.abs().max()) <= 1 + 1e-3


@given(image=images())
def test_complex_to_channels(image):
    out = check_contract(
        "ComplexToChannels", lambda: ComplexToChannels()(image), mention=("image",), describe=describe_value(image)
    )
    if out is not None:
        assert out.dtype == torch.float32 and out.shape == (2, *_hw(image))
        if all_finite(image):
            assert all_finite(out)


@st.composite
def channel_images(draw):
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(any_array())
    if choice == 1:
        return draw(st.sampled_from(JUNK))
    return draw(grid_array((2, draw(st.integers(0, 12)), draw(st.integers(0, 12))), complex_=False))


@given(image=channel_images())
def test_channels_to_complex(image):
    out = check_contract(
        "ChannelsToComplex",
        lambda: ChannelsToComplex()(image),
        mention=("image", "channels", "(2, H, W)"),
        describe=describe_value(image),
    )
    if out is not None:
        assert out.is_complex() and out.shape == _hw(image)


# ------------------------------------------------------------------------------------------- dictionary transforms

POOL = ("image", "kspace", "kspace_full", "mu", "target", "maps", "mask", "scale", "path", "other")
WRONG_KEYS = ([], (), [["image"]], [{"a"}])


@st.composite
def key_choice(draw, default):
    """The transform's keys: its usual key(s), other names from the pool, or (rarely) an invalid keys argument."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.sampled_from(WRONG_KEYS))
    if choice <= 2:
        return draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True))
    return default


@st.composite
def dictionaries(draw, valid: dict):
    """A data dictionary: each pool key absent, a valid value (from ``valid``), a random array or junk; sometimes not
    a dictionary at all."""
    if draw(st.integers(0, 14)) == 0:
        return draw(st.sampled_from([None, [("image", 1)], "image", np.zeros(3)]))
    data = {}
    for key in POOL:
        choice = draw(st.integers(0, 9))
        if choice < 3:
            continue
        if choice < 8 and key in valid:
            data[key] = draw(valid[key])
        elif choice == 8:
            data[key] = draw(any_array())
        else:
            data[key] = draw(st.sampled_from(JUNK))
    return data


def _valid_values():
    """Valid values of the pool keys (one 8x8 slice, 2 coils)."""
    complex_image = grid_array((8, 8), complex_=True, poison=False)
    return {
        "image": grid_array((8, 8), complex_=False),
        "kspace": grid_array((2, 8, 8), complex_=True),
        "kspace_full": grid_array((2, 8, 8), complex_=True, poison=False),
        "mu": complex_image,
        "target": st.one_of(complex_image, grid_array((2, 8, 8), complex_=False, poison=False)),
        "maps": grid_array((2, 8, 8), complex_=True),
        "mask": st.just(np.tile(np.array([1, 0], np.float32), (8, 4))),
        "scale": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([2.0, 0.5])),
    }


DICT_TRANSFORMS = {
    "SimulateKspaced": (lambda keys, amk: SimulateKspaced(keys, num_coils=2, allow_missing_keys=amk), "image"),
    "UndersampleKspaced": (
        lambda keys, amk: UndersampleKspaced(keys, mask=None, full_key="kspace_full", allow_missing_keys=amk),
        "kspace",
    ),
    "UndersampleKspaced(mask)": (
        lambda keys, amk: UndersampleKspaced(keys, mask=CartesianMask("random", 2, 0.25), allow_missing_keys=amk),
        "kspace",
    ),
    "SenseAdjointd": (
        lambda keys, amk: SenseAdjointd(keys, output_keys=["mu", "target"][: len(keys)], allow_missing_keys=amk),
        ["kspace", "kspace_full"],
    ),
    "NormalizeByMaxd": (lambda keys, amk: NormalizeByMaxd(keys, allow_missing_keys=amk), ["mu", "target", "kspace"]),
    "ComplexToChannelsd": (lambda keys, amk: ComplexToChannelsd(keys, allow_missing_keys=amk), ["mu", "target"]),
    "ChannelsToComplexd": (lambda keys, amk: ChannelsToComplexd(keys, allow_missing_keys=amk), "target"),
    "ScaleBackd": (lambda keys, amk: ScaleBackd(keys, allow_missing_keys=amk), "target"),
    "LoadMRISliced": (lambda keys, amk: LoadMRISliced(keys, allow_missing_keys=amk), "path"),
}
#: what a refusal of a dictionary transform may name: a key, or the argument of the array transform it wraps
DICT_MENTION = (*POOL, "keys", "data", "dictionary", "k-space", "coil", "reference", "channels", "(2, H, W)")


@pytest.mark.parametrize("name", sorted(DICT_TRANSFORMS))
@given(data=st.data(), allow_missing_keys=st.booleans())
def test_dictionary_transforms(name, data, allow_missing_keys):
    factory, default = DICT_TRANSFORMS[name]
    keys = data.draw(key_choice(default), label="keys")
    if isinstance(keys, list) and name == "SenseAdjointd" and len(keys) > 2:
        keys = keys[:2]
    values = _valid_values()
    d = data.draw(dictionaries(values), label="data")
    if name == "LoadMRISliced" and isinstance(d, dict):
        # reading files is fuzzed by the readers' tests: here only missing keys and non-dictionaries
        for key in keys if isinstance(keys, (list, tuple)) else [keys]:
            if isinstance(key, str):
                d.pop(key, None)
    before = dict(d) if isinstance(d, dict) else None

    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transform = factory(keys, allow_missing_keys)
            if hasattr(transform, "set_random_state"):
                transform.set_random_state(0)
            return transform(d)

    out = check_contract(
        name.split("(")[0],
        call,
        mention=DICT_MENTION,
        describe=f"keys {keys!r}, allow_missing_keys={allow_missing_keys}, data "
        + (", ".join(f"{k}: {describe_value(v)}" for k, v in d.items()) if isinstance(d, dict) else describe_value(d)),
    )
    if out is not None:
        assert isinstance(out, dict) and set(before) <= set(out)
        assert {k: id(v) for k, v in d.items()} == {k: id(v) for k, v in before.items()}  # the input is not changed
        inputs_finite = all(all_finite(v) for v in before.values() if isinstance(v, (np.ndarray, torch.Tensor, float)))
        for key, value in out.items():
            if isinstance(value, torch.Tensor) and value is not before.get(key) and inputs_finite:
                assert all_finite(value), f"{key} is not finite although every input is"


# -------------------------------------------------------------------------- regressions: the crashes fuzzing found


def test_regression_undocumented_errors_of_the_array_transforms():
    """Each input crashed with a TypeError / RuntimeError / NotImplementedError / ZeroDivisionError before."""
    k = torch.ones(2, 4, 4, dtype=torch.complex64)
    cases = [
        (lambda: as_kspace(None), "kspace must be a numeric array"),
        (lambda: as_kspace(np.zeros((1, 0, 4), np.complex64)), "empty"),
        (lambda: as_kspace(np.full((4, 4), 1e300 + 0j)), "beyond the complex64 range"),
        (lambda: SimulateKspace()(np.zeros((0, 4))), "non-empty 2-D slice"),
        (lambda: SimulateKspace()("image.nii"), "image must be a numeric array"),
        (lambda: SimulateKspace(num_coils=2.5), "num_coils"),
        (lambda: SimulateKspace(max_phase=np.nan), "max_phase"),
        (lambda: SimulateKspace(phase="none")(np.full((4, 4), 3e38, np.float32)), "overflows"),
        (lambda: UndersampleKspace(np.full((4, 4), np.nan))(k), "0/1"),
        (lambda: UndersampleKspace("mask.npy")(k), "mask must be a numeric array"),
        (lambda: UndersampleKspace(CartesianMask("equispaced", 1e300, 0.0))(k), "acceleration"),
        (lambda: EstimateCoilMaps(calib_width="24"), "calib_width"),
        (lambda: SenseAdjoint()(k, torch.full((2, 4, 4), np.nan, dtype=torch.complex64)), "NaN"),
        (lambda: SenseAdjoint()(k, "maps.npy"), "maps must be a numeric array"),
        (lambda: NormalizeByMax()(torch.zeros(0)), "empty"),
        (lambda: NormalizeByMax()(torch.ones(3), torch.full((3,), 1e-45)), "overflows"),
        (lambda: ComplexToChannels()(np.ones((3, 4, 4), np.complex64)), "(H, W) or (1, H, W)"),
        (lambda: ComplexToChannels()(np.full((4, 4), 1e300)), "overflows"),
        (lambda: ChannelsToComplex()(torch.zeros(2, 4, 4, dtype=torch.bfloat16)), "x.float()"),
    ]
    for call, match in cases:
        with pytest.raises(MRIInputError, match=match.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_regression_bool_and_uint16_images_normalise():
    """abs() of a bool / uint16 tensor raised NotImplementedError; they normalise like their float values."""
    out, scale = NormalizeByMax()(torch.tensor([True, False]))
    assert scale == 1.0 and out.tolist() == [1.0, 0.0]
    out, scale = NormalizeByMax()(np.array([2, 4], np.uint16))
    assert scale == 4.0 and out.tolist() == [0.5, 1.0]


def test_regression_missing_keys_are_documented():
    """A missing key raised MONAI's KeyError; it is an MRIInputError naming the key and the keys present."""
    with pytest.raises(MRIInputError, match=r"key 'image' is missing from the data \(keys present: 'img'\)"):
        SimulateKspaced("image")({"img": np.ones((4, 4))})
    with pytest.raises(MRIInputError, match=r"key 'mu' is missing.*keys present: 'target'"):
        NormalizeByMaxd(["target"], reference_key="mu", allow_missing_keys=True)({"target": torch.ones(2)})
    with pytest.raises(MRIInputError, match="key 'scale' is missing"):
        ScaleBackd("target")({"target": torch.ones(2)})
    with pytest.raises(MRIInputError, match="key 'path' is missing"):
        LoadMRISliced()({"image": "a.nii"})
    with pytest.raises(MRIInputError, match="takes a dictionary"):
        ComplexToChannelsd("mu")(None)
    with pytest.raises(MRIInputError, match="keys must be one key or a non-empty sequence"):
        ComplexToChannelsd([])
    with pytest.raises(MRIInputError, match="output_keys"):
        SenseAdjointd(["kspace", "kspace_full"], output_keys="mu")
    with pytest.raises(MRIInputError, match=r"data\['scale'\] \(the scale\) must be a numeric array"):
        ScaleBackd("target")({"target": torch.ones(2), "scale": None})
    with pytest.raises(MRIInputError, match="one finite real number"):
        ScaleBackd("target")({"target": torch.ones(2), "scale": float("nan")})
    with pytest.raises(MRIInputError, match=r"scaling data\['target'\] back overflows"):  # was a silent inf
        ScaleBackd("target")({"target": torch.full((2,), 1e30), "scale": 1e30})
    with pytest.raises(MRIInputError, match=r"dividing data\['kspace'\] by 1e-30 overflows"):  # was a silent inf
        NormalizeByMaxd(["kspace"])({"mu": torch.full((2,), 1e-30), "kspace": torch.full((2,), 1e30)})
    assert ComplexToChannelsd("mu", allow_missing_keys=True)({"x": 1}) == {"x": 1}
