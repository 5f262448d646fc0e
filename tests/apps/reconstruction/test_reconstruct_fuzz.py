# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of D3GMReconstructor's input checks: random cases (k-space, image, mask, coil maps of random
shapes, dtypes and values, missing keys) give a reconstruction or a documented error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.apps.reconstruction.reconstruct import DC_MODES, D3GMReconstructor
from monai_d3gm.errors import D3GMInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.masks import CartesianMask
from tests.fuzz import arrays, check_contract

torch.manual_seed(0)
NET = ScoreUNet(image_channels=2, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4).eval()
KEYS = ("kspace", "image", "mask", "maps", "reference")


def _reconstructor(dc: str, mask: bool) -> D3GMReconstructor:
    inferer = D3GMInferer(D3GMScheduler(10, prediction_type="residual"), progress=False)
    return D3GMReconstructor(
        NET,
        inferer,
        mask=CartesianMask("random", 4, 0.16) if mask else None,
        data_consistency=dc,
        num_inference_steps=2,
        calib_width=6,
    )


@st.composite
def cases(draw) -> tuple[dict, str]:
    """A well-formed k-space or image slice (or none), then keys replaced by random arrays or by arrays of the
    matching shape with random content (a mask of zeros, NaN coil maps...)."""
    side = st.sampled_from([16, 17, 24, 8, 5])
    h, w, coils = draw(side), draw(side), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 100)))
    k = (rng.standard_normal((coils, h, w)) + 1j * rng.standard_normal((coils, h, w))).astype(np.complex64)
    base = draw(st.sampled_from(["kspace", "image", "none"]))
    case, parts = {"path": "fuzzed"}, [f"{base} {coils}x{h}x{w}"]
    if base == "kspace":
        case["kspace"] = k
    elif base == "image":
        case["image"] = np.abs(np.fft.ifft2(k[0])).astype(np.float32)
    matching = {
        "kspace": k,
        "image": np.abs(k[0]),
        "mask": (rng.random((h, w)) > 0.5).astype(np.float32),
        "maps": k / np.sqrt((np.abs(k) ** 2).sum(0, keepdims=True)),
        "reference": np.abs(k[0]),
    }
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3)):
        if draw(st.booleans()):
            value, describe = draw(arrays(max_ndim=4, max_side=12))
        else:
            value = matching[key].copy()
            spoil = draw(st.sampled_from(["none", "nan", "zeros", "transpose"]))
            value = {"nan": value * np.nan, "zeros": value * 0, "transpose": value.swapaxes(-1, -2)}.get(spoil, value)
            describe = f"matching shape, {spoil}"
        case[key] = value
        parts.append(f"{key}: {describe}")
    return case, "; ".join(parts)


@given(case=cases(), dc=st.sampled_from(DC_MODES), mask=st.booleans())
def test_reconstructor_takes_any_case_or_names_the_problem(case, dc, mask):
    data, describe = case
    result = check_contract(
        "D3GMReconstructor",
        lambda: _reconstructor(dc, mask)(data),
        mention=(*KEYS, "k-space", "mask", "coil", "shape", "calibration", "empty", "NaN", "complex", "pixels"),
        describe=f"{describe}; dc {dc}; mask {mask}",
    )
    if result is not None:
        assert result["magnitude"].ndim == 2 and torch.isfinite(result["magnitude"]).all()


def test_regressions_found_by_fuzzing():
    """Cases that once escaped as undocumented errors."""
    recon = _reconstructor("hard", mask=True)
    with pytest.raises(D3GMInputError):
        recon({"kspace": np.ones((2, 8, 8), np.complex64), "maps": np.ones((3, 8, 8), np.complex64)})
