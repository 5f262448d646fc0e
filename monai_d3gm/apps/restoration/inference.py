# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Run a photo restorer over a file, a folder of photos or a paired dataset (or the demo) and write the results.

For a photo ``NAME`` it writes ``NAME/restored.png`` (8-bit RGB, full size), ``NAME/std.png`` when several samples
are drawn (the spread, amplified 10x), ``NAME/comparison.png`` (input, output, reference and error map, downscaled for
viewing) and ``NAME/metrics.json`` (PSNR/SSIM on uint8 RGB of the input and of D³GM against the reference, when one
exists); ``metrics.json`` in the output folder collects all photos. Every input is checked before any restoration
starts, and every file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ImageInputError
from ...io.files import write_json
from ...visualize import save_comparison
from ..runner import run_cases
from .demo import demo_pair
from .io import IMAGE_SUFFIXES, read_rgb, write_rgb
from .metrics import lpips_status, rgb_metrics
from .pairs import find_images, find_pairs, pair_dirs, pair_key

__all__ = ["ImageRestorationRunner", "find_photo_cases"]

#: the comparison figure shows photos at most this many pixels on their longer side
FIGURE_SIDE = 640


def find_photo_cases(
    input_path: str | os.PathLike, reference_path: str | os.PathLike | None = None
) -> list[dict[str, str | None]]:
    """``[{"name", "input", "reference"}]`` for a photo, a folder of photos or a paired dataset folder.

    A folder with degraded/clean sub-folders (``input/`` + ``target/``, ``hazy/`` + ``GT/``, ...) gives its pairs;
    otherwise ``reference_path`` (a photo or a folder matched by name) gives the references, if any.
    """
    p = Path(input_path)
    if p.is_dir() and pair_dirs(p):
        return [{"name": c["name"], "input": c["input"], "reference": c["target"]} for c in find_pairs(p)]
    if p.is_dir():
        photos = find_images(p)
        if not photos:
            raise ImageInputError(f"{p} holds no photo ({', '.join(IMAGE_SUFFIXES)}) and no degraded/clean folders.")
    elif p.is_file():
        photos = [p]
    else:
        raise ImageInputError(f"{p} does not exist; pass a photo, a folder of photos or a paired dataset folder.")
    refs: dict[str, Path] = {}
    if reference_path:
        r = Path(reference_path)
        if r.is_file() and len(photos) == 1:
            refs[pair_key(photos[0])] = r
        elif r.is_dir():
            refs = {pair_key(f): f for f in find_images(r)}
        else:
            raise ImageInputError(f"reference_path {r} is neither a photo (for one input) nor a folder of photos.")
    stems = [f.stem for f in photos]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:  # their outputs would overwrite each other
        raise ImageInputError(
            f"{p} holds several photos named {clashes[0]!r} with different suffixes; their outputs would share a "
            "folder. Rename or move all but one."
        )
    return [
        {"name": f.stem, "input": str(f), "reference": str(refs[pair_key(f)]) if pair_key(f) in refs else None}
        for f in photos
    ]


def _check_photo(path: str) -> tuple[int, int]:
    """Open the header and verify the file (no full decode); returns (width, height)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            size = im.size
            im.verify()
    except Exception as e:  # PIL raises many types for bad files
        raise ImageInputError(f"{path} is not a readable image ({type(e).__name__}: {e}).") from e
    return size


def _for_figure(image: np.ndarray) -> np.ndarray:
    step = max(1, -(-max(image.shape[-2:]) // FIGURE_SIDE))
    return image[..., ::step, ::step]


class ImageRestorationRunner:
    """Restore every photo of ``input_path`` (or the demo) and write the results under ``output_dir``.

    Args:
        restorer: a :class:`~monai_d3gm.apps.restoration.restore.D3GMImageRestorer`.
        output_dir: where the results go (created).
        input_path: a photo, a folder of photos or a paired dataset folder; None (or "") for the demo.
        reference_path: clean references for ``input_path`` (a photo, or a folder matched by file name).
        demo: the demo task, "derain" or "dehaze" (synthetic rain or haze on matplotlib's sample photo).
    """

    def __init__(
        self,
        restorer,
        output_dir: str | os.PathLike,
        input_path: str | os.PathLike | None = None,
        reference_path: str | os.PathLike | None = None,
        demo: str = "derain",
    ) -> None:
        self.restorer = restorer
        self.output_dir = Path(output_dir)
        self.input_path = input_path or None
        self.reference_path = reference_path or None
        self.demo = demo

    def cases(self) -> list[dict[str, Any]]:
        """The photos to restore, every file checked before any restoration starts."""
        if self.input_path is None:
            return [demo_pair(self.demo)]
        cases = find_photo_cases(self.input_path, self.reference_path)
        for c in cases:
            size = _check_photo(c["input"])
            if c["reference"] is not None and _check_photo(c["reference"]) != size:
                raise ImageInputError(
                    f"{c['reference']} is {_check_photo(c['reference'])} but its input {c['input']} is {size} "
                    "(width, height); references must be the same size as the inputs."
                )
        return cases

    def __call__(self) -> dict[str, Any]:
        cases = self.cases()
        lpips = lpips_status() or "computed"
        return run_cases(self._load(cases), self._restore, self._write, self.output_dir, lpips=lpips)

    @staticmethod
    def _load(cases: list[dict[str, Any]]):
        for case in cases:
            loaded = dict(case)
            loaded.setdefault("path", None if isinstance(case["input"], np.ndarray) else case["input"])
            for key in ("input", "reference"):
                if loaded[key] is not None and not isinstance(loaded[key], np.ndarray):
                    loaded[key] = read_rgb(loaded[key])
            yield case["name"], loaded

    def _restore(self, case: dict[str, Any]) -> dict[str, Any]:
        return self.restorer(case["input"])

    def _write(self, name: str, case: dict[str, Any], result: dict[str, Any], seconds: float) -> dict[str, Any]:
        image, reference = case["input"], case["reference"]
        out = self.output_dir / name
        out.mkdir(parents=True, exist_ok=True)
        output = result["output"]
        files = {"restored": str(write_rgb(out / "restored.png", output))}
        if result.get("std") is not None:
            files["std"] = str(write_rgb(out / "std.png", np.clip(result["std"] * 10, 0, 1)))
        metrics = {}
        if reference is not None:
            metrics = {"d3gm": rgb_metrics(output, reference), "input": rgb_metrics(image, reference)}
        title = ", ".join(f"{k}: {v['psnr']:.2f} dB / {v['ssim']:.3f}" for k, v in metrics.items()) or None
        panels = {"input": image, "output": output, "reference": reference}
        panels = {k: None if v is None else _for_figure(v) for k, v in panels.items()}
        files["comparison"] = str(save_comparison(out / "comparison.png", panels, error_gain=2.0, title=title))
        record = {
            "input": case["path"],
            "size": [int(image.shape[2]), int(image.shape[1])],
            "tiles": self.restorer.tiling.num_tiles(image.shape[1], image.shape[2]),
            "seconds": round(seconds, 2),
            "metrics": metrics,
            "files": files,
        }
        write_json(out / "metrics.json", record)
        return record
