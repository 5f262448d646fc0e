# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Run a reconstructor over files or folders and write what a user looks at: NIfTI (and DICOM), PNG, metrics JSON.

This is what the bundle's ``inference.json`` runs. With no input it reconstructs the embedded demo case: an axial
slice of the real MNI ICBM152 2009a T1 template that ships inside the nilearn wheel, with simulated 8-coil k-space
(nothing is downloaded and nothing from the project's development data is used).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...data.demo import demo_slice, mni152_template_path
from ...io import MRIVolume, load_mri_slice, write_dicom_series, write_nifti
from ...io.dicom import DicomSeries
from ...io.geometry import slab_geometry, slice_affine, volume_slice_range
from ...io.inputs import case_name, find_mri_inputs
from ...visualize import save_comparison
from ..runner import average_metrics, run_cases, write_json
from .transforms import SimulateKspace
from .volume import VolumeReconstruction

__all__ = ["MRIReconstructionRunner", "demo_case"]


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


class MRIReconstructionRunner:
    """Reconstruct every case of ``input_path`` (or the demo) and write the results under ``output_dir``.

    For a case ``NAME`` it writes ``NAME/reconstruction.nii.gz`` (magnitude, with the input's geometry for NIfTI and
    DICOM inputs), ``NAME/std.nii.gz`` when several posterior samples are drawn, ``NAME/dicom/`` (a derived series)
    for DICOM inputs, ``NAME/comparison.png`` (zero-filled input, D³GM output, reference and error map) and
    ``NAME/metrics.json`` (PSNR/SSIM of D³GM and zero-filling when a reference exists); ``metrics.json`` in
    ``output_dir`` collects all cases (``{"cases": {NAME: ...}, "mean": ...}``). Every file is written atomically.

    Args:
        reconstructor: a :class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor` (or any callable with its
            interface).
        output_dir: where the results go (created).
        input_path: a file, a BART base name, a DICOM folder or a folder of cases; None (or "") for the demo.
        slice_index: the slice of multi-slice inputs (default: the middle one).
        demo_coils: coils of the simulated demo k-space.
        write_dicom: write a derived DICOM series for DICOM inputs.
        whole_volume: reconstruct every slice of multi-slice inputs (or the ``slices`` range) and write one volume
            aligned with the input (same affine / DICOM geometry); with no input, a slab of the MNI152 template.
        batch_size: slices per network batch in whole-volume mode (bounds the memory).
        noise: "independent" or "shared" noise across the slices of a volume (see
            :mod:`monai_d3gm.apps.reconstruction.volume`).
        slices: ``"start:stop"`` slices of the volume (default all; the demo slab is ``"104:116"``).
        progress: the volume's progress bar.
        slice_axis: the slice axis of NIfTI volumes (default the last; DICOM series use their slice dimension).
    """

    def __init__(
        self,
        reconstructor,
        output_dir: str | os.PathLike,
        input_path: str | os.PathLike | None = None,
        slice_index: int | None = None,
        demo_coils: int = 8,
        write_dicom: bool = True,
        whole_volume: bool = False,
        batch_size: int = 4,
        noise: str = "independent",
        slices: str | None = None,
        progress: bool = True,
        slice_axis: int = -1,
    ) -> None:
        self.reconstructor = reconstructor
        self.output_dir = Path(output_dir)
        self.input_path = input_path or None
        self.slice_index = slice_index
        self.demo_coils = demo_coils
        self.write_dicom = write_dicom
        self.whole_volume = whole_volume
        self.volume = VolumeReconstruction(reconstructor, batch_size=batch_size, noise=noise, progress=progress)
        self.slices = slices
        self.slice_axis = slice_axis

    def cases(self) -> list[Path] | None:
        """The input files (checked before any reconstruction starts), or None for the demo."""
        return None if self.input_path is None else find_mri_inputs(self.input_path)

    def __call__(self) -> dict[str, Any]:
        paths = self.cases()
        if self.whole_volume:
            extra = {"batch_size": self.volume.batch_size, "noise": self.volume.noise}
            return run_cases(
                self._load_volumes(paths), self._restore_volume, self._write_volume, self.output_dir, **extra
            )
        return run_cases(self._load(paths), self.reconstructor, self._write, self.output_dir)

    def _load_volumes(self, paths: list[Path] | None):
        for path in paths if paths is not None else [None]:
            volume = MRIVolume(mni152_template_path() if path is None else path, self.slice_axis)
            spec = self.slices if (self.slices or path is not None) else "104:116"
            name = "demo_mni152_volume" if path is None else case_name(path)
            yield name, {"volume": volume, "slices": volume_slice_range(spec, len(volume))}

    def _restore_volume(self, case: dict[str, Any]) -> dict[str, Any]:
        return self.volume(case["volume"], case["slices"])

    def _write_volume(self, name: str, case: dict[str, Any], result: dict[str, Any], seconds: float) -> dict[str, Any]:
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
        if self.write_dicom and volume.series is not None:
            series: DicomSeries = volume.series
            part = DicomSeries(
                series.volume[chosen.start : chosen.stop],
                series.affine,
                series.datasets[chosen.start : chosen.stop],
                series.spacing,
            )
            written = write_dicom_series(result["magnitude"], part, out / "dicom", overwrite=True)
            files["dicom"] = [str(f) for f in written]
        metrics = average_metrics(result["metrics"])
        title = ", ".join(f"{k}: {v['psnr']:.2f} dB / {v['ssim']:.3f}" for k, v in metrics.items()) or None
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
            "acceleration": float(result["middle"]["mask"].numel() / max(float(result["middle"]["mask"].sum()), 1.0)),
            "seconds": round(seconds, 2),
            "metrics": metrics,
            "files": files,
        }
        write_json(out / "metrics.json", record)
        return record

    @staticmethod
    def _comparison(path: Path, result: dict[str, Any], title: str | None) -> Path:
        panels = {
            "input (zero-filled)": result["zero_filled"],
            "output": result["magnitude"],
            "reference": result.get("reference"),
            "posterior std": result.get("std"),
        }
        return save_comparison(path, panels, error_gain=5.0, title=title)

    def _load(self, paths: list[Path] | None):
        for path in paths if paths is not None else [None]:
            if path is None:
                case = demo_case(num_coils=self.demo_coils)
                yield case["name"], case
            else:
                yield case_name(path), load_mri_slice(path, self.slice_index, self.slice_axis)

    def _write(self, name: str, case: dict[str, Any], result: dict[str, Any], seconds: float) -> dict[str, Any]:
        out = self.output_dir / name
        out.mkdir(parents=True, exist_ok=True)
        affine, axis = slice_affine(case)
        magnitude = result["magnitude"].numpy().astype(np.float32)
        recon = write_nifti(np.expand_dims(magnitude, axis), affine, out / "reconstruction.nii.gz")
        files: dict[str, Any] = {"reconstruction": str(recon)}
        if result.get("std") is not None:
            std = np.expand_dims(result["std"].numpy().astype(np.float32), axis)
            files["std"] = str(write_nifti(std, affine, out / "std.nii.gz"))
        if self.write_dicom and case.get("format") == "dicom":
            series: DicomSeries = case["series"]
            i = case["slice_index"]
            one = DicomSeries(series.volume[i : i + 1], series.affine, series.datasets[i : i + 1], series.spacing)
            written = write_dicom_series(magnitude[None], one, out / "dicom", overwrite=True)
            files["dicom"] = [str(f) for f in written]
        metrics = result.get("metrics", {})
        title = ", ".join(f"{k}: {v['psnr']:.2f} dB / {v['ssim']:.3f}" for k, v in metrics.items()) or None
        files["comparison"] = str(self._comparison(out / "comparison.png", result, title))
        record = {
            "input": case.get("path"),
            "format": case.get("format"),
            "slice_index": case.get("slice_index"),
            "acceleration": float(result["mask"].numel() / max(float(result["mask"].sum()), 1.0)),
            "seconds": round(seconds, 2),
            "metrics": metrics,
            "files": files,
        }
        write_json(out / "metrics.json", record)
        return record
