# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A MONAI Label infer task that runs a monai-d3gm bundle on the image it is given and returns an image.

MONAI Label calls ``task(request)`` with ``request["image"]`` the path of a NIfTI volume or a DICOM series folder
from its datastore, and expects ``(result_file, result_json)``. D³GM restores images rather than segmenting them, so
the task is of type "others", has no labels, returns the restored volume (same geometry as the input) and sets
``request["save_label"] = False`` so the server does not file the restored image as a label of the study.

The task subclasses MONAI Label's ``InferTask`` when ``monailabel`` is installed (it then plugs into any MONAI Label
app); without it, a stand-in with the same constructor, ``info()`` and ``config()`` keeps the task usable from plain
Python and testable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from monai.utils import optional_import

from ...errors import D3GMInputError, documented_cause

_InferTask, has_monailabel = optional_import("monailabel.interfaces.tasks.infer_v2", name="InferTask")
_HTTPException, has_fastapi = optional_import("fastapi", name="HTTPException")

__all__ = ["BUNDLE_OUTPUTS", "D3GMInferTask", "has_monailabel", "sample_app_dir"]

#: the file key (in the run's ``metrics.json``) of the restored image, and the overrides MONAI Label needs, per bundle
BUNDLE_OUTPUTS: dict[str, tuple[str, dict[str, Any]]] = {
    "mri_reconstruction_d3gm": ("reconstruction", {"whole_volume": True, "write_dicom": False}),
    "mri_super_resolution_d3gm": ("super_resolution", {"whole_volume": True, "write_dicom": False}),
    "derain_d3gm": ("restored", {}),
    "dehaze_d3gm": ("restored", {}),
}


#: bundles whose whole-volume mode samples several slices per network batch (the ``batch_size`` option)
BATCHED = ("mri_reconstruction_d3gm",)


class _InferTaskStandIn:
    """The part of ``monailabel.interfaces.tasks.infer_v2.InferTask`` the task uses (when monailabel is absent)."""

    def __init__(self, type: str, labels: Any, dimension: int, description: str, config: dict | None = None) -> None:
        self.type = type
        self.labels = [] if labels is None else [labels] if isinstance(labels, str) else labels
        self.dimension = dimension
        self.description = description
        self._config: dict[str, Any] = dict(config or {})

    def info(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "labels": self.labels,
            "dimension": self.dimension,
            "description": self.description,
            "config": self.config(),
        }

    def config(self) -> dict[str, Any]:
        return self._config

    def get_path(self, validate: bool = True) -> None:
        return None


_Base = _InferTask if has_monailabel else _InferTaskStandIn


#: what a request can ask back (``result``)
RESULTS = ("mean", "std", "lower", "upper")


def sample_app_dir() -> Path:
    """The folder of the sample MONAI Label app (``monailabel start_server --app <this folder> ...``)."""
    return Path(str(resources.files("monai_d3gm.integrations.monailabel") / "app"))


