# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import numpy as np

from monai_d3gm.data import SyntheticRestorationDataset, make_synthetic_pairs


def test_pairs_are_reproducible_and_degraded():
    a, b = make_synthetic_pairs(4, size=24, seed=3), make_synthetic_pairs(4, size=24, seed=3)
    for p, q in zip(a, b):
        assert p["image"].shape == p["mu"].shape == (1, 24, 24) and p["image"].dtype == np.float32
        np.testing.assert_array_equal(p["image"], q["image"])
        np.testing.assert_array_equal(p["mu"], q["mu"])
        assert 0.0 <= p["image"].min() and p["image"].max() <= 1.0
        assert np.mean((p["image"] - p["mu"]) ** 2) > 1e-4
    c = make_synthetic_pairs(4, size=24, seed=4)
    assert not np.array_equal(a[0]["image"], c[0]["image"])


def test_dataset_wraps_pairs():
    ds = SyntheticRestorationDataset(num_images=3, size=16, seed=0)
    assert len(ds) == 3 and set(ds[0]) == {"image", "mu"}
