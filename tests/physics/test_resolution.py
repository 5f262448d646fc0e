# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Degradations and resamplers: exact Fourier identities, grid alignment, the transforms."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.apps.super_resolution.transforms import SimulateLowResolution, SimulateLowResolutiond
from monai_d3gm.physics.resolution import (
    bicubic_upsample,
    blur_downsample,
    crop_to_multiple,
    kspace_downsample,
    lowpass,
    sinc_upsample,
)


def _blob(h: int = 128, w: int = 96, cy: float = 60.3, cx: float = 41.7, width: float = 9.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))


def _centre(image: torch.Tensor) -> tuple[float, float]:
    h, w = image.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=image.dtype), torch.arange(w, dtype=image.dtype), indexing="ij")
    return float((image * yy).sum() / image.sum()), float((image * xx).sum() / image.sum())


@pytest.mark.parametrize("shape", [(64, 48), (60, 44), (2, 3, 32, 36)])
def test_kspace_down_of_sinc_up_is_identity_and_lowpass_is_a_projection(shape):
    torch.manual_seed(0)
    x = torch.rand(*shape, dtype=torch.float64)
    lr = kspace_downsample(x, 4)
    assert lr.shape == (*shape[:-2], shape[-2] // 4, shape[-1] // 4)
    torch.testing.assert_close(kspace_downsample(sinc_upsample(lr, 4), 4), lr, atol=1e-12, rtol=0)
    lp = lowpass(x, 4)
    torch.testing.assert_close(lowpass(lp, 4), lp, atol=1e-12, rtol=0)
    assert not torch.allclose(lp, x)


def test_intensities_are_preserved():
    c = torch.full((32, 40), 3.0)
    torch.testing.assert_close(kspace_downsample(c, 4), torch.full((8, 10), 3.0))
    torch.testing.assert_close(blur_downsample(c, 4, 1.5), torch.full((8, 10), 3.0))
    torch.testing.assert_close(sinc_upsample(torch.full((8, 10), 3.0), 4), c)
    torch.testing.assert_close(bicubic_upsample(torch.full((8, 10), 3.0), 4), c)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_all_resamplers_share_one_grid(scale):
    """LR pixel m is centred on HR coordinate s m + (s - 1) / 2: a blob keeps its centre through every path."""
    x = _blob()
    x = crop_to_multiple(x, scale)
    cy, cx = _centre(x)
    for hr in (
        sinc_upsample(kspace_downsample(x, scale), scale),
        bicubic_upsample(blur_downsample(x, scale, 1.0), scale),
        sinc_upsample(blur_downsample(x, scale, 0.0), scale),
    ):
        y, z = _centre(hr)
        assert abs(y - cy) < 0.02 and abs(z - cx) < 0.02
    lr = kspace_downsample(x, scale)
    ly, lx = _centre(lr)
    assert abs(scale * ly + (scale - 1) / 2 - cy) < 0.02 and abs(scale * lx + (scale - 1) / 2 - cx) < 0.02


def test_sinc_of_a_band_limited_image_is_exact():
    x = lowpass(torch.rand(64, 64, dtype=torch.float64), 4)
    torch.testing.assert_close(sinc_upsample(kspace_downsample(x, 4), 4), x, atol=1e-12, rtol=0)
    assert (bicubic_upsample(kspace_downsample(x, 4), 4) - x).abs().max() > 1e-3  # bicubic is not


def test_bad_inputs():
    with pytest.raises(ValueError, match="multiples of the scale"):
        kspace_downsample(torch.zeros(30, 32), 4)
    with pytest.raises(ValueError, match="NaN or Inf"):
        sinc_upsample(torch.full((4, 4), float("nan")), 4)
    with pytest.raises(ValueError, match="must be real"):
        sinc_upsample(torch.zeros(4, 4, dtype=torch.complex64), 4)
    with pytest.raises(ValueError, match="positive integer"):
        sinc_upsample(torch.zeros(4, 4), 1.5)
    with pytest.raises(ValueError, match="smaller than the scale"):
        crop_to_multiple(torch.zeros(3, 8), 4)


def test_simulate_low_resolution_transforms():
    x = torch.rand(70, 53)
    mu, target = SimulateLowResolution(4, "kspace")(x)
    assert mu.shape == target.shape == (1, 68, 52)
    torch.testing.assert_close(mu, lowpass(target, 4).float(), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="degradation"):
        SimulateLowResolution(4, "bicubic")
    with pytest.raises(ValueError, match="2-D slice"):
        SimulateLowResolution(4)(torch.zeros(2, 8, 8))
    a = SimulateLowResolutiond("image", 4, "blur", sigma=(0.5, 2.5)).set_random_state(3)
    b = SimulateLowResolutiond("image", 4, "blur", sigma=(0.5, 2.5)).set_random_state(3)
    out_a, out_b = a({"image": x}), b({"image": x})
    torch.testing.assert_close(out_a["mu"], out_b["mu"])  # seeded: the same blur
    assert not torch.allclose(a({"image": x})["mu"], out_a["mu"])  # the next call draws another sigma
    torch.testing.assert_close(out_a["target"], target)
