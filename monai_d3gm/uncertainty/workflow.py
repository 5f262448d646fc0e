# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A bundle's ``calibrate.json``: sample held-out images, fit the interval scales, write the calibration file next to
the weights and record it in ``metadata.json``. The task supplies the posterior estimates (its validation cases,
restored exactly as its inference does); this module does the rest, the same for every task."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import D3GMInputError
from ..utils import atomic_path
from .calibration import (
    FOREGROUND_THRESHOLD,
    IntervalCalibration,
    calibrate_intervals,
    calibration_image,
    weights_digest,
)
from .coverage import interval_coverage

__all__ = ["CalibrationWorkflow", "estimate_entry", "fit_groups", "record_calibration"]

#: an entry of the posterior estimates: ``{"name", "reference", "estimates": {n: (output, std)}, <group key>...}``
Entry = Mapping[str, Any]


def estimate_entry(
    name: Any,
    results: Mapping[int, Mapping[str, Any]],
    output_key: str,
    error: type[D3GMInputError] = D3GMInputError,
    reference: Any | None = None,
    **conditions: Any,
) -> dict[str, Any]:
    """An entry of the posterior estimates from a restorer's results per sample count (its ``*_subsets`` method):
    ``{"name", <conditions>, "reference", "estimates": {n: (output, std)}}``; the reference is the results' own
    (an MRI restorer's) or ``reference`` (a photo pair's).

    Raises:
        error: the case has no reference to calibrate against.
    """
    reference = results[max(results)].get("reference") if reference is None else reference
    if reference is None:
        raise error(f"{name}: calibration needs cases with a reference (fully sampled, or high-resolution).")
    estimates = {n: (r[output_key], r["std"]) for n, r in results.items()}
    return {"name": str(name), **conditions, "reference": reference, "estimates": estimates}


def fit_groups(
    entries: Sequence[Entry],
    levels: Sequence[float],
    bins: int = 1,
    floor: float = 0.0,
    group_key: str | None = None,
    group_name: Callable[[Any], str] = str,
    foreground: float = FOREGROUND_THRESHOLD,
    multichannel: bool = False,
) -> IntervalCalibration:
    """Fit the scales on posterior estimates: one group per value of ``entries[i][group_key]`` (named by
    ``group_name``), or one pooled group, scored on the pixels above ``foreground`` of each reference's peak (0:
    all); ``multichannel``: the images are (C, H, W) photos (see :class:`IntervalCalibration`)."""
    values = [None] if group_key is None else sorted({e[group_key] for e in entries})
    parts = []
    for value in values:
        part = [e for e in entries if group_key is None or e[group_key] == value]
        images = [calibration_image(e["reference"], e["estimates"], threshold=foreground) for e in part]
        group = {} if group_key is None else {"group": group_name(value)}
        calibration = calibrate_intervals(images, levels, bins, floor, **group)
        calibration.multichannel, calibration.foreground = multichannel, foreground
        parts.append(calibration)
    return parts[0] if group_key is None else IntervalCalibration.merge(parts)


def record_calibration(metadata_path: str | os.PathLike, entry: Mapping[str, Any]) -> None:
    """Record the calibration in the bundle's ``metadata.json`` (key ``"calibration"``), written atomically."""
    path = Path(metadata_path)
    metadata = json.loads(path.read_text())
    metadata["calibration"] = dict(entry)
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(metadata, indent=4, ensure_ascii=False) + "\n")


