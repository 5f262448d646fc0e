# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The reconstruction bundle's evaluator pieces MONAI has no component for: the cases and the result of the posterior
samples (the files are written by :class:`~monai_d3gm.transforms.SaveMRISliced` and
:class:`~monai_d3gm.transforms.SaveComparisond`).

``inference.json`` wires them (see :mod:`monai_d3gm.engines.restoration`)::

    cases = mri_cases(input_path)                  # files checked before anything runs, or the demo case
    preprocessing = Compose([LoadMRISliced, <the chain of .transforms.inference>])
    SupervisedEvaluator(
        prepare_batch=RestorationPrepareBatch(data_consistency=ReconstructionDataConsistency(...)),
        inferer=PosteriorInferer(...),
        postprocessing=Compose([ReconstructionResultd, SaveMRISliced, SaveComparisond]),
        val_handlers=[CaseReport],
    )

For a case ``NAME`` it writes ``NAME/reconstruction.nii.gz`` (magnitude, with the input's geometry for NIfTI and
DICOM inputs), ``NAME/std.nii.gz`` when several posterior samples are drawn, ``NAME/dicom/`` (a derived series) for
DICOM inputs, ``NAME/comparison.png`` (zero-filled input, D³GM output, reference and error map) and
``NAME/metrics.json`` (PSNR/SSIM of D³GM and zero-filling when a reference exists); ``metrics.json`` in the output
folder collects all cases.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

from ...io.inputs import case_name, find_mri_inputs
from ...transforms.utils import checked_copy, init_keys
from .inference import demo_case
from .reconstruct import PreparedSlice, reconstruction_result

__all__ = ["ReconstructionResultd", "mri_cases"]


def mri_cases(input_path: str | os.PathLike | None, demo_coils: int = 8) -> list[dict[str, Any]]:
    """``[{"name", "input"}]`` for every MRI input of ``input_path`` (checked now, before anything runs), or the
    embedded demo case (:func:`~.inference.demo_case`, loaded) when it is empty."""
    if not input_path:
        return [demo_case(num_coils=demo_coils)]
    return [{"name": case_name(path), "input": str(path)} for path in find_mri_inputs(input_path)]


class ReconstructionResultd(MapTransform):
    """The posterior samples (``data[key]``, (1, N, 2, H, W)) of a prepared slice → its reconstruction, in the input's
    scale and orientation: "reconstruction", "magnitude", "zero_filled", "reference", "std", "mask", "acceleration"
    and "metrics" (:func:`~.reconstruct.reconstruction_result`).

    Args:
        keys: the samples' key (the evaluator's prediction).
        coil_combination: "sense" or "rss" (see :class:`~.reconstruct.D3GMReconstructor`).
        data_consistency: the data consistency the sampler ran ("none" keeps the SENSE combination).
        mu_iterations: what μ was built with.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        coil_combination: str = "sense",
        data_consistency: str = "hard",
        mu_iterations: int = 0,
    ) -> None:
        init_keys(self, keys)
        self.coil_combination = coil_combination
        self.consistent = data_consistency != "none"
        self.mu_iterations = mu_iterations

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            samples = d[key][0]  # the batch of one case
            d.update(
                reconstruction_result(
                    PreparedSlice.of(d), samples, self.coil_combination, self.consistent, self.mu_iterations
                )
            )
        return d
