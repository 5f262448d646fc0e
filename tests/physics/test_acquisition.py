# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Acquisition physics of the training simulation: random coil arrays, measured and added k-space noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from monai_d3gm.apps.reconstruction.transforms import AddKspaceNoise, AddKspaceNoised, SimulateKspace
from monai_d3gm.errors import MRIInputError
from monai_d3gm.physics.acquisition import (
    add_kspace_noise,
    kspace_noise_std,
    random_coil_maps,
    relative_noise_std,
)
from monai_d3gm.physics.fft import fft2c

ESPIRIT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "espirit-brain-8ch-kspace" / "full"


def _phantom(h=96, w=80):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    # smooth (band-limited) like a real object: its k-space corners hold nothing but the noise
    return torch.exp(-((yy / 0.5) ** 2) - (xx / 0.4) ** 2) * (0.6 + 0.4 * torch.cos(6 * yy))


@pytest.mark.parametrize("num_coils", [1, 2, 8, 16])
def test_random_coil_maps_have_unit_rss_and_vary(num_coils):
    maps = random_coil_maps(num_coils, 40, 56, np.random.RandomState(0))
    assert maps.shape == (num_coils, 40, 56) and maps.dtype == torch.complex64
    torch.testing.assert_close(maps.abs().square().sum(0), torch.ones(40, 56), atol=1e-5, rtol=1e-5)
    again = random_coil_maps(num_coils, 40, 56, np.random.RandomState(0))
    other = random_coil_maps(num_coils, 40, 56, np.random.RandomState(1))
    assert torch.equal(maps, again)
    assert not torch.allclose(maps, other)
    if num_coils > 1:  # the coils see different parts of the field of view
        centroids = [(m.abs() * torch.arange(56)).sum() / m.abs().sum() for m in maps]
        assert max(centroids) - min(centroids) > 5


def test_noise_estimate_recovers_added_noise():
    image = _phantom(128, 128)
    maps = random_coil_maps(4, 128, 128, np.random.RandomState(3))
    kspace = fft2c(maps * image)
    for sigma in (0.002, 0.01):
        noisy = add_kspace_noise(kspace, sigma, torch.Generator().manual_seed(0))
        assert kspace_noise_std(noisy) == pytest.approx(sigma, rel=0.1)
    assert kspace_noise_std(kspace) < 1e-4


@pytest.mark.parametrize("relative", [0.004, 0.02])
def test_add_kspace_noise_measures_the_requested_level(relative):
    kspace, _ = SimulateKspace(num_coils=8, phase="smooth", coil_geometry="random")(_phantom(160, 128))
    transform = AddKspaceNoise(relative)
    transform.set_random_state(0)
    noisy, sigma = transform(kspace)
    assert relative_noise_std(noisy) == pytest.approx(relative, rel=0.1)
    assert kspace_noise_std(noisy) == pytest.approx(sigma, rel=0.1)
    # the same seed gives the same noise; another seed other noise
    again = AddKspaceNoise(relative)
    again.set_random_state(0)
    assert torch.equal(again(kspace)[0], noisy)
    again.set_random_state(1)
    assert not torch.equal(again(kspace)[0], noisy)


def test_add_kspace_noise_range_prob_and_dictionary():
    kspace, _ = SimulateKspace(num_coils=2, phase="none")(_phantom())
    transform = AddKspaceNoise((0.002, 0.02))
    transform.set_random_state(0)
    drawn = [transform(kspace)[1] for _ in range(30)]
    peak = float(kspace.abs().max())
    assert len(set(drawn)) == 30 and all(s > 0 for s in drawn) and max(drawn) / min(drawn) > 3
    noisy, sigma = AddKspaceNoise(0.01, prob=0.0)(kspace)
    assert sigma == 0.0 and torch.equal(noisy, kspace)
    d = AddKspaceNoised("kspace", relative_std=0.01)({"kspace": kspace})
    assert d["noise_std"] > 0 and d["kspace"].shape == kspace.shape and peak > 0
    with pytest.raises(MRIInputError, match="relative_std"):
        AddKspaceNoise((0.02, 0.01))
    with pytest.raises(MRIInputError, match="prob"):
        AddKspaceNoise(0.01, prob=2)


def test_simulate_kspace_random_coils_and_counts():
    image = _phantom()
    sim = SimulateKspace(num_coils=[1, 4, 8], coil_geometry="random")
    sim.set_random_state(0)
    counts = set()
    for _ in range(12):
        kspace, maps = sim(image)
        counts.add(kspace.shape[0])
        torch.testing.assert_close(maps.abs().square().sum(0), torch.ones_like(image), atol=1e-5, rtol=1e-5)
    assert counts == {1, 4, 8}
    with pytest.raises(MRIInputError, match="coil_geometry"):
        SimulateKspace(coil_geometry="helmet")
    with pytest.raises(MRIInputError, match="num_coils"):
        SimulateKspace(num_coils=[4, 0])


def test_real_8coil_noise_level():
    """The level the training draws around: the real 8-coil brain's k-space corners hold 0.8 % of its RSS maximum."""
    if not ESPIRIT.with_suffix(".cfl").is_file():
        pytest.skip(f"real data not found at {ESPIRIT} (shared/data is absent)")
    from monai_d3gm.io.bart import kspace_from_cfl

    assert relative_noise_std(torch.as_tensor(kspace_from_cfl(ESPIRIT))) == pytest.approx(0.008, abs=0.001)
