# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The reconstruction bundle's interval calibration (``calibrate.json``): held-out slices reconstructed as the
inference bundle does, with many posterior samples, and the intervals' scales fitted on them
(:mod:`monai_d3gm.uncertainty.calibration`).

The slices are the bundle's validation people (``configs/data_split.json``; the weights never trained on them),
simulated exactly as validation simulates them (noisy single- and multi-coil k-space, fixed masks at each protocol).
One run draws ``max(sample_counts)`` samples per slice; the first n of them give the calibration of n samples.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ...io.files import atomic_path
from ...uncertainty import (
    IntervalCalibration,
    calibrate_intervals,
    calibration_image,
    interval_coverage,
    weights_digest,
)
from .validation import ReconstructionValidator

__all__ = [
    "ReconstructionCalibration",
    "acceleration_group",
    "fit_calibration",
    "posterior_estimates",
    "record_calibration",
]


def acceleration_group(calibration: IntervalCalibration, acceleration: float) -> str:
    """The calibration group of an acceleration (:meth:`~monai_d3gm.uncertainty.IntervalCalibration.nearest_group`:
    "8x" for 8.0, the nearest calibrated one with a warning for others)."""
    return calibration.nearest_group(acceleration)


def fit_calibration(
    entries: Sequence[Mapping[str, Any]],
    levels: Sequence[float],
    bins: int = 1,
    floor: float = 0.0,
    per_acceleration: bool = True,
) -> IntervalCalibration:
    """Fit the scales on :func:`posterior_estimates` entries: one group per acceleration ("4x", "8x"), or one pooled
    group."""
    if not per_acceleration:
        return calibrate_intervals(
            [calibration_image(e["reference"], e["estimates"]) for e in entries], levels, bins, floor
        )
    parts = []
    for acceleration in sorted({float(e["acceleration"]) for e in entries}):
        images = [
            calibration_image(e["reference"], e["estimates"]) for e in entries if e["acceleration"] == acceleration
        ]
        parts.append(calibrate_intervals(images, levels, bins, floor, group=f"{acceleration:g}x"))
    return IntervalCalibration.merge(parts)


def posterior_estimates(
    validator: ReconstructionValidator,
    network: torch.nn.Module,
    sample_counts: Sequence[int],
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Reconstruct every case of ``validator`` at every protocol with ``max(sample_counts)`` samples.

    Returns:
        one entry per (case, protocol): ``{"name", "acceleration", "reference", "estimates": {n: (magnitude,
        std)}}``, the estimates of the first n samples in the input's scale.
    """
    counts = sorted({int(n) for n in sample_counts})
    entries = []
    total = len(validator.cases) * len(validator.protocols)
    with tqdm(total=total, desc="posterior samples", unit="slice", disable=not progress) as bar:
        for p, (acceleration, _) in enumerate(validator.protocols):
            rec = validator.reconstructor(network, p, num_samples=counts[-1])
            for case in validator.cases:
                prepared = rec.prepare(case)
                results = rec.reconstruct_subsets([prepared], [validator.seed], counts)[0]
                reference = results[counts[-1]]["reference"]
                if reference is None:
                    raise MRIInputError(f"{case.get('name')}: calibration needs fully sampled cases (a reference).")
                entries.append(
                    {
                        "name": str(case.get("name")),
                        "acceleration": acceleration,
                        "reference": reference,
                        "estimates": {n: (r["magnitude"], r["std"]) for n, r in results.items()},
                    }
                )
                bar.update(1)
    return entries


def record_calibration(metadata_path: str | os.PathLike, entry: Mapping[str, Any]) -> None:
    """Record the calibration in the bundle's ``metadata.json`` (key ``"calibration"``), written atomically."""
    path = Path(metadata_path)
    metadata = json.loads(path.read_text())
    metadata["calibration"] = dict(entry)
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(metadata, indent=4, ensure_ascii=False) + "\n")


