# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The super-resolution bundle's interval calibration (``calibrate.json``): slices of the validation people
(``configs/data_split.json``), degraded both ways the bundle simulates (k-space truncation and blur), super-resolved
exactly as the bundle does with many posterior samples, and the intervals' scales fitted on them
(:mod:`monai_d3gm.uncertainty`), one calibration group per degradation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ...uncertainty.workflow import CalibrationWorkflow, estimate_entry
from .restore import D3GMSuperResolver

__all__ = ["SuperResolutionCalibration", "posterior_estimates"]


def posterior_estimates(
    cases: Sequence[Mapping[str, Any]],
    network: torch.nn.Module,
    inferer: D3GMInferer,
    sample_counts: Sequence[int],
    degradations: Sequence[str] = ("kspace", "blur"),
    progress: bool = True,
    **resolver_args: Any,
) -> list[dict[str, Any]]:
    """Super-resolve every HR slice of ``cases`` (``{"image", "name"}``) degraded each way, with
    ``max(sample_counts)`` samples.

    Returns:
        one entry per (case, degradation): ``{"name", "degradation", "reference", "estimates": {n: (output, std)}}``,
        the estimates of the first n samples in the input's scale.
    """
    counts = sorted({int(n) for n in sample_counts})
    entries = []
    with tqdm(
        total=len(cases) * len(degradations), desc="posterior samples", unit="slice", disable=not progress
    ) as bar:
        for degradation in degradations:
            resolver = D3GMSuperResolver(network, inferer, simulate=degradation, num_samples=counts[-1],
                                         device=next(network.parameters()).device, **resolver_args)  # fmt: skip
            for case in cases:
                results = resolver.resolve_subsets({"image": case["image"]}, counts)
                entries.append(
                    estimate_entry(case.get("name"), results, "output", MRIInputError, degradation=degradation)
                )
                bar.update(1)
    return entries


class SuperResolutionCalibration(CalibrationWorkflow):
    """Fit and write the interval calibration of a super-resolution bundle's weights (``calibrate.json``).

    Args:
        network: the score network with the bundle's weights loaded.
        inferer: the D³GM inferer.
        cases: HR slices of held-out people (:func:`.validation.held_out_slices` of the validation split).
        weights_path: the weights file (its digest goes into the calibration).
        output_path: the calibration file (``models/calibration.json``).
        metadata_path: the bundle's ``metadata.json`` to record it in (None: not recorded).
        levels: the intervals' coverages.
        sample_counts: the sample counts calibrated.
        degradations: how the slices are degraded ("kspace", "blur").
        per_degradation: one calibration group per degradation (blur needs wider intervals than k-space truncation),
            else one pooled.
        bins: intensity bins, each with its own scale.
        floor: δ added to the spread, in units of the image's peak.
        progress: a progress bar.
        resolver_args: the bundle's settings (``scale``, ``sigma``, ``data_consistency``, ``num_inference_steps``,
            ``sampler``, ``seed``), as :class:`~.restore.D3GMSuperResolver` takes them.
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
        degradations: Sequence[str] = ("kspace", "blur"),
        per_degradation: bool = True,
        bins: int = 1,
        floor: float = 0.0,
        progress: bool = True,
        **resolver_args: Any,
    ) -> None:
        if not cases:
            raise MRIInputError("calibration needs held-out slices; the validation split gave none.")

        def estimate() -> list[dict[str, Any]]:
            return posterior_estimates(cases, network, inferer, sample_counts, degradations, progress, **resolver_args)

        info = {"slices": len(cases), "degradations": list(degradations), **resolver_args}
        super().__init__(estimate, sample_counts, weights_path, output_path, metadata_path, levels, bins, floor,
                         "degradation" if per_degradation else None, str, info)  # fmt: skip