class CalibrationWorkflow:
    """Fit and write the interval calibration of a bundle's weights.

    Args:
        estimate: ``estimate() -> entries``: the held-out images restored as the bundle does, with the largest sample
            count (each entry ``{"name", "reference", "estimates": {n: (output, std)}}`` plus its group value).
        sample_counts: the sample counts in the estimates (inference then accepts these ``--num_samples``).
        weights_path: the weights file (its digest goes into the calibration).
        output_path: the calibration file (``models/calibration.json``).
        metadata_path: the bundle's ``metadata.json`` to record it in (None: not recorded).
        levels: the intervals' coverages (0.9: α = 0.1).
        bins: intensity bins, each with its own scale (1: one scale).
        floor: δ added to the spread, in units of the image's peak.
        group_key, group_name: one calibration per value of this entry key (the MRI acceleration), named by
            ``group_name``; None: one pooled calibration.
        info: what the estimates are (cases, sampler settings), recorded in the file.
        foreground: the share of the reference's peak above which pixels are scored (0: every pixel, for photos).
        multichannel: the images are (C, H, W) with channels (RGB photos), not stacks of slices.
    """

    def __init__(
        self,
        estimate: Callable[[], list[Entry]],
        sample_counts: Sequence[int],
        weights_path: str | os.PathLike,
        output_path: str | os.PathLike,
        metadata_path: str | os.PathLike | None = None,
        levels: Sequence[float] = (0.8, 0.9, 0.95),
        bins: int = 1,
        floor: float = 0.0,
        group_key: str | None = None,
        group_name: Callable[[Any], str] = str,
        info: Mapping[str, Any] | None = None,
        foreground: float = FOREGROUND_THRESHOLD,
        multichannel: bool = False,
    ) -> None:
        self.estimate = estimate
        self.sample_counts = sorted({int(n) for n in sample_counts})
        self.weights_path = Path(weights_path)
        self.output_path = Path(output_path)
        self.metadata_path = None if metadata_path is None else Path(metadata_path)
        self.levels = [float(v) for v in levels]
        self.bins, self.floor = int(bins), float(floor)
        self.group_key, self.group_name = group_key, group_name
        self.info = dict(info or {})
        self.foreground, self.multichannel = float(foreground), bool(multichannel)

    def group_of(self, calibration: IntervalCalibration, entry: Entry) -> str | None:
        return None if self.group_key is None else calibration.nearest_group(entry[self.group_key])

    def __call__(self) -> IntervalCalibration:
        """Sample, fit, write the calibration file (and record it in ``metadata.json``); returns the calibration."""
        if not self.weights_path.is_file():  # fails now, before any sampling
            raise D3GMInputError(f"{self.weights_path}: no weights to calibrate; the bundle's models/model.pt.")
        digest = weights_digest(self.weights_path)
        entries = self.estimate()
        if not entries:
            raise D3GMInputError("calibration needs held-out cases; the validation split gave none.")
        calibration = fit_groups(entries, self.levels, self.bins, self.floor, self.group_key, self.group_name,
                                 self.foreground, self.multichannel)  # fmt: skip
        calibration.weights_sha256 = digest
        # the empirical coverage on the calibration images themselves (at least the level, by construction)
        coverage = {}
        for level in self.levels:
            covered = []
            for e in entries:
                for n in self.sample_counts:
                    bounds = calibration.interval(*e["estimates"][n], n, level, 0.0, self.group_of(calibration, e))
                    covered.append(interval_coverage(*bounds, e["reference"], threshold=self.foreground)["coverage"])
            coverage[str(level)] = float(np.mean(covered))
        calibration.info.update(
            {"created": datetime.date.today().isoformat(), **self.info, "coverage_on_calibration": coverage}
        )
        calibration.save(self.output_path)
        if self.metadata_path is not None:
            record_calibration(
                self.metadata_path,
                {
                    "file": f"models/{self.output_path.name}",
                    "levels": calibration.levels,
                    "sample_counts": self.sample_counts,
                    "images": len(entries),
                    "groups": calibration.groups,
                    "weights_sha256": digest,
                    "created": calibration.info["created"],
                },
            )
        print(
            f"calibrated {len(entries)} images, levels {calibration.levels}, sample counts {self.sample_counts}, "
            f"groups {calibration.groups}: {self.output_path}",
            flush=True,
        )
        return calibration
