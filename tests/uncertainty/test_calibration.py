# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Conformal risk control of the posterior intervals: a known scale is recovered, coverage holds on held-out images
within the finite-sample bound, and the file round-trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_d3gm.errors import D3GMInputError
from monai_d3gm.uncertainty import (
    CalibrationImage,
    IntervalCalibration,
    calibrate_intervals,
    calibration_image,
    foreground_mask,
    image_peak,
    interval_coverage,
    risk_control_scale,
    sample_estimates,
    spearman,
)

Z90 = 1.6448536  # the two-sided 90 % quantile of N(0, 1)


def synthetic_case(seed: int, true_scale: float, num_samples: int = 8, size: int = 48):
    """A reference, and posterior samples whose mean misses it by N(0, (true_scale · spread)²) per pixel, with a
    spread that varies over the image: the calibrated 90 % scale is ``true_scale`` · 1.645 (for a large N)."""
    g = torch.Generator().manual_seed(seed)
    reference = torch.rand(size, size, generator=g) * 0.8 + 0.2
    spread = 0.01 + 0.05 * torch.rand(size, size, generator=g)
    mean = reference + true_scale * spread * torch.randn(size, size, generator=g)
    z = torch.randn(num_samples, size, size, generator=g)
    z = (z - z.mean(0)) / z.std(0)  # exactly the given mean and spread
    return mean + spread * z, reference


def record(samples: torch.Tensor, reference: torch.Tensor, counts: list[int]):
    return calibration_image(reference, sample_estimates(samples, counts))


def test_risk_control_recovers_a_known_scale():
    images = [record(*synthetic_case(i, 2.0), [8]) for i in range(40)]
    calibration = calibrate_intervals(images, levels=[0.9])
    scale = calibration.scales["all"][0.9][8].scales[0]
    # the bound asks a mean empirical miss of (0.1 · 41 - 1) / 40 = 0.0775: the 92.25 % quantile, 1.765 sigma
    assert scale == pytest.approx(2.0 * 1.765, rel=0.05)
    assert scale > 2.0 * Z90


def test_coverage_on_held_out_images_is_within_the_finite_sample_bound():
    images = [record(*synthetic_case(i, 1.5), [4, 8]) for i in range(30)]
    calibration = calibrate_intervals(images, bins=3)
    n = 30
    for count in (4, 8):
        covered = []
        for i in range(100, 140):
            samples, reference = synthetic_case(i, 1.5)
            part = samples[:count]
            lower, upper = calibration.interval(part.mean(0), part.std(0), count, 0.9)
            covered.append(interval_coverage(lower, upper, reference, mask=torch.ones_like(reference))["coverage"])
        # risk control: E[miss] <= alpha; its empirical loss is at least alpha - 1/(n+1) (Angelopoulos et al.)
        assert 1 - 0.1 - 0.01 <= np.mean(covered) <= 1 - 0.1 + 1 / (n + 1) + 0.01


def test_intervals_contain_the_mean_and_clip():
    samples, reference = synthetic_case(0, 1.0)
    calibration = calibrate_intervals([record(samples, reference, [8]) for _ in range(10)])
    mean, std = samples.mean(0), samples.std(0)
    lower, upper = calibration.interval(mean, std, 8, 0.9, low=0.0)
    assert torch.all(lower <= mean) and torch.all(mean <= upper) and torch.all(lower >= 0)
    stacked = calibration.interval(torch.stack([mean, 2 * mean]), torch.stack([std, 2 * std]), 8, 0.9)
    assert torch.allclose(stacked[1][0], upper)  # a stack is taken slice by slice


def test_too_few_images_and_unknown_counts_are_refused():
    with pytest.raises(D3GMInputError, match="at least 9"):
        risk_control_scale([np.ones(10)] * 5, alpha=0.1)
    samples, reference = synthetic_case(0, 1.0)
    calibration = calibrate_intervals([record(samples, reference, [8]) for _ in range(10)])
    with pytest.raises(D3GMInputError, match="sample counts \\[8\\], not 4"):
        calibration.interval(samples.mean(0), samples.std(0), 4, 0.9)
    with pytest.raises(D3GMInputError, match="levels \\[0.9\\], not 0.95"):
        calibration.interval(samples.mean(0), samples.std(0), 8, 0.95)
    with pytest.raises(D3GMInputError, match="in \\(0, 1\\)"):
        calibration.interval(samples.mean(0), samples.std(0), 8, 90)
    with pytest.raises(D3GMInputError, match=">= 2"):
        sample_estimates(samples, [1])
    with pytest.raises(D3GMInputError, match="do not match"):
        calibration_image(reference[:10], sample_estimates(samples, [8]))


def test_risk_control_is_exact_on_a_small_case():
    # two images; alpha 0.5: the mean miss must be <= (0.5 · 3 - 1) / 2 = 0.25
    scores = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0])]
    assert risk_control_scale(scores, 0.5) == 3.0  # misses 1/4 of each; at 2.0 it would miss 2/4


