# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The embedded demo case, input discovery, and the whole-volume runner of the super-resolution bundle.

The bundle's per-slice inference is a MONAI ``SupervisedEvaluator`` (:mod:`.pipeline`); whole-volume mode
(``--whole_volume True``) super-resolves every slice of a volume, one at a time, and writes one volume on the finer
grid aligned with the input, which no MONAI component does: that is :class:`SuperResolutionVolumeRunner`. With no
input, the demo is an axial slice (or a slab) of the real MNI ICBM152 2009a T1 template inside the nilearn wheel,
degraded x4 by k-space truncation, and D³GM, bicubic and sinc interpolation are scored against it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ...data.demo import demo_slice, mni152_template_path
from ...errors import MRIInputError
from ...io import MRIVolume, mri_format, write_dicom_series, write_nifti
from ...io.files import write_json
from ...io.geometry import slab_geometry, slice_ranges, volume_slice_range
from ...io.inputs import case_name, find_mri_inputs
from ...metrics import average_metrics
from ...transforms.figures import metrics_title
from ...visualize import save_comparison
from ..runner import run_cases
from .geometry import upsampled_affine, upsampled_series

__all__ = ["SuperResolutionVolumeRunner", "demo_case", "find_image_inputs"]


def demo_case(slice_index: int = 110) -> dict[str, Any]:
    """The embedded demo: an axial MNI152 slice as the HR reference, degraded by k-space truncation."""
    image, affine, path = demo_slice(slice_index)
    return {
        "format": "demo",
        "path": str(path),
        "name": f"demo_mni152_axial{slice_index}",
        "image": image,
        "slice_affine": affine,
        "simulate": "kspace",
    }


def find_image_inputs(input_path: str | os.PathLike) -> list[Path]:
    """The NIfTI files and DICOM series of ``input_path`` (a file, a DICOM folder or a folder of cases)."""
    cases = find_mri_inputs(input_path)
    for c in cases:
        fmt = mri_format(c)
        if fmt not in ("nifti", "dicom"):
            raise MRIInputError(
                f"{c} is {fmt} k-space; super-resolution takes NIfTI or DICOM images. Reconstruct k-space with the "
                "MRI reconstruction bundle first."
            )
    return cases


