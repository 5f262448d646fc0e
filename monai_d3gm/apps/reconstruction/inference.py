# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The embedded demo case, and the whole-volume runner of the reconstruction bundle.

The bundle's per-slice inference is a MONAI ``SupervisedEvaluator`` (:mod:`.pipeline`); whole-volume mode
(``--whole_volume True``) reconstructs every slice of a volume in network batches of several slices, with noise shared
or independent across slices, and writes one volume aligned with the input, which no MONAI component does: that is
:class:`MRIVolumeRunner`. With no input, the demo is an axial slice (or a slab) of the real MNI ICBM152 2009a T1
template that ships inside the nilearn wheel, with simulated 8-coil k-space (nothing is downloaded and nothing from
the project's development data is used).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...data.demo import demo_slice, mni152_template_path
from ...io import MRIVolume, write_dicom_series, write_nifti
from ...io.dicom import DicomSeries
from ...io.files import write_json
from ...io.geometry import slab_geometry, volume_slice_range
from ...io.inputs import case_name, find_mri_inputs
from ...metrics import average_metrics
from ...transforms.figures import metrics_title
from ...visualize import save_comparison
from ..runner import run_cases
from .transforms import SimulateKspace
from .volume import VolumeReconstruction

__all__ = ["MRIVolumeRunner", "demo_case"]


def demo_case(num_coils: int = 8, slice_index: int = 110, seed: int = 0) -> dict[str, Any]:
    """The embedded demo: an axial MNI152 slice (:func:`demo_slice`) with simulated ``num_coils`` k-space and smooth
    phase.

    The returned case is fully sampled, so the reconstructor undersamples it with its mask and compares with the known
    image.
    """
    image, slice_affine, path = demo_slice(slice_index)
    sim = SimulateKspace(num_coils=num_coils, phase="smooth")
    sim.set_random_state(seed)
    kspace, _ = sim(image)
    return {
        "format": "demo",
        "path": str(path),
        "name": f"demo_mni152_axial{slice_index}_{num_coils}coil",
        "kspace": kspace.numpy(),
        "slice_affine": slice_affine,
    }


class MRIVolumeRunner:
    """Reconstruct every volume of ``input_path`` (every slice, or the ``slices`` range) and write, for a volume
    ``NAME``, ``NAME/reconstruction.nii.gz``, ``NAME/zero_filled.nii.gz`` and ``NAME/std.nii.gz`` (several samples)
    aligned with the input (same affine), ``NAME/dicom/`` for DICOM inputs, ``NAME/comparison.png`` (the middle
    slice), ``NAME/through_plane.png`` and ``NAME/metrics.json``; ``metrics.json`` in ``output_dir`` collects all
    volumes (``{"cases": {NAME: ...}, "mean": ...}``). With no input, a slab of the MNI152 template. Every file is
    written atomically.

    Args:
        reconstructor: a :class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor` (or any callable with its
            interface).
        output_dir: where the results go (created).
        input_path: a file, a BART base name, a DICOM folder or a folder of cases; None (or "") for the demo.
        write_dicom: write a derived DICOM series for DICOM inputs.
        batch_size: slices per network batch in whole-volume mode (bounds the memory).
        noise: "independent" or "shared" noise across the slices of a volume (see
            :mod:`monai_d3gm.apps.reconstruction.volume`).
        slices: ``"start:stop"`` slices of the volume (default all; the demo slab is ``"104:116"``).
        progress: the volume's progress bar.
        slice_axis: the slice axis of NIfTI volumes (default the last; DICOM series use their slice dimension).
        interval: the calibrated interval (:class:`~monai_d3gm.transforms.PosteriorIntervald` on "magnitude" and
            "std"): with several samples it adds ``NAME/lower.nii.gz`` and ``NAME/upper.nii.gz`` and the interval's
            record (coverage when a reference exists) to ``metrics.json``.
    """

    def __init__(
        self,
        reconstructor,
        output_dir: str | os.PathLike,
        input_path: str | os.PathLike | None = None,
        write_dicom: bool = True,
        batch_size: int = 4,
        noise: str = "independent",
        slices: str | None = None,
        progress: bool = True,
        slice_axis: int = -1,
        interval: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.reconstructor = reconstructor
        self.interval = interval
        self.output_dir = Path(output_dir)
        self.input_path = input_path or None
        self.write_dicom = write_dicom
        self.volume = VolumeReconstruction(reconstructor, batch_size=batch_size, noise=noise, progress=progress)
        self.slices = slices
        self.slice_axis = slice_axis

    def cases(self) -> list[Path] | None:
        """The input files (checked before any reconstruction starts), or None for the demo."""
        return None if self.input_path is None else find_mri_inputs(self.input_path)

    def __call__(self) -> dict[str, Any]:
        extra = {"batch_size": self.volume.batch_size, "noise": self.volume.noise}
        return run_cases(self._load_volumes(self.cases()), self._restore_volume, self._write, self.output_dir, **extra)

    def _load_volumes(self, paths: list[Path] | None):
        for path in paths if paths is not None else [None]:
            volume = MRIVolume(mni152_template_path() if path is None else path, self.slice_axis)
            spec = self.slices if (self.slices or path is not None) else "104:116"
            name = "demo_mni152_volume" if path is None else case_name(path)
            yield name, {"volume": volume, "slices": volume_slice_range(spec, len(volume))}

    def _restore_volume(self, case: dict[str, Any]) -> dict[str, Any]:
        return self.volume(case["volume"], case["slices"])

    def _write(self, name: str, case: dict[str, Any], result: dict[str, Any], seconds: float) -> dict[str, Any]:
        out = self.output_dir / name
        out.mkdir(parents=True, exist_ok=True)
        volume: MRIVolume = case["volume"]
        chosen: range = case["slices"]
        affine, axis = slab_geometry(volume, chosen)  # voxel 0 is the first restored slice

        def place(key: str) -> np.ndarray:
            return np.moveaxis(result[key], 0, axis)

        files: dict[str, Any] = {
            "reconstruction": str(write_nifti(place("magnitude"), affine, out / "reconstruction.nii.gz"))
        }
        files["zero_filled"] = str(write_nifti(place("zero_filled"), affine, out / "zero_filled.nii.gz"))
        if "std" in result:
            files["std"] = str(write_nifti(place("std"), affine, out / "std.nii.gz"))
        acceleration = float(result["middle"]["mask"].numel() / max(float(result["middle"]["mask"].sum()), 1.0))
        interval = self._interval(result, acceleration)
        for key in ("lower", "upper"):
            if key in interval:
                result[key] = interval[key]
                files[key] = str(write_nifti(place(key), affine, out / f"{key}.nii.gz"))
        if self.write_dicom and volume.series is not None:
            series: DicomSeries = volume.series
            part = DicomSeries(
                series.volume[chosen.start : chosen.stop],
                series.affine,
                series.datasets[chosen.start : chosen.stop],
                series.spacing,
            )
            for k, key in enumerate(k for k in ("magnitude", "lower", "upper") if k in result):
                name = "dicom" if key == "magnitude" else f"dicom_{key}"
                description = "D3GM reconstruction" if key == "magnitude" else f"D3GM reconstruction ({key})"
                written = write_dicom_series(
                    result[key], part, out / name, description, overwrite=True, series_offset=1000 + k
                )
                files[name] = [str(f) for f in written]
        metrics = average_metrics(result["metrics"])
        title = metrics_title(metrics)
        files["comparison"] = str(self._comparison(out / "comparison.png", result["middle"], metrics and title))
        if len(chosen) > 1:
            column = result["magnitude"].shape[2] // 2  # a through-plane reformat: slices x rows at the middle column
            reformat = {
                "input (zero-filled)": result["zero_filled"][:, :, column],
                "output": result["magnitude"][:, :, column],
                "reference": result["reference"][:, :, column] if "reference" in result else None,
                "posterior std": result["std"][:, :, column] if "std" in result else None,
            }
            files["through_plane"] = str(save_comparison(out / "through_plane.png", reformat, error_gain=5.0))
        record = {
            "input": str(volume.path),
            "format": volume.format,
            "slices": [chosen.start, chosen.stop],
            "num_slices": len(chosen),
            "empty_slices": [int(i) for i in result["empty"]],
            "slices_per_second": round(len(chosen) / max(seconds, 1e-9), 3),
            "acceleration": acceleration,
            **({"interval": interval["interval"]} if "interval" in interval else {}),
            "seconds": round(seconds, 2),
            "metrics": metrics,
            "files": files,
        }
        write_json(out / "metrics.json", record)
        return record

    def _interval(self, result: dict[str, Any], acceleration: float) -> dict[str, Any]:
        """The calibrated interval of the restored slices (empty when not asked for or not calibrated)."""
        if self.interval is None or "std" not in result:
            return {}
        # padding slices (all zeros) have no foreground, so the record's coverage is over the restored ones
        return self.interval(
            {
                "magnitude": result["magnitude"],
                "std": result["std"],
                "reference": result.get("reference"),
                "acceleration": acceleration,
            }
        )

    @staticmethod
    def _comparison(path: Path, result: dict[str, Any], title: str | None) -> Path:
        panels = {
            "input (zero-filled)": result["zero_filled"],
            "output": result["magnitude"],
            "reference": result.get("reference"),
            "posterior std": result.get("std"),
        }
        return save_comparison(path, panels, error_gain=5.0, title=title)
