# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Held-out cases for validation and benchmarks: the training simulation with fixed seeds."""

from __future__ import annotations

import numpy as np
import sigpy
import torch

from monai_d3gm.apps.reconstruction.validation import held_out_cases, simulated_kspace
from monai_d3gm.physics.acquisition import rss_peak


def test_simulated_kspace_is_seeded_and_has_the_requested_noise():
    image = np.abs(sigpy.shepp_logan((96, 96))).astype(np.float32)
    a, b = simulated_kspace(image, 4, 0.01, seed=3), simulated_kspace(image, 4, 0.01, seed=3)
    assert a.shape == (4, 96, 96) and torch.equal(a, b)
    assert not torch.equal(a, simulated_kspace(image, 4, 0.01, seed=4))
    clean = simulated_kspace(image, 4, 0.0, seed=3)  # the same phase and coils, no noise
    noise = a - clean
    assert abs(float(noise.real.std()) / rss_peak(clean) / 0.01 - 1) < 0.05  # per real part, of the image maximum
    assert abs(float(noise.imag.std()) / rss_peak(clean) / 0.01 - 1) < 0.05


def test_held_out_cases_take_central_slices_with_alternating_coil_counts(tmp_path):
    from monai_d3gm.io import write_nifti

    volume = np.stack([np.abs(sigpy.shepp_logan((32, 32))) * (1 + 0.1 * i) for i in range(10)], -1)
    path = write_nifti(volume.astype(np.float32), np.eye(4), tmp_path / "v.nii.gz")
    cases = held_out_cases([{"path": str(path), "axes": [2], "person": "p1"}], slices_per_volume=2)
    assert [c["kspace"].shape[0] for c in cases] == [1, 8] and all(c["name"].startswith("p1#") for c in cases)
