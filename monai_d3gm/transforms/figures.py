# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The comparison figure of a restored case as a postprocessing transform: ``NAME/comparison.png``."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..visualize import save_comparison
from .writers import SaveCased

__all__ = ["SaveComparisond", "metrics_title"]


def metrics_title(metrics: Mapping[str, Mapping[str, float]] | None) -> str | None:
    """``"d3gm: 31.20 dB / 0.912, zero_filled: ..."``, or None without metrics."""
    return ", ".join(f"{k}: {v['psnr']:.2f} dB / {v['ssim']:.3f}" for k, v in (metrics or {}).items()) or None


class SaveComparisond(SaveCased):
    """Save the case's panels side by side (input, output, reference, error map) as ``output_dir/NAME/<file_name>``
    and record the file under ``data[files_key]["comparison"]``; the title gives the case's metrics.

    Args:
        output_dir: the run's output folder.
        panels: panel title -> key of the image (absent or None keys are skipped); the panels titled "output" and
            "reference" give the error map.
        error_gain: the error map's window is ``[0, max(reference) / error_gain]``.
        max_side: show images at most this many pixels on their longer side (strided), None: as they are.
        file_name: the figure's file name.
        name_key: the case's name (its sub-folder).
        metrics_key: the case's metrics, for the title.
        files_key: where the written files are recorded.
        error_panels: panel titles drawn after the error map in its colours and window (an interval's half-width:
            the reference is inside where the error is below it).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        panels: Mapping[str, str],
        error_gain: float = 1.0,
        max_side: int | None = None,
        file_name: str = "comparison.png",
        name_key: str = "name",
        metrics_key: str = "metrics",
        files_key: str = "files",
        error_panels: Sequence[str] = (),
    ) -> None:
        super().__init__(output_dir, list(panels.values()), name_key, files_key)
        self.panels = dict(panels)
        self.error_panels = list(error_panels)
        self.error_gain, self.max_side, self.file_name = error_gain, max_side, file_name
        self.metrics_key = metrics_key

    def _shown(self, image: Any) -> Any:
        if image is None or self.max_side is None:
            return image
        image = np.asarray(image)
        step = max(1, -(-max(image.shape[-2:]) // self.max_side))
        return image[..., ::step, ::step]

    def write(self, data: dict[Hashable, Any], folder: Path, files: dict[str, Any]) -> None:
        panels = {title: self._shown(data.get(key)) for title, key in self.panels.items()}
        title = metrics_title(data.get(self.metrics_key))
        files["comparison"] = str(
            save_comparison(
                folder / self.file_name,
                panels,
                error_gain=self.error_gain,
                title=title,
                error_panels=self.error_panels,
            )
        )
