# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of D3GMImageRestorer's input checks: random photos (shapes, dtypes, ranges, NaN/Inf, empty)
give a restored photo or a documented error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.apps.restoration import ImageInputError, TiledRestoration
from monai_d3gm.apps.restoration.restore import D3GMImageRestorer
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreNAFNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from tests.fuzz import arrays, check_contract

torch.manual_seed(0)
NET = ScoreNAFNet(2, 3, width=4, enc_blk_nums=(1,), middle_blk_num=1, dec_blk_nums=(1,)).eval()
RESTORER = D3GMImageRestorer(
    NET,
    D3GMInferer(D3GMScheduler(10, prediction_type="residual"), progress=False),
    TiledRestoration(16, progress=False),
    num_inference_steps=1,
)


@st.composite
def photos(draw) -> tuple[np.ndarray, str]:
    if draw(st.booleans()):
        return draw(arrays(max_ndim=4, max_side=20))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    photo = np.random.default_rng(draw(st.integers(0, 100))).random((3, h, w)).astype(np.float32)
    spoil = draw(st.sampled_from(["none", "nan", "zeros", "ones", "above one", "HWC"]))
    photo = {"nan": photo * np.nan, "zeros": photo * 0, "ones": photo * 0 + 1, "above one": photo * 2}.get(spoil, photo)
    return (photo.transpose(1, 2, 0) if spoil == "HWC" else photo), f"photo 3x{h}x{w} {spoil}"


@given(photo=photos())
def test_restorer_takes_any_photo_or_names_the_problem(photo):
    array, describe = photo
    result = check_contract(
        "D3GMImageRestorer", lambda: RESTORER(array), mention=("image", "photo", "RGB", "shape"), describe=describe
    )
    if result is not None:
        out = result["output"]
        assert out.shape == array.shape and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_regressions_found_by_fuzzing():
    """Photos that once escaped as undocumented errors."""
    with pytest.raises(ImageInputError, match="empty"):  # torch's min() of an empty tensor
        RESTORER(np.zeros((3, 0, 0), np.float32))
