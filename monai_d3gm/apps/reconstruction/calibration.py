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

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ...uncertainty import IntervalCalibration
from ...uncertainty.workflow import CalibrationWorkflow, estimate_entry, fit_groups
from .validation import ReconstructionValidator

__all__ = [
    "ReconstructionCalibration",
    "acceleration_name",
    "fit_calibration",
    "posterior_estimates",
]


def acceleration_name(acceleration: float) -> str:
    """The group name of an acceleration: "4x"."""
    return f"{float(acceleration):g}x"


def fit_calibration(
    entries: Sequence[Mapping[str, Any]],
    levels: Sequence[float],
    bins: int = 1,
    floor: float = 0.0,
    per_acceleration: bool = True,
) -> IntervalCalibration:
    """Fit the scales on :func:`posterior_estimates` entries: one group per acceleration ("4x", "8x"), or one pooled
    group."""
    group_key = "acceleration" if per_acceleration else None
    return fit_groups(entries, levels, bins, floor, group_key, acceleration_name)


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
                results = rec.reconstruct_subsets([rec.prepare(case)], [validator.seed], counts)[0]
                entries.append(
                    estimate_entry(case.get("name"), results, "magnitude", MRIInputError, acceleration=acceleration)
                )
                bar.update(1)
    return entries


class ReconstructionCalibration(CalibrationWorkflow):
    """Fit and write the interval calibration of a reconstruction bundle's weights (``calibrate.json``).

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
        validator = ReconstructionValidator(cases, inferer, protocols=protocols, **validator_args)

        def estimate() -> list[dict[str, Any]]:
            return posterior_estimates(validator, network, sample_counts, progress)

        info = {
            "slices": len(validator.cases),
            "protocols": [list(p) for p in validator.protocols],
            "sampler": validator.sampler,
            "num_inference_steps": validator.steps[0],
            "data_consistency": validator.data_consistency,
        }
        super().__init__(estimate, sample_counts, weights_path, output_path, metadata_path, levels, bins, floor,
                         "acceleration" if per_acceleration else None, acceleration_name, info)  # fmt: skip
