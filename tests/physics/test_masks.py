# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Cartesian (fastMRI-style), fixed-file and Poisson-disc undersampling masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.errors import MRIInputError
from monai_d3gm.physics.masks import (
    CartesianMask,
    acceleration_of,
    center_fraction_of,
    load_mask,
    parse_mask_name,
    poisson_mask,
)
from tests.utils import shared_data

PROTOCOLS = [(2, 0.16), (4, 0.08), (8, 0.04), (16, 0.02)]


@pytest.mark.parametrize("acc, cf", PROTOCOLS)
@pytest.mark.parametrize("n", [180, 320, 231])
def test_random_hits_acceleration_on_average(acc, cf, n):
    """fastMRI's random mask hits n / acc lines in expectation; the mean sampled fraction over 200 seeds must be
    within 4 % (relative) of 1 / acc (its standard error is < 1.5 %)."""
    gen = CartesianMask("random", acc, cf)
    fractions = [float(gen((4, n), seed=s)[0].mean()) for s in range(200)]
    assert abs(np.mean(fractions) * acc - 1) < 0.04


@pytest.mark.parametrize("acc, cf", PROTOCOLS)
@pytest.mark.parametrize("n", [180, 320, 231])
def test_equispaced_hits_acceleration_per_draw(acc, cf, n):
    """The adjusted spacing makes every equispaced draw keep n / acc lines up to 2 lines (rounding of the spacing and
    lines that fall into the centre)."""
    gen = CartesianMask("equispaced", acc, cf)
    for s in range(20):
        kept = float(gen((3, n), seed=s)[0].sum())
        assert abs(kept - n / acc) <= 2, (s, kept, n / acc)


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("acc, cf", PROTOCOLS)
def test_centre_fully_sampled(kind, acc, cf):
    n = 320
    mask = CartesianMask(kind, acc, cf, seed=3)((5, n))
    n_center = round(n * cf)
    pad = (n - n_center + 1) // 2
    assert pad <= n // 2 < pad + n_center  # the centre contains the DC line
    assert bool(mask[:, pad : pad + n_center].eq(1).all())
    assert center_fraction_of(mask) >= n_center / n
    # a mask built from the centre alone measures exactly the requested fraction
    centre_only = torch.zeros(5, n)
    centre_only[:, pad : pad + n_center] = 1
    assert center_fraction_of(centre_only) == pytest.approx(n_center / n)


@pytest.mark.parametrize("kind", ["random", "equispaced"])
def test_seed_determinism(kind):
    gen = CartesianMask(kind, 8, 0.04, seed=7)
    torch.testing.assert_close(gen((16, 64)), gen((16, 64)))
    torch.testing.assert_close(gen((16, 64), seed=1), CartesianMask(kind, 8, 0.04)((16, 64), seed=1))
    masks = {tuple(gen((2, 320), seed=s)[0].tolist()) for s in range(10)}
    assert len(masks) > 1  # different seeds differ
    state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state()
    CartesianMask(kind, 4, 0.08)((8, 32))
    assert np.array_equal(np.random.get_state()[1], state)  # global random states untouched
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_direction_layout_and_transpose():
    phase = CartesianMask("random", 4, 0.08, "phase", seed=0)((40, 64))
    freq = CartesianMask("random", 4, 0.08, "frequency", seed=0)((64, 40))
    assert phase.shape == (40, 64) and phase.dtype == torch.float32
    assert bool((phase == phase[:1]).all())  # whole columns: constant along H
    torch.testing.assert_close(freq, phase.T)
    assert set(phase.unique().tolist()) <= {0.0, 1.0}


def test_invalid_arguments():
    with pytest.raises(MRIInputError, match="kind"):
        CartesianMask("gaussian")
    with pytest.raises(MRIInputError, match="direction"):
        CartesianMask(direction="readout")
    with pytest.raises(MRIInputError, match="acceleration"):
        CartesianMask(acceleration=0.5)
    with pytest.raises(MRIInputError, match="budget"):
        CartesianMask(acceleration=8, center_fraction=0.2)
    with pytest.raises(MRIInputError, match="shape"):
        CartesianMask()((4,))


def test_fully_sampled_acceleration_one():
    assert acceleration_of(CartesianMask("random", 1, 0.0)((4, 9))) == 1.0


def _mask_files():
    root = shared_data("cdiffmr-1d-masks")
    return sorted(root.glob("*/*.npy"))


