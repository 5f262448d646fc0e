# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The calibrated interval as a postprocessing transform: bounds around the output, the record, and every way a
calibration can be missing or not fit (checked before any sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_d3gm.errors import D3GMInputError, MRIInputError
from monai_d3gm.transforms import PosteriorIntervald
from monai_d3gm.uncertainty import IntervalCalibration, calibrate_intervals, calibration_image, sample_estimates


def _calibration(groups=("4x", "8x"), counts=(2, 4)) -> IntervalCalibration:
    g = torch.Generator().manual_seed(0)
    parts = []
    for k, group in enumerate(groups):
        images = []
        for _ in range(10):
            reference = torch.rand(16, 16, generator=g) + 0.5
            # the mean misses by (k + 1) times the samples' spread: group "8x" needs about twice the scale of "4x"
            miss = (k + 1) * 0.05 * torch.randn(16, 16, generator=g)
            samples = reference + miss + 0.05 * torch.randn(max(counts), 16, 16, generator=g)
            images.append(calibration_image(reference, sample_estimates(samples, counts)))
        parts.append(calibrate_intervals(images, [0.8, 0.9], group=group))
    return IntervalCalibration.merge(parts)


def _case(acceleration: float = 8.0) -> dict:
    g = torch.Generator().manual_seed(1)
    reference = torch.rand(16, 16, generator=g) + 0.5
    samples = reference + 0.1 * torch.randn(4, 16, 16, generator=g)
    return {
        "magnitude": samples.mean(0).numpy(),
        "std": samples.std(0).numpy(),
        "reference": reference.numpy(),
        "acceleration": acceleration,
    }


def test_interval_bounds_the_output_and_records_its_coverage():
    calibration = _calibration()
    transform = PosteriorIntervald(calibration, 0.9, 4, mean_key="magnitude", group_key="acceleration", low=0.0)
    out = transform(_case(8.0))
    assert np.all(out["lower"] <= out["magnitude"]) and np.all(out["magnitude"] <= out["upper"])
    assert np.all(out["lower"] >= 0)
    np.testing.assert_allclose(out["interval_half_width"], (out["upper"] - out["lower"]) / 2, rtol=1e-6)
    record = out["interval"]
    assert record["calibration_group"] == "8x" and record["level"] == 0.9 and record["num_samples"] == 4
    assert 0 <= record["coverage"] <= 1 and len(record["coverage_by_width"]) == 5
    wider = PosteriorIntervald(calibration, 0.9, 4, mean_key="magnitude", group_key="acceleration")(_case(4.0))
    assert wider["interval"]["calibration_group"] == "4x"
    # the 8x group was calibrated on twice the error: twice the scale, within the sampling noise
    assert out["interval"]["width"] > wider["interval"]["width"]
    with pytest.warns(UserWarning, match="not guaranteed"):
        PosteriorIntervald(calibration, 0.9, 4, mean_key="magnitude", group_key="acceleration")(_case(6.0))


def test_no_interval_asked_or_no_std_passes_the_case_through():
    case = _case()
    assert PosteriorIntervald(_calibration(), None, 1, mean_key="magnitude")(case) == case
    out = PosteriorIntervald(_calibration(), 0.9, 4, mean_key="magnitude", group_key="acceleration")(
        {**case, "std": None}
    )
    assert "lower" not in out


def test_missing_or_stale_calibrations_warn_and_write_the_std_only(tmp_path):
    with pytest.warns(UserWarning, match="no interval calibration .* raw posterior std only"):
        transform = PosteriorIntervald(tmp_path / "calibration.json", 0.9, 4, mean_key="magnitude")
    assert "lower" not in transform(_case())
    calibration = _calibration()
    calibration.weights_sha256 = "0" * 64
    path = calibration.save(tmp_path / "calibration.json")
    weights = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, weights)
    with pytest.warns(UserWarning, match="other weights"):
        transform = PosteriorIntervald(path, 0.9, 4, weights_path=weights, mean_key="magnitude")
    assert "lower" not in transform(_case())


def test_settings_the_calibration_cannot_serve_fail_before_sampling(tmp_path):
    path = _calibration().save(tmp_path / "calibration.json")
    with pytest.raises(MRIInputError, match="several posterior samples.*--num_samples 8"):
        PosteriorIntervald(path, 0.9, 1, error=MRIInputError)
    with pytest.raises(MRIInputError, match="sample counts \\[2, 4\\], not 8"):
        PosteriorIntervald(path, 0.9, 8, error=MRIInputError)
    with pytest.raises(D3GMInputError, match="levels \\[0.8, 0.9\\], not 0.95"):
        PosteriorIntervald(path, 0.95, 4)


def test_named_groups_and_aliases_choose_the_calibration():
    calibration = _calibration(groups=("blur", "kspace"))
    transform = PosteriorIntervald(calibration, 0.9, 4, mean_key="magnitude", group_key="simulate",
                                   group_aliases={"none": "kspace"})  # fmt: skip
    case = _case()
    for simulate, group in (("blur", "blur"), ("kspace", "kspace"), ("none", "kspace")):
        assert transform({**case, "simulate": simulate})["interval"]["calibration_group"] == group
    with pytest.raises(D3GMInputError, match="not numbers"):
        transform({**case, "simulate": "motion"})
