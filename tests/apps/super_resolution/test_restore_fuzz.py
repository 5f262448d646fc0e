# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of D3GMSuperResolver's input checks: random slices (shapes, dtypes, NaN/Inf, empty) and
simulate modes give an HR image or a documented error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.apps.super_resolution.restore import SIMULATE_MODES, D3GMSuperResolver
from monai_d3gm.errors import MRIInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from tests.fuzz import arrays, check_contract

torch.manual_seed(0)
NET = ScoreUNet(image_channels=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4).eval()
RESOLVER = D3GMSuperResolver(
    NET, D3GMInferer(D3GMScheduler(10, prediction_type="residual"), progress=False), scale=2, num_inference_steps=1
)


@st.composite
def slices(draw) -> tuple[np.ndarray, str]:
    if draw(st.booleans()):
        return draw(arrays(max_ndim=4, max_side=20))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    image = np.random.default_rng(draw(st.integers(0, 100))).random((h, w)).astype(np.float32)
    spoil = draw(st.sampled_from(["none", "nan", "zeros", "negative", "constant"]))
    image = {"nan": image * np.nan, "zeros": image * 0, "negative": -image, "constant": image * 0 + 3}.get(spoil, image)
    return image, f"slice {h}x{w} {spoil}"


@given(image=slices(), simulate=st.one_of(st.none(), st.sampled_from([*SIMULATE_MODES, "bicubic", ""])))
def test_super_resolver_takes_any_slice_or_names_the_problem(image, simulate):
    array, describe = image
    case = {"image": array, "path": "fuzzed.nii.gz"}
    if simulate is not None:
        case["simulate"] = simulate
    result = check_contract(
        "D3GMSuperResolver",
        lambda: RESOLVER(case),
        mention=("fuzzed", "simulate", "image"),
        describe=f"{describe}, simulate {simulate!r}",
    )
    if result is not None:
        assert result["output"].ndim == 2 and torch.isfinite(result["output"]).all()
        # a perfect match scores PSNR inf (a constant slice is restored exactly by sinc), but never NaN
        assert not any(np.isnan(list(m.values())).any() for m in result["metrics"].values())


def test_regressions_found_by_fuzzing():
    """Slices that once escaped as undocumented errors."""
    with pytest.raises(MRIInputError, match="complex"):
        RESOLVER({"image": np.ones((8, 8), np.complex64), "path": "c.nii"})
