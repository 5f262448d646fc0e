# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Centred orthonormal FFTs and complex <-> channel conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t

from monai_d3gm.errors import MRIInputError
from monai_d3gm.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c

SHAPES = [(2, 3, 16, 16), (1, 1, 15, 9), (4, 7, 10), (8, 5)]


def _randc(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


@pytest.mark.parametrize("shape", SHAPES)
def test_round_trips(shape):
    x = _randc(*shape)
    torch.testing.assert_close(ifft2c(fft2c(x)), x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fft2c(ifft2c(x)), x, atol=1e-5, rtol=1e-5)
    assert fft2c(x).dtype == torch.complex64 and fft2c(x).shape == x.shape


@pytest.mark.parametrize("shape", SHAPES)
def test_parseval_and_adjoint(shape):
    x, y = _randc(*shape, seed=1), _randc(*shape, seed=2)
    torch.testing.assert_close(torch.linalg.vector_norm(fft2c(x)), torch.linalg.vector_norm(x), rtol=1e-5, atol=0)
    # <F x, y> = <x, F^H y>: ifft2c is the adjoint
    torch.testing.assert_close(
        torch.vdot(fft2c(x).flatten(), y.flatten()), torch.vdot(x.flatten(), ifft2c(y).flatten())
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_monai_fastmri_port(shape):
    x = _randc(*shape, seed=3)
    k_monai = torch.view_as_complex(fftn_centered_t(torch.view_as_real(x), spatial_dims=2, is_complex=True))
    torch.testing.assert_close(fft2c(x), k_monai, atol=1e-5, rtol=1e-5)
    x_monai = torch.view_as_complex(ifftn_centered_t(torch.view_as_real(x), spatial_dims=2, is_complex=True))
    torch.testing.assert_close(ifft2c(x), x_monai, atol=1e-5, rtol=1e-5)


def test_matches_numpy_reference():
    x = _randc(3, 11, 8, seed=4)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy(), axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    np.testing.assert_allclose(fft2c(x).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("hw", [(16, 16), (15, 9), (7, 12)])
def test_constant_image_has_dc_at_centre(hw):
    h, w = hw
    k = fft2c(torch.ones(h, w, dtype=torch.complex64))
    assert torch.argmax(k.abs()).item() == (h // 2) * w + w // 2
    torch.testing.assert_close(k[h // 2, w // 2], torch.tensor(np.sqrt(h * w), dtype=torch.complex64))
    k[h // 2, w // 2] = 0
    assert k.abs().max() < 1e-4


def test_channels_round_trip_and_order():
    x = _randc(2, 3, 4, 5, seed=5)
    ch = complex_to_channels(x)
    assert ch.shape == (2, 6, 4, 5) and ch.dtype == torch.float32
    torch.testing.assert_close(ch[:, :3], x.real)
    torch.testing.assert_close(ch[:, 3:], x.imag)
    torch.testing.assert_close(channels_to_complex(ch), x)
    one = complex_to_channels(x[:, :1])
    torch.testing.assert_close(one, torch.cat([x[:, :1].real, x[:, :1].imag], 1))  # (real, imag) for C = 1


def test_errors():
    with pytest.raises(MRIInputError, match="even channel count"):
        channels_to_complex(torch.zeros(1, 3, 4, 4))
    with pytest.raises(MRIInputError, match="real floating"):
        channels_to_complex(torch.zeros(1, 2, 4, 4, dtype=torch.complex64))
    with pytest.raises(MRIInputError, match="complex tensor"):
        complex_to_channels(torch.zeros(1, 2, 4, 4))
    with pytest.raises(MRIInputError, match="complex tensor"):
        fft2c(torch.zeros(4, 4))
    with pytest.raises(MRIInputError, match="complex tensor"):
        ifft2c(torch.zeros(4, 4))
