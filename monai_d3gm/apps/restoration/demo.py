# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Embedded demo inputs: synthetic rain or haze (:mod:`monai_d3gm.physics.weather`) on a real photo that ships with
matplotlib (no download): the ``grace_hopper.jpg`` sample (512 x 600).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ImageInputError
from ...physics.weather import add_haze, add_rain
from .io import read_rgb

__all__ = ["demo_photo_path", "demo_pair"]


def demo_photo_path() -> Path:
    """matplotlib's bundled ``grace_hopper.jpg``."""
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    if not path.is_file():
        raise ImageInputError(f"matplotlib's sample photo {path} is missing; reinstall matplotlib or pass input_path.")
    return path


def demo_pair(task: str) -> dict[str, object]:
    """``{"name", "path", "input", "reference"}``: the demo photo degraded for ``task`` ("derain" or "dehaze")."""
    path = demo_photo_path()
    clean = read_rgb(path)
    if task == "derain":
        degraded = add_rain(clean)
    elif task == "dehaze":
        degraded = add_haze(clean)
    else:
        raise ImageInputError(f"demo task must be 'derain' or 'dehaze', got {task!r}.")
    return {"name": f"demo_grace_hopper_{task}", "path": str(path), "input": degraded, "reference": clean}
