# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The photo bundles' interval calibration (``calibrate.json``): the bundle's validation photos (its held-out real
pairs and the clean validation photos, each degraded a few times with the bundle's synthetic rain or haze), restored
exactly as the bundle does (tiled, clipped to [0, 1]) with many posterior samples, and the intervals' scales fitted
on them (:mod:`monai_d3gm.uncertainty`). Every pixel of every channel is scored, and the whole RGB photo is one
image with one peak.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from ...errors import ImageInputError
from ...inferers import D3GMInferer
from ...uncertainty.workflow import CalibrationWorkflow, estimate_entry
from .restore import D3GMImageRestorer
from .tiling import TiledRestoration

__all__ = ["PhotoCalibration", "posterior_estimates"]


def posterior_estimates(
    cases: Sequence[Mapping[str, Any]],
    network: torch.nn.Module,
    inferer: D3GMInferer,
    sample_counts: Sequence[int],
    tiling: TiledRestoration | None = None,
    progress: bool = True,
    **restorer_args: Any,
) -> list[dict[str, Any]]:
    """Restore every photo of ``cases`` (``{"name", "input", "reference"}``) with ``max(sample_counts)`` samples.

    Returns:
        one entry per case: ``{"name", "reference", "estimates": {n: (output, std)}}``, the estimates of the first n
        samples.

    Raises:
        ImageInputError: a case without a clean reference (before any sampling).
    """
    missing = [str(c.get("name")) for c in cases if c.get("reference") is None]
    if missing:
        raise ImageInputError(f"calibration needs photos with a clean reference; {missing} have none.")
    counts = sorted({int(n) for n in sample_counts})
    restorer = D3GMImageRestorer(network, inferer, tiling, num_samples=counts[-1],
                                 device=next(network.parameters()).device, **restorer_args)  # fmt: skip
    entries = []
    for case in tqdm(cases, desc="posterior samples", unit="photo", disable=not progress):
        results = restorer.restore_subsets(case["input"], counts)
        entries.append(estimate_entry(case.get("name"), results, "output", ImageInputError, case["reference"]))
    return entries


class PhotoCalibration(CalibrationWorkflow):
    """Fit and write the interval calibration of a photo bundle's weights (``calibrate.json``).

    Args:
        network: the score network with the bundle's weights loaded.
        inferer: the D³GM inferer.
        cases: degraded photos with clean references the weights never trained on
            (:func:`.validation.photo_validation_cases` of the bundle's validation photos).
        weights_path: the weights file (its digest goes into the calibration).
        output_path: the calibration file (``models/calibration.json``).
        metadata_path: the bundle's ``metadata.json`` to record it in (None: not recorded).
        levels: the intervals' coverages.
        sample_counts: the sample counts calibrated.
        bins: intensity bins, each with its own scale.
        floor: δ added to the spread, in units of the photo's peak.
        tiling: the bundle's tiling (photos are restored as inference restores them).
        progress: a progress bar.
        restorer_args: the bundle's sampler (``num_inference_steps``, ``sampler``, ``seed``), as
            :class:`~.restore.D3GMImageRestorer` takes them.
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
        bins: int = 1,
        floor: float = 0.0,
        tiling: TiledRestoration | None = None,
        progress: bool = True,
        **restorer_args: Any,
    ) -> None:
        if not cases:
            raise ImageInputError("calibration needs held-out photos; the validation photos gave none.")

        def estimate() -> list[dict[str, Any]]:
            return posterior_estimates(cases, network, inferer, sample_counts, tiling, progress, **restorer_args)

        tile = None if tiling is None or tiling.inferer is None else [*tiling.tile_size, tiling.overlap]
        info = {"photos": len(cases), "tiles (h, w, overlap)": tile, **restorer_args}
        super().__init__(estimate, sample_counts, weights_path, output_path, metadata_path, levels, bins, floor,
                         info=info, foreground=0.0, multichannel=True)  # fmt: skip