def test_file_round_trip_and_bad_files(tmp_path):
    images = [record(*synthetic_case(i, 1.0), [2, 4]) for i in range(12)]
    calibration = calibrate_intervals(images, levels=[0.8, 0.9], bins=2, floor=0.01)
    calibration.weights_sha256 = "ab" * 32
    path = calibration.save(tmp_path / "calibration.json")
    loaded = IntervalCalibration.load(path)
    assert loaded.scales == calibration.scales and loaded.weights_sha256 == "ab" * 32
    assert loaded.levels == [0.8, 0.9] and loaded.sample_counts(0.8) == [2, 4]
    assert loaded.scales["all"][0.8][4].scales[1] < loaded.scales["all"][0.9][4].scales[1]
    merged = IntervalCalibration.merge(
        [calibrate_intervals(images, group="4x"), calibrate_intervals(images, levels=[0.8], group="8x")]
    )
    merged.save(tmp_path / "merged.json")
    again = IntervalCalibration.load(tmp_path / "merged.json")
    assert again.groups == ["4x", "8x"] and again.levels == [] and again.sample_counts(0.8, "8x") == [2, 4]
    lower, upper = again.interval(torch.ones(8, 8), torch.ones(8, 8), 2, 0.9, group="4x")
    assert torch.all(lower < upper)
    with pytest.raises(D3GMInputError, match="groups \\['4x', '8x'\\]; say which"):
        again.interval(torch.ones(8, 8), torch.ones(8, 8), 2, 0.9)
    with pytest.raises(D3GMInputError, match="not '6x'"):
        again.interval(torch.ones(8, 8), torch.ones(8, 8), 2, 0.9, group="6x")
    with pytest.raises(D3GMInputError, match="two of the calibrations"):
        IntervalCalibration.merge([calibration, calibration])
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(D3GMInputError, match="not an interval calibration"):
        IntervalCalibration.load(tmp_path / "other.json")
    with pytest.raises(D3GMInputError, match="cannot read"):
        IntervalCalibration.load(tmp_path / "missing.json")


def test_intensity_bins_give_each_intensity_its_own_scale():
    # bright pixels miss by twice their spread, dark ones by half of it: one scale per bin finds both
    rng = np.random.default_rng(0)
    images = []
    for _ in range(20):
        relative = rng.uniform(0, 1, 4000).astype(np.float32)
        spread = np.full(4000, 0.02, np.float32)
        factor = np.where(relative > 0.5, 2.0, 0.5)
        error = np.abs(rng.standard_normal(4000) * spread * factor).astype(np.float32)
        images.append(CalibrationImage(relative, {4: error}, {4: spread}))
    scales = calibrate_intervals(images, bins=2).scales["all"][0.9][4].scales
    # 20 images: a mean empirical miss of (0.1 · 21 - 1) / 20 = 0.055 per bin, the 94.5 % quantile, 1.919 sigma
    assert scales[0] == pytest.approx(0.5 * 1.919, rel=0.05) and scales[1] == pytest.approx(2.0 * 1.919, rel=0.05)


def test_coverage_report_and_spearman():
    reference = torch.zeros(10, 10)
    reference[2:8, 2:8] = 1.0
    lower, upper = reference - 0.1, reference + 0.1
    upper[2, 2] = 0.95  # one foreground pixel missed
    report = interval_coverage(lower, upper, reference)
    mask = foreground_mask(reference)
    assert report["pixels"] == int(mask.sum()) and report["coverage"] == pytest.approx(1 - 1 / report["pixels"])
    assert len(report["coverage_by_width"]) == 5 and min(report["coverage_by_width"]) < 1
    assert spearman(np.arange(10), np.arange(10) ** 3) == pytest.approx(1.0)
    assert spearman(np.arange(10), -np.arange(10)) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.ones(5), np.arange(5)))
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)  # mean ranks of ties


def test_photos_are_one_image_of_every_pixel(tmp_path):
    """A photo calibration (``multichannel``, ``foreground`` 0) scores every pixel of every channel and takes the RGB
    photo as one image with one peak, where an MR stack (S, H, W) has a peak per slice; bounds clip to [low, high]."""
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(3, 16, 16, generator=g) * 0.1  # mostly dark: below an MR foreground threshold
    reference[0, :4] = 1.0
    samples = reference + 0.02 * torch.randn(4, 3, 16, 16, generator=g)
    every = calibration_image(reference, sample_estimates(samples, [4]), threshold=0.0)
    assert every.relative.size == 3 * 16 * 16
    assert calibration_image(reference, sample_estimates(samples, [4])).relative.size < every.relative.size
    images = [every] * 12
    photo = calibrate_intervals(images, floor=0.05)
    photo.multichannel, photo.foreground = True, 0.0
    stack = calibrate_intervals(images, floor=0.05)
    mean, std = samples.mean(0), samples.std(0)
    lower, upper = photo.interval(mean, std, 4, 0.9, low=0.0, high=1.0)
    lam = photo.scales["all"][0.9][4].scales[0]
    peak = image_peak(mean)  # of the whole photo: the floor of a dark channel is the bright channel's
    unclipped = mean[1] + lam * (std[1] + 0.05 * peak)
    assert torch.allclose(upper[1], unclipped.clamp(max=1.0), atol=1e-6)
    assert upper.max() <= 1.0 and lower.min() >= 0.0
    per_slice = stack.interval(mean, std, 4, 0.9)[1]
    assert torch.all(per_slice[1] < upper[1])  # channel 1 alone has a smaller peak, so a smaller floor
    report = interval_coverage(lower, upper, reference, threshold=photo.foreground)
    assert report["pixels"] == 3 * 16 * 16
    # the kind of image travels with the file, and calibrations of two kinds do not merge
    again = IntervalCalibration.load(photo.save(tmp_path / "photo.json"))
    assert again.multichannel and again.foreground == 0.0
    assert not IntervalCalibration.load(stack.save(tmp_path / "mr.json")).multichannel
    renamed = calibrate_intervals(images, group="other")
    with pytest.raises(D3GMInputError, match="one kind of image"):
        IntervalCalibration.merge([photo, renamed])
