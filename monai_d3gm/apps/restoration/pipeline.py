# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The photo bundles' evaluator pieces MONAI has no component for: the cases, the tiling record, the metrics and the
photo writer.

``inference.json`` (deraining, dehazing) wires them (see :mod:`monai_d3gm.engines.restoration`)::

    cases = photo_cases(input_path, reference_path, demo)   # every photo checked before anything runs
    preprocessing = Compose([LoadRGBImaged, CheckPhotod, PhotoTilingd])
    SupervisedEvaluator(
        prepare_batch=RestorationPrepareBatch(input_key="input", noise="generator"),
        inferer=PosteriorInferer(tiling=TiledRestoration(...), clip=(0, 1)),
        postprocessing=Compose([PosteriorMeand, PhotoMetricsd, SavePhotod, SaveComparisond]),
        val_handlers=[CaseReport],
    )

For a photo ``NAME`` it writes ``NAME/restored.png`` (8-bit RGB, full size), ``NAME/std.png`` when several samples
are drawn (the spread, amplified 10x), ``NAME/comparison.png`` (input, output, reference and error map, downscaled for
viewing) and ``NAME/metrics.json`` (PSNR/SSIM on uint8 RGB of the input and of D³GM against the reference, when one
exists); ``metrics.json`` in the output folder collects all photos.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from ...errors import ImageInputError
from ...transforms.utils import checked_copy, init_keys
from ...transforms.writers import SaveCased
from .demo import demo_pair
from .io import write_rgb
from .metrics import rgb_metrics
from .pairs import find_photo_cases
from .tiling import TiledRestoration

__all__ = ["PhotoMetricsd", "PhotoTilingd", "SavePhotod", "photo_cases"]


def _check_photo_file(path: str) -> tuple[int, int]:
    """Open the header and verify the file (no full decode); returns (width, height)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            size = im.size
            im.verify()
    except Exception as e:  # PIL raises many types for bad files
        raise ImageInputError(f"{path} is not a readable image ({type(e).__name__}: {e}).") from e
    return size


def photo_cases(
    input_path: str | os.PathLike | None, reference_path: str | os.PathLike | None = None, demo: str = "derain"
) -> list[dict[str, Any]]:
    """``[{"name", "path", "input"[, "reference"]}]`` for a photo, a folder of photos or a paired dataset folder
    (:func:`~.pairs.find_photo_cases`), every file checked now, before anything runs; with no input, the demo
    photo degraded for ``demo`` ("derain" or "dehaze", loaded)."""
    if not input_path:
        return [demo_pair(demo)]
    cases = find_photo_cases(input_path, reference_path or None)
    for c in cases:
        size = _check_photo_file(c["input"])
        if c["reference"] is not None and _check_photo_file(c["reference"]) != size:
            raise ImageInputError(
                f"{c['reference']} is {_check_photo_file(c['reference'])} but its input {c['input']} is {size} "
                "(width, height); references must be the same size as the inputs."
            )
    # a photo without a reference has no "reference" key (the loader skips it)
    return [{"path": c["input"], **{k: v for k, v in c.items() if v is not None}} for c in cases]


class PhotoTilingd(MapTransform):
    """Record a photo's size (``[width, height]``, under "size") and how many tiles ``tiling`` restores it in
    (under "tiles")."""

    def __init__(self, keys: KeysCollection = "input", tiling: TiledRestoration | None = None) -> None:
        init_keys(self, keys, error=ImageInputError)
        self.tiling = tiling or TiledRestoration()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data, error=ImageInputError)
        for key in self.key_iterator(d):
            height, width = (int(n) for n in d[key].shape[-2:])
            d["size"], d["tiles"] = [width, height], self.tiling.num_tiles(height, width)
        return d


class PhotoMetricsd(MapTransform):
    """``data["metrics"]``: PSNR/SSIM (uint8 RGB, :func:`~.metrics.rgb_metrics`) of the output and of the input
    against the reference; empty without a reference.

    Args:
        keys: the output (D³GM's) key.
        input_key: the degraded photo.
        reference_key: the clean reference (absent or None: no metrics).
    """

    def __init__(self, keys: KeysCollection = "output", input_key: str = "input", reference_key: str = "reference"):
        init_keys(self, keys, error=ImageInputError)
        self.input_key, self.reference_key = input_key, reference_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data, error=ImageInputError)
        reference = d.get(self.reference_key)
        for key in self.key_iterator(d):
            d["metrics"] = {}
            if reference is not None:
                image = np.asarray(d[self.input_key])
                d["metrics"] = {"d3gm": rgb_metrics(d[key], reference), "input": rgb_metrics(image, reference)}
        return d


class SavePhotod(SaveCased):
    """Write ``NAME/restored.png`` (8-bit RGB) and, when several samples were drawn, ``NAME/std.png`` (the spread,
    amplified 10x) and, with a calibrated interval, ``NAME/lower.png``, ``NAME/upper.png`` and
    ``NAME/interval_half_width.png`` (amplified 10x); the files go to ``data[files_key]``.

    Args:
        output_dir: the run's output folder.
        keys: the output and its spread.
        name_key: the case's name (its sub-folder).
        files_key: where the written files are recorded.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        keys: KeysCollection = ("output", "std", "lower", "upper", "interval_half_width"),
        name_key: str = "name",
        files_key: str = "files",
    ) -> None:
        super().__init__(output_dir, keys, name_key, files_key, error=ImageInputError)

    def write(self, data: dict[Hashable, Any], folder: Path, files: dict[str, Any]) -> None:
        names, gains = {"output": "restored"}, {"std": 10.0, "interval_half_width": 10.0}
        for key in self.key_iterator(data):
            if data[key] is not None:
                name = names.get(str(key), str(key))
                image = np.clip(np.asarray(data[key]) * gains.get(str(key), 1.0), 0, 1)
                files[name] = str(write_rgb(folder / f"{name}.png", image))