class SuperResolutionVolumeRunner:
    """Super-resolve every volume of ``input_path`` (every slice, or the ``slices`` range, one at a time with one
    progress bar) and write, for a volume ``NAME``, ``NAME/super_resolution.nii.gz`` and ``NAME/std.nii.gz``
    (several samples) on the finer grid aligned with the input, ``NAME/dicom/`` for DICOM inputs,
    ``NAME/comparison.png`` (the middle slice) and ``NAME/metrics.json``; ``metrics.json`` in ``output_dir``
    collects all volumes. All-zero slices pass through as zeros; with no input, a slab of the MNI152 template
    (simulated LR). Every file is written atomically, and every input is opened before any sampling starts.

    Args:
        resolver: a :class:`~monai_d3gm.apps.super_resolution.restore.D3GMSuperResolver`.
        output_dir: where the results go (created).
        input_path: a NIfTI file, a DICOM folder or a folder of cases; None (or "") for the demo slab.
        slice_axis: the axis of NIfTI volumes to slice along (default the last).
        simulate: "auto" (demo: "kspace", files: the resolver's setting), or "none" / "kspace" / "blur" for all.
        write_dicom: write a derived DICOM series for DICOM inputs.
        slices: ``"start:stop"`` slices of the volume (default all).
        progress: the volume's progress bar.
        interval: the calibrated interval (:class:`~monai_d3gm.transforms.PosteriorIntervald` on "output" and "std"):
            with several samples it adds ``NAME/lower.nii.gz`` and ``NAME/upper.nii.gz`` (and DICOM series) and the
            interval's record (coverage when a reference exists) to ``metrics.json``.
    """

    def __init__(
        self,
        resolver,
        output_dir: str | os.PathLike,
        input_path: str | os.PathLike | None = None,
        slice_axis: int = -1,
        simulate: str = "auto",
        write_dicom: bool = True,
        slices: str | None = None,
        progress: bool = True,
        interval: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.resolver = resolver
        self.interval = interval
        self.output_dir = Path(output_dir)
        self.input_path = input_path or None
        self.slice_axis = slice_axis
        self.simulate = simulate
        self.write_dicom = write_dicom
        self.slices = slices
        self.progress = progress

    def cases(self) -> list[Path] | None:
        """The input files (checked before any sampling starts), or None for the demo."""
        return None if self.input_path is None else find_image_inputs(self.input_path)

    def __call__(self) -> dict[str, Any]:
        return run_cases(self._load_volumes(self.cases()), self._restore_volume, self._write, self.output_dir)

    def _load_volumes(self, paths: list[Path] | None) -> list[tuple[str, dict[str, Any]]]:
        volumes = []
        for path in paths if paths is not None else [None]:  # every input is opened before any sampling starts
            volume = MRIVolume(mni152_template_path() if path is None else path, self.slice_axis)
            spec = self.slices if (self.slices or path is not None) else "104:116"
            simulate = self.simulate if self.simulate != "auto" else ("kspace" if path is None else None)
            name = "demo_mni152_volume" if path is None else case_name(path)
            volumes.append(
                (name, {"volume": volume, "slices": volume_slice_range(spec, len(volume)), "simulate": simulate})
            )
        return volumes

    def _restore_volume(self, case: dict[str, Any]) -> dict[str, Any]:
        """Super-resolve the chosen slices one at a time (memory: one slice and the output volume)."""
        volume: MRIVolume = case["volume"]
        chosen: range = case["slices"]
        arrays: dict[str, np.ndarray] = {}
        metrics, empty, middle, simulate = [], [], None, None
        centre = chosen[len(chosen) // 2]
        for k, i in enumerate(tqdm(chosen, desc=f"D3GM volume {volume.path.name}", unit="slice",
                                   disable=not self.progress)):  # fmt: skip
            slice_case = volume[i]
            if not np.any(slice_case["image"]):
                empty.append(i)
                continue
            if case["simulate"] is not None:
                slice_case["simulate"] = case["simulate"]
            result = self.resolver(slice_case)
            simulate = result["simulate"]
            for key in ("output", "std", "reference"):  # what is written or scored; the middle slice keeps the rest
                if result.get(key) is not None:
                    image = result[key].numpy().astype(np.float32)
                    if key not in arrays:
                        arrays[key] = np.zeros((len(chosen), *image.shape), np.float32)
                    arrays[key][k] = image
            metrics.append(result.get("metrics", {}))
            if middle is None or abs(i - centre) < abs(middle[0] - centre):
                middle = (i, result)
        if middle is None:
            raise MRIInputError(
                f"{volume.path}: every chosen slice ({len(chosen)}) holds only zeros; there is nothing to "
                "super-resolve. Choose slices with data (--slices start:stop)."
            )
        if empty:
            warnings.warn(
                f"{volume.path.name}: {len(empty)} slice(s) hold only zeros ({slice_ranges(empty)}); they are written "
                "as zeros.",
                stacklevel=2,
            )
        return {**arrays, "metrics": metrics, "empty": empty, "middle": middle[1], "simulate": simulate}

    def _write(self, name: str, case: dict[str, Any], result: dict[str, Any], seconds: float) -> dict[str, Any]:
        out = self.output_dir / name
        out.mkdir(parents=True, exist_ok=True)
        volume: MRIVolume = case["volume"]
        chosen: range = case["slices"]
        affine, axis = slab_geometry(volume, chosen)  # voxel 0 is the first restored slice
        in_plane = [a for a in range(3) if a != axis]
        scale = self.resolver.scale if result["simulate"] == "none" else 1  # a simulated reference keeps its grid
        if scale > 1:
            affine = upsampled_affine(affine, scale, in_plane)
        files: dict[str, Any] = {
            "super_resolution": str(
                write_nifti(np.moveaxis(result["output"], 0, axis), affine, out / "super_resolution.nii.gz")
            )
        }
        if "std" in result:
            files["std"] = str(write_nifti(np.moveaxis(result["std"], 0, axis), affine, out / "std.nii.gz"))
        interval = {}
        if self.interval is not None and "std" in result:
            interval = self.interval({k: result.get(k) for k in ("output", "std", "reference", "simulate")})
        for key in ("lower", "upper"):
            if key in interval:
                result[key] = interval[key]
                files[key] = str(write_nifti(np.moveaxis(interval[key], 0, axis), affine, out / f"{key}.nii.gz"))
        if self.write_dicom and volume.series is not None:
            for k, key in enumerate(k for k in ("output", "lower", "upper") if k in result):
                folder = "dicom" if key == "output" else f"dicom_{key}"
                description = "D3GM super-resolution" + ("" if key == "output" else f" ({key})")
                hr = upsampled_series(volume.series, result[key], scale, list(chosen))
                written = write_dicom_series(result[key], hr, out / folder, description, overwrite=True,
                                             series_offset=1000 + k)  # fmt: skip
                files[folder] = [str(f) for f in written]
        metrics = average_metrics(result["metrics"])
        title = metrics_title(metrics)
        middle = result["middle"]
        panels = {"input (sinc)": middle["sinc"], "bicubic": middle["bicubic"], "output": middle["output"],
                  "reference": middle.get("reference"), "posterior std": middle.get("std")}  # fmt: skip
        files["comparison"] = str(save_comparison(out / "comparison.png", panels, error_gain=5.0, title=title))
        record = {
            "input": str(volume.path),
            "format": volume.format,
            "slices": [chosen.start, chosen.stop],
            "num_slices": len(chosen),
            "empty_slices": [int(i) for i in result["empty"]],
            "simulate": result["simulate"],
            "scale": self.resolver.scale,
            "output_shape": list(np.moveaxis(result["output"], 0, axis).shape),
            **({"interval": interval["interval"]} if "interval" in interval else {}),
            "seconds": round(seconds, 2),
            "metrics": metrics,
            "files": files,
        }
        write_json(out / "metrics.json", record)
        return record
