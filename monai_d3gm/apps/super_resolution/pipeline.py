# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The super-resolution bundle's evaluator pieces MONAI has no component for: the cases, μ and the baselines of a
slice, the result of the posterior samples, and the NIfTI / DICOM writer on the fine grid.

``inference.json`` wires them (see :mod:`monai_d3gm.engines.restoration`)::

    cases = image_cases(input_path)            # NIfTI / DICOM only, checked before anything runs, or the demo
    preprocessing = Compose([LoadMRISliced, PrepareLowResolutiond])   # cached: every slice is prepared up front
    SupervisedEvaluator(
        prepare_batch=RestorationPrepareBatch(noise="generator", data_consistency=SuperResolutionDataConsistency),
        inferer=PosteriorInferer(...),
        postprocessing=Compose([SuperResolutionResultd, SaveSuperResolutiond, SaveComparisond]),
        val_handlers=[CaseReport],
    )

For a case ``NAME`` it writes ``NAME/super_resolution.nii.gz`` (on the HR grid: the voxel size divided by the scale
in-plane and the same field of view, or the input's grid when the input is a simulated reference),
``NAME/std.nii.gz`` when several samples are drawn, ``NAME/dicom/`` (a derived series with the HR PixelSpacing and
ImagePositionPatient) for DICOM inputs, ``NAME/comparison.png`` (sinc input, bicubic, D³GM, reference, error map) and
``NAME/metrics.json``; ``metrics.json`` in the output folder collects all cases.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ...errors import MRIInputError
from ...io.dicom import DicomSeries
from ...io.inputs import case_name
from ...transforms.utils import checked_copy, init_keys
from ...transforms.writers import SaveMRISliced
from .geometry import upsampled_affine, upsampled_series
from .inference import demo_case, find_image_inputs
from .restore import SIMULATE_MODES, PreparedLowResolution, prepare_low_resolution, super_resolution_result

__all__ = ["PrepareLowResolutiond", "SaveSuperResolutiond", "SuperResolutionResultd", "image_cases"]


def image_cases(input_path: str | os.PathLike | None) -> list[dict[str, Any]]:
    """``[{"name", "input"}]`` for every NIfTI file and DICOM series of ``input_path`` (k-space is refused now,
    before anything runs), or the embedded demo case (:func:`~.inference.demo_case`, loaded) when it is empty."""
    if not input_path:
        return [demo_case()]
    return [{"name": case_name(path), "input": str(path)} for path in find_image_inputs(input_path)]


class PrepareLowResolutiond(MapTransform):
    """A loaded slice (``data[key]``) → the LR image, μ, the sinc and bicubic baselines and the reference
    (:func:`~.restore.prepare_low_resolution`, the degradation training uses), μ in the network's layout under
    ``input_key`` and the factor under "scale".

    Args:
        keys: the image key.
        scale: the super-resolution factor.
        simulate: "auto" (the case's own "simulate" key, else "none": the image is the LR input), or "none" /
            "kspace" / "blur" for every case.
        sigma: blur of the "blur" degradation, in HR pixels.
        input_key: where μ (1, H, W) goes.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        scale: int = 4,
        simulate: str = "auto",
        sigma: float = 1.5,
        input_key: str = "inputs",
    ) -> None:
        init_keys(self, keys)
        if simulate != "auto" and simulate not in SIMULATE_MODES:
            raise MRIInputError(f"simulate must be 'auto' or one of {SIMULATE_MODES}, got {simulate!r}.")
        self.scale, self.simulate, self.sigma, self.input_key = int(scale), simulate, sigma, input_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for _ in self.key_iterator(d):
            simulate = d.get("simulate", "none") if self.simulate == "auto" else self.simulate
            prepared = prepare_low_resolution(d, self.scale, simulate, self.sigma)
            d.update({name: getattr(prepared, name) for name in PreparedLowResolution.__dataclass_fields__})
            d[self.input_key], d["scale"] = prepared.mu[None], self.scale
        return d


class SuperResolutionResultd(MapTransform):
    """The posterior samples (``data[key]``, (1, N, 1, H, W)) of a prepared slice → "output", "std", "metrics"
    (D³GM, bicubic and sinc against the reference) and the shapes (:func:`~.restore.super_resolution_result`)."""

    def __init__(self, keys: KeysCollection = "pred") -> None:
        init_keys(self, keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d.update(super_resolution_result(PreparedLowResolution.of(d), d[key][0]))
            d["input_shape"], d["output_shape"] = list(d["lr"].shape), list(d["output"].shape)
        return d


class SaveSuperResolutiond(SaveMRISliced):
    """Write ``NAME/super_resolution.nii.gz`` and ``NAME/std.nii.gz`` (several samples) on the fine grid (the
    input's grid for a simulated reference), and ``NAME/dicom/`` (the HR PixelSpacing and ImagePositionPatient) for
    DICOM inputs; the files go to ``data[files_key]``.

    Args:
        output_dir: the run's output folder.
        write_dicom: write a derived DICOM series for DICOM inputs.
        keys: the output and its spread (and a calibrated interval's "lower" and "upper").
        name_key: the case's name (its sub-folder).
        files_key: where the written files are recorded.
        dicom_keys: further keys written as derived DICOM series for DICOM inputs (``NAME/dicom_<key>/``).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        write_dicom: bool = True,
        keys: KeysCollection = ("output", "std"),
        name_key: str = "name",
        files_key: str = "files",
        dicom_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(output_dir, write_dicom, keys, {"output": "super_resolution"}, "D3GM super-resolution",
                         name_key, files_key, required=("scale", "simulate"), dicom_keys=dicom_keys)  # fmt: skip

    @staticmethod
    def _factor(data: Mapping[Hashable, Any]) -> int:
        """A simulated reference was only cropped at its end: its grid (factor 1) is kept."""
        return int(data["scale"]) if data["simulate"] == "none" else 1

    def geometry(self, data: Mapping[Hashable, Any]) -> tuple[np.ndarray, int]:
        affine, axis = super().geometry(data)
        if self._factor(data) > 1:
            affine = upsampled_affine(affine, self._factor(data), [a for a in range(3) if a != axis])
        return affine, axis

    def dicom_series(self, data: Mapping[Hashable, Any], image: np.ndarray) -> DicomSeries:
        return upsampled_series(data["series"], image, self._factor(data), [data["slice_index"]])