class D3GMInferTask(_Base):  # type: ignore[misc, valid-type]
    """Run a monai-d3gm bundle's ``inference.json`` on the request's image and return the restored image.

    Args:
        bundle: the bundle folder (``configs/inference.json`` and ``models/model.pt``).
        output_key: the file key of the restored image in the run's ``metrics.json`` (default: from
            :data:`BUNDLE_OUTPUTS`).
        overrides: config overrides applied to every request (e.g. ``{"num_inference_steps": 5}``).
        description: shown by MONAI Label clients.
        dimension: 3 for volumes (the MRI bundles), 2 for photos.

    The user-facing options (``config()``, editable in 3D Slicer's MONAI Label module and passed back in the
    request) are the sampler's steps, the number of posterior samples, the seed, ``result`` (what comes back: "mean",
    the restored image; "std", the samples' pixel-wise standard deviation; "lower" or "upper", the bound of the
    calibrated ``interval`` (its coverage, 0.9), from the bundle's ``models/calibration.json``; all but "mean" need
    ``num_samples`` >= 2, and the same seed gives the matching mean in another request; ``uncertainty`` True is
    "std"), and, for the MRI bundles (whole
    volumes), the slice range (``"start:stop"``, empty for all) and, for reconstruction, the slices per batch.

    Served by MONAI Label (no ``output_dir`` in the request), the result is moved to a temporary file of its own,
    which the server deletes after sending it, and the rest of the run's folder is removed; the returned JSON holds
    the metrics and the names of what the bundle wrote, not paths on the server. A refused input (a
    :class:`~monai_d3gm.errors.D3GMInputError`) becomes FastAPI's ``HTTPException(422)`` with the project's
    message, which reaches the client instead of a bare "500 Internal Server Error".
    """

    def __init__(
        self,
        bundle: str | Path,
        output_key: str | None = None,
        overrides: dict[str, Any] | None = None,
        description: str | None = None,
        dimension: int = 3,
    ) -> None:
        self.bundle = Path(bundle)
        name = self.bundle.name
        default_key, default_overrides = BUNDLE_OUTPUTS.get(name, ("reconstruction", {}))
        self.output_key = output_key or default_key
        self.overrides = {**default_overrides, **(overrides or {})}
        config: dict[str, Any] = {
            "num_inference_steps": 3,
            "num_samples": 1,
            "seed": 0,
            "result": "mean",
            "interval": 0.9,
            "uncertainty": False,
        }
        if self.overrides.get("whole_volume"):
            config["slices"] = ""
            if name in BATCHED:
                config["batch_size"] = 4
        super().__init__(
            type="others",
            labels=None,
            dimension=dimension,
            description=description or f"D³GM image restoration ({name}); the result is an image, not a label",
            config=config,
        )

    def is_valid(self) -> bool:
        return (self.bundle / "configs" / "inference.json").is_file() and (
            self.bundle / "models" / "model.pt"
        ).is_file()

    def __call__(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Restore ``request["image"]``; returns the restored image's path and a JSON-able summary."""
        try:
            return self._restore(request)
        except Exception as e:
            cause = documented_cause(e)
            if cause is not None and has_fastapi:  # the server answers 422 with the message, not a bare 500
                raise _refused_request(" ".join(str(cause).split())) from e
            raise

    def _restore(self, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        from monai.bundle import ConfigParser

        image = request.get("image")
        if not isinstance(image, (str, Path)) or not Path(image).exists():
            raise D3GMInputError(
                f"request['image'] must be the path of an existing NIfTI file, DICOM series folder or photo, got "
                f"{image!r}; MONAI Label passes the datastore's image path there."
            )
        if not self.is_valid():
            raise FileNotFoundError(
                f"{self.bundle} is not a usable bundle: configs/inference.json and models/model.pt must both exist."
            )
        request["save_label"] = False  # a restored image is not a label of the study
        options = {k: _as_type_of(self._config[k], request[k], k) for k in self._config if request.get(k) is not None}
        if not options.get("slices", True):
            options.pop("slices")  # empty: the whole volume
        wanted = "std" if options.pop("uncertainty", False) else options.pop("result", "mean")
        options.pop("result", None)
        level = options.pop("interval", self._config["interval"])
        if wanted not in RESULTS:
            raise D3GMInputError(f"result must be one of {RESULTS}, got {wanted!r}.")
        if wanted != "mean" and options.get("num_samples", self._config["num_samples"]) < 2:
            raise D3GMInputError(
                f"result {wanted!r} comes from the spread of several posterior samples; set num_samples to 2 or "
                "more (e.g. 8, a calibrated count for lower/upper), or ask for the mean."
            )
        if wanted in ("lower", "upper"):
            options["interval"] = level
        served = not request.get("output_dir")
        output_dir = Path(tempfile.mkdtemp(prefix="d3gm_monailabel_") if served else request["output_dir"])
        device = request.get("device")
        updates: dict[str, Any] = {
            "bundle_root": str(self.bundle),
            **self.overrides,
            **options,
            "input_path": str(image),
            "output_dir": str(output_dir),
            "progress": False,
        }
        if device:
            updates["device"] = f"$torch.device({str(device)!r})"
        try:
            parser = ConfigParser()
            parser.read_config(self.bundle / "configs" / "inference.json")
            parser.update(updates)
            parser.get_parsed_content("initialize", lazy=False)
            parser.get_parsed_content("restore")  # what `monai.bundle run` runs, without its error hook
            summary = json.loads((output_dir / "metrics.json").read_text())
            ((name, record),) = summary["cases"].items()
            files = record["files"]
            key = self.output_key if wanted == "mean" else wanted
            if key not in files and wanted in ("lower", "upper"):
                raise D3GMInputError(
                    f"the {self.bundle.name} bundle wrote no interval ({sorted(files)}): its weights have no interval "
                    "calibration for them (models/calibration.json); run the bundle's configs/calibrate.json, or ask "
                    "for result 'std'."
                )
            if key not in files:
                raise KeyError(f"the {self.bundle.name} bundle wrote {sorted(files)}, not {key!r}.")
            result = Path(files[key])
            if served:  # the server streams this file back and deletes it; nothing else of the run stays behind
                handle, kept = tempfile.mkstemp(prefix="d3gm_result_", suffix="".join(result.suffixes))
                os.close(handle)
                result = Path(shutil.move(str(result), kept))
        finally:
            if served:
                shutil.rmtree(output_dir, ignore_errors=True)
        summary_json: dict[str, Any] = {
            "kind": "image",
            "bundle": self.bundle.name,
            "case": name,
            "outputs": sorted(files),
            "metrics": record.get("metrics", {}),
            "seconds": record.get("seconds"),
        }
        if "interval" in record:
            summary_json["interval"] = record["interval"]
        if "empty_slices" in record:
            summary_json["empty_slices"] = record["empty_slices"]
        if not served:
            summary_json["files"] = files
        return str(result), summary_json


def _refused_request(message: str) -> Exception:
    """FastAPI's ``HTTPException(422, message)`` that is also a :class:`D3GMInputError`, so Python callers can catch
    it as before."""

    class RefusedRequest(_HTTPException, D3GMInputError):  # type: ignore[misc, valid-type]
        def __str__(self) -> str:
            return message

    return RefusedRequest(status_code=422, detail=message)


def _as_type_of(default: Any, value: Any, name: str) -> Any:
    """``value`` (a user option from the client, possibly a string) as the type of its ``default``."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off", ""):
            return False
        raise D3GMInputError(f"option {name} must be true or false, got {value!r}.")
    if not isinstance(default, (int, float)):
        return value
    try:
        number = float(value)
        if isinstance(default, int) and not number.is_integer():
            raise ValueError
        return type(default)(number)
    except (TypeError, ValueError):
        raise D3GMInputError(f"option {name} must be a {type(default).__name__}, got {value!r}.") from None
