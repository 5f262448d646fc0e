# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The reconstruction bundle's evaluator pieces MONAI has no component for: the cases, the result of the posterior
samples, and the NIfTI / DICOM writer of a slice.

``inference.json`` wires them (see :mod:`monai_d3gm.engines.restoration`)::

    cases = mri_cases(input_path)                  # files checked before anything runs, or the demo case
    preprocessing = Compose([LoadMRISliced, <the chain of .transforms.inference>])
    SupervisedEvaluator(
        prepare_batch=RestorationPrepareBatch(data_consistency=ReconstructionDataConsistency(...)),
        inferer=PosteriorInferer(...),
        postprocessing=Compose([ReconstructionResultd, SaveReconstructiond, SaveComparisond]),
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
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ...io import write_dicom_series, write_nifti
from ...io.dicom import DicomSeries
from ...io.geometry import slice_affine
from ...io.inputs import case_name, find_mri_inputs
from ...transforms.utils import checked_copy, init_keys
from .inference import demo_case
from .reconstruct import PreparedSlice, reconstruction_result

__all__ = ["ReconstructionResultd", "SaveReconstructiond", "mri_cases"]


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


class SaveReconstructiond(MapTransform):
    """Write a slice's reconstruction: ``NAME/reconstruction.nii.gz`` and ``NAME/std.nii.gz`` (when several samples
    were drawn) with the input's geometry, and ``NAME/dicom/`` for DICOM inputs; the files go to
    ``data[files_key]``.

    Args:
        output_dir: the run's output folder.
        write_dicom: write a derived DICOM series for DICOM inputs.
        keys: the magnitude image and the posterior spread.
        name_key: the case's name (its sub-folder).
        files_key: where the written files are recorded.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        write_dicom: bool = True,
        keys: KeysCollection = ("magnitude", "std"),
        name_key: str = "name",
        files_key: str = "files",
    ) -> None:
        init_keys(self, keys, allow_missing_keys=True)
        self.output_dir = Path(output_dir)
        self.write_dicom = write_dicom
        self.name_key, self.files_key = name_key, files_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data, required=[self.name_key])
        out = self.output_dir / str(d[self.name_key])
        out.mkdir(parents=True, exist_ok=True)
        affine, axis = slice_affine(d)
        files: dict[str, Any] = dict(d.get(self.files_key) or {})
        names = {"magnitude": "reconstruction"}
        for key in self.key_iterator(d):
            if d[key] is not None:
                image = np.expand_dims(np.asarray(d[key], dtype=np.float32), axis)
                name = names.get(str(key), str(key))
                files[name] = str(write_nifti(image, affine, out / f"{name}.nii.gz"))
        if self.write_dicom and d.get("format") == "dicom":
            series: DicomSeries = d["series"]
            i = d["slice_index"]
            one = DicomSeries(series.volume[i : i + 1], series.affine, series.datasets[i : i + 1], series.spacing)
            magnitude = np.asarray(d["magnitude"], dtype=np.float32)[None]
            files["dicom"] = [str(f) for f in write_dicom_series(magnitude, one, out / "dicom", overwrite=True)]
        d[self.files_key] = files
        return d