class ReconstructionCalibration:
    """Fit and write the interval calibration of a reconstruction bundle's weights.

    Args:
        network: the score network with the bundle's weights loaded.
        inferer: the D³GM inferer.
        cases: held-out fully sampled cases (:func:`.validation.held_out_cases` of the validation people).
        weights_path: the weights file (its digest goes into the calibration).
        output_path: the calibration file (``models/calibration.json``).
        metadata_path: the bundle's ``metadata.json`` to record it in (None: not recorded).
        levels: the intervals' coverages (0.9: α = 0.1).
        sample_counts: the sample counts calibrated (inference then accepts these ``--num_samples``).
        protocols: (acceleration, centre fraction) of the fixed random masks.
        bins: intensity bins, each with its own scale (1: one global scale).
        floor: δ added to the spread, in units of the image's peak.
        per_acceleration: one calibration per protocol's acceleration (the spread misjudges the error differently at
            4x and 8x), else one pooled.
        progress: a progress bar.
        validator_args: the bundle's sampler settings (``sampler``, ``num_inference_steps``, ``data_consistency``,
            ``seed``, ``sense_lam``, ...), as :class:`~.validation.ReconstructionValidator` takes them.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: D3GMInferer,
        cases: Sequence[Mapping[str, Any]],
        weights_path: str | os.PathLike,
        output_path: str | os.PathLike,
        metadata_path: str | os.PathLike | None = None,
        levels: Sequence[float] = (0.8, 0.9, 0.95),
        sample_counts: Sequence[int] = (2, 4, 8, 16),
        protocols: Sequence[Sequence[float]] = ((4, 0.08), (8, 0.04)),
        bins: int = 1,
        floor: float = 0.0,
        per_acceleration: bool = True,
        progress: bool = True,
        **validator_args: Any,
    ) -> None:
        if not cases:
            raise MRIInputError("calibration needs held-out cases; the validation split gave none.")
        self.network = network
        self.validator = ReconstructionValidator(cases, inferer, protocols=protocols, **validator_args)
        self.weights_path = Path(weights_path)
        self.output_path = Path(output_path)
        self.metadata_path = None if metadata_path is None else Path(metadata_path)
        self.levels = [float(v) for v in levels]
        self.sample_counts = sorted({int(n) for n in sample_counts})
        self.bins, self.floor = int(bins), float(floor)
        self.per_acceleration = per_acceleration
        self.progress = progress

    @torch.no_grad()
    def __call__(self) -> IntervalCalibration:
        """Sample, fit, write the calibration file (and record it in ``metadata.json``); returns the calibration."""
        digest = weights_digest(self.weights_path)  # fails now, before any sampling, when the weights are missing
        self.network.eval()
        entries = posterior_estimates(self.validator, self.network, self.sample_counts, self.progress)
        calibration = fit_calibration(entries, self.levels, self.bins, self.floor, self.per_acceleration)
        calibration.weights_sha256 = digest
        # the empirical coverage on the calibration slices themselves (at least the level, by construction)
        coverage = {
            str(level): float(
                np.mean(
                    [
                        interval_coverage(
                            *calibration.interval(
                                *e["estimates"][n], n, level, 0.0, acceleration_group(calibration, e["acceleration"])
                            ),
                            e["reference"],
                        )["coverage"]
                        for e in entries
                        for n in self.sample_counts
                    ]
                )
            )
            for level in self.levels
        }
        calibration.info.update(
            {
                "created": datetime.date.today().isoformat(),
                "slices": len(self.validator.cases),
                "protocols": [list(p) for p in self.validator.protocols],
                "sampler": self.validator.sampler,
                "num_inference_steps": self.validator.steps[0],
                "data_consistency": self.validator.data_consistency,
                "coverage_on_calibration": coverage,
            }
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
            f"calibrated {len(entries)} images ({len(self.validator.cases)} slices x {len(self.validator.protocols)} "
            f"protocols), levels {calibration.levels}, sample counts {self.sample_counts}: {self.output_path}",
            flush=True,
        )
        return calibration