def test_real_mask_files_load_and_match_their_names():
    """Measured acceleration within 10 % of the name's ``af`` (the random files range 3.76-8.53 for af 4-8), the named
    centre (round(cf * pe) lines around pe // 2) fully sampled; both directions."""
    files = _mask_files()
    assert len(files) >= 16
    for path in files:
        meta = parse_mask_name(path)
        n = meta["length"]
        mask = load_mask(path, (32, n), "phase")
        assert mask.shape == (32, n) and mask.dtype == torch.float32
        assert abs(acceleration_of(mask) / meta["acceleration"] - 1) < 0.10, path.name
        n_center = round(n * meta["center_fraction"])
        assert center_fraction_of(mask) >= n_center / n - 1e-9, path.name
        pad = (n - n_center + 1) // 2
        assert bool(mask[:, pad : pad + n_center].eq(1).all()), path.name
        torch.testing.assert_close(load_mask(path, (n, 32), "frequency"), mask.T)
        np.testing.assert_array_equal(mask[0].numpy(), np.load(path))


def test_real_mask_length_mismatch_names_both_sizes():
    path = shared_data("cdiffmr-1d-masks", "random", "random_af8_cf0.04_pe320.npy")
    with pytest.raises(MRIInputError, match=r"320 lines.*\(230, 180\) has 180 lines"):
        load_mask(path, (230, 180), "phase")
    with pytest.raises(MRIInputError, match=r"has 230 lines along direction 'frequency'"):
        load_mask(path, (230, 320), "frequency")


def test_load_mask_bad_files(tmp_path):
    np.save(tmp_path / "bad.npy", np.array([0.0, 0.5, 1.0]))
    with pytest.raises(MRIInputError, match="0/1"):
        load_mask(tmp_path / "bad.npy", (4, 3))
    with pytest.raises(MRIInputError, match="cannot read"):
        load_mask(tmp_path / "missing.npy", (4, 3))
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    with pytest.raises(MRIInputError, match="1-D line mask"):
        load_mask(tmp_path / "cube.npy", (4, 3))
    full = np.ones((4, 3), dtype=np.uint8)
    np.save(tmp_path / "full.npy", full)
    assert load_mask(tmp_path / "full.npy", (4, 3)).sum() == 12


def test_poisson_mask():
    """SigPy reaches the acceleration within its tolerance of 0.1; the calibration block is fully sampled."""
    mask = poisson_mask((64, 48), 4, calib=(12, 12), seed=0)
    assert mask.shape == (64, 48) and mask.dtype == torch.float32
    assert abs(acceleration_of(mask) - 4) < 0.1
    assert bool(mask[32 - 6 : 32 + 6, 24 - 6 : 24 + 6].eq(1).all())
    torch.testing.assert_close(mask, poisson_mask((64, 48), 4, calib=(12, 12), seed=0))
    assert not torch.equal(mask, poisson_mask((64, 48), 4, calib=(12, 12), seed=1))
    with pytest.raises(MRIInputError, match="Poisson"):
        poisson_mask((64, 48), 1.0)


def test_parse_mask_name():
    assert parse_mask_name("random_af8_cf0.04_pe320.npy") == {"acceleration": 8, "center_fraction": 0.04, "length": 320}
    assert parse_mask_name("mask.npy") is None


def test_random_cartesian_mask_draws_the_training_distribution():
    from monai_d3gm.physics.masks import RandomCartesianMask, acceleration_of, center_fraction_of

    generator = RandomCartesianMask(accelerations=(4, 12), center_budget=0.32)
    kinds, accelerations = set(), []
    for seed in range(60):
        mask, _ = generator.draw(seed)
        kinds.add(mask.kind)
        accelerations.append(mask.acceleration)
        assert 4 <= mask.acceleration <= 12
        assert mask.center_fraction * mask.acceleration == pytest.approx(0.32)
        drawn = generator((32, 320), seed=seed)
        assert drawn.shape == (32, 320) and bool((drawn == drawn[:1]).all())  # whole columns (phase direction)
        assert acceleration_of(drawn) == pytest.approx(mask.acceleration, rel=0.45)
        assert center_fraction_of(drawn) >= round(320 * mask.center_fraction) / 320 - 1e-6
        assert torch.equal(drawn, generator((32, 320), seed=seed))
    assert kinds == {"random", "equispaced"} and max(accelerations) - min(accelerations) > 6
    rows = RandomCartesianMask(direction="frequency")((96, 40), seed=0)
    assert bool((rows == rows[:, :1]).all())  # whole rows
    with pytest.raises(MRIInputError, match="accelerations"):
        RandomCartesianMask(accelerations=(8, 4))
    with pytest.raises(MRIInputError, match="center_budget"):
        RandomCartesianMask(center_budget=1.5)
    with pytest.raises(MRIInputError, match="kinds"):
        RandomCartesianMask(kinds=["poisson"])
