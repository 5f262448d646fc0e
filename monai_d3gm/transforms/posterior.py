# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The mean and the spread of a case's posterior samples, and their calibrated interval, as postprocessing
transforms."""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ..errors import D3GMInputError
from ..uncertainty import IntervalCalibration, interval_coverage, weights_digest
from .utils import checked_copy, init_keys

__all__ = ["PosteriorIntervald", "PosteriorMeand"]


class PosteriorMeand(MapTransform):
    """The samples of one case (``data[key]``, (1, N, ...), :class:`~monai_d3gm.inferers.PosteriorInferer`'s output)
    → their mean under ``mean_key`` and, for N > 1, their pixel-wise standard deviation under ``std_key`` (else
    None), as float32 arrays.

    Args:
        keys: the samples' key (the evaluator's prediction).
        mean_key: where the mean (the task's output) goes.
        std_key: where the standard deviation (the uncertainty map) goes.
    """

    def __init__(self, keys: KeysCollection = "pred", mean_key: str = "output", std_key: str = "std") -> None:
        init_keys(self, keys)
        self.mean_key, self.std_key = mean_key, std_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            stack = torch.as_tensor(d[key])[0]  # the batch of one case
            d[self.mean_key] = stack.mean(0).numpy().astype(np.float32, copy=False)
            d[self.std_key] = stack.std(0).numpy().astype(np.float32, copy=False) if stack.shape[0] > 1 else None
        return d


class PosteriorIntervald(MapTransform):
    """Calibrated intervals of a case's output: ``data[mean_key]`` and ``data[std_key]`` (the mean and spread of
    ``num_samples`` posterior samples) → ``lower``, ``upper`` and the half-width, with the interval's record
    (level, sample count, calibration group and, when a reference exists, its coverage) under ``record_key``.

    The scales come from the bundle's calibration file (``calibrate.json`` writes it,
    :class:`~monai_d3gm.uncertainty.IntervalCalibration`). Everything that can be checked is checked when the
    transform is built, before any sampling: without a calibration file, or with one of other weights, it warns once
    and passes the case through (the raw std is still written); a level or sample count the file does not hold, or a
    single sample, is an error naming the fix.

    Args:
        calibration: the calibration file (or a loaded calibration).
        level: the interval's coverage (0.9); None: no interval (the transform does nothing).
        num_samples: the samples the output's std comes from.
        weights_path: the weights the bundle runs; a calibration recording other weights' digest is not used.
        mean_key, std_key: the output and its spread.
        reference_key: the reference, when the case has one (its coverage is then recorded).
        group_key: the key choosing the calibration group (a number such as the acceleration, or a group's name such
            as the degradation), or None.
        group_aliases: group values that use another value's group (e.g. ``{"none": "kspace"}``: a real LR input is
            a k-space truncation).
        low: the lower bound's floor (0 for magnitudes), or None.
        high: the upper bound's ceiling (1 for photos in [0, 1]), or None.
        error: the documented error raised on bad settings.
    """

    def __init__(
        self,
        calibration: str | os.PathLike | IntervalCalibration | None,
        level: float | None = 0.9,
        num_samples: int = 1,
        weights_path: str | os.PathLike | None = None,
        mean_key: str = "output",
        std_key: str = "std",
        reference_key: str = "reference",
        group_key: str | None = None,
        group_aliases: Mapping[str, str] | None = None,
        low: float | None = None,
        high: float | None = None,
        lower_key: str = "lower",
        upper_key: str = "upper",
        half_width_key: str = "interval_half_width",
        record_key: str = "interval",
        error: type[D3GMInputError] = D3GMInputError,
    ) -> None:
        super().__init__([mean_key, std_key], allow_missing_keys=True)
        self.mean_key, self.std_key, self.reference_key, self.group_key = mean_key, std_key, reference_key, group_key
        self.lower_key, self.upper_key, self.half_width_key, self.record_key = (
            lower_key,
            upper_key,
            half_width_key,
            record_key,
        )
        self.low, self.high, self.num_samples, self.level = low, high, int(num_samples), level
        self.group_aliases = dict(group_aliases or {})
        self.calibration: IntervalCalibration | None = None
        if level is None:
            return
        if self.num_samples < 2:
            raise error(
                f"--interval {level} needs several posterior samples (their spread), got num_samples={num_samples}; "
                "add --num_samples 8 (or another calibrated count)."
            )
        if isinstance(calibration, IntervalCalibration):
            self.calibration = calibration
        elif calibration is None or not Path(calibration).is_file():
            warnings.warn(
                f"no interval calibration ({calibration}): writing the raw posterior std only, no lower/upper. Run the "
                "bundle's configs/calibrate.json to calibrate these weights.",
                stacklevel=2,
            )
            return
        else:
            self.calibration = IntervalCalibration.load(calibration)
        if weights_path is not None and self.calibration.weights_sha256:
            if self.calibration.weights_sha256 != weights_digest(weights_path):
                warnings.warn(
                    f"the interval calibration was made for other weights than {weights_path}: writing the raw "
                    "posterior std only. Rerun configs/calibrate.json for these weights.",
                    stacklevel=2,
                )
                self.calibration = None
                return
        for group in self.calibration.groups:  # fails now, not after the sampling
            try:
                self.calibration.scales_for(level, self.num_samples, group)
            except D3GMInputError as e:
                raise error(str(e)) from None

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.calibration is None or d.get(self.std_key) is None:
            return d
        mean, std = torch.as_tensor(np.asarray(d[self.mean_key])), torch.as_tensor(np.asarray(d[self.std_key]))
        group = None
        if self.group_key is not None:
            value = d[self.group_key]
            value = self.group_aliases.get(value, value) if isinstance(value, str) else float(value)
            group = self.calibration.nearest_group(value)
        if group is None and len(self.calibration.groups) == 1:
            group = self.calibration.groups[0]
        lower, upper = self.calibration.interval(mean, std, self.num_samples, self.level, self.low, group, self.high)
        d[self.lower_key] = lower.numpy()
        d[self.upper_key] = upper.numpy()
        d[self.half_width_key] = ((upper - lower) / 2).numpy()
        record: dict[str, Any] = {"level": self.level, "num_samples": self.num_samples, "calibration_group": group}
        reference = d.get(self.reference_key)
        if reference is not None:
            reference = torch.as_tensor(np.asarray(reference))
            report = interval_coverage(lower, upper, reference, mean=mean, threshold=self.calibration.foreground)
            record.update({k: report[k] for k in ("coverage", "coverage_by_width", "width", "spearman")})
        d[self.record_key] = record
        return d
