# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Side-by-side comparison figures (matplotlib, Agg backend), written atomically."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import D3GMInputError
from ..utils import atomic_path


def _as_image(a) -> np.ndarray:
    arr = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    arr = np.squeeze(arr)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)  # channel-first RGB -> channel-last
    if arr.ndim not in (2, 3):
        raise D3GMInputError(f"a panel must be a 2-D image or an RGB image, got shape {arr.shape}.")
    return arr.astype(np.float32)


def save_comparison(
    path: str | os.PathLike,
    panels: Mapping[str, object],
    reference_key: str | None = "reference",
    output_key: str | None = "output",
    error_gain: float = 1.0,
    title: str | None = None,
    dpi: int = 100,
    error_panels: Sequence[str] = (),
) -> Path:
    """Save panels side by side as a PNG, plus an error map ``|output - reference|`` when both are present.

    Grey-scale panels share one intensity window (0 to the reference's maximum, or to the largest panel maximum),
    so that brightness differences are real; the error map has its own colour bar.

    Args:
        path: the PNG to write (written to a temporary file beside it and renamed into place).
        panels: title -> image (H, W), (H, W, 3), (3, H, W), complex images shown as magnitude; ``None`` values are
            skipped.
        reference_key: the panel that is the reference.
        output_key: the panel whose error against the reference is shown.
        error_gain: the error map's window is ``[0, max(reference) / error_gain]``.
        title: figure title (e.g. metrics).
        dpi: resolution.
        error_panels: panels drawn after the error map in its colours and window (e.g. an interval's half-width,
            which holds the reference where it exceeds the error).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    images = {k: _as_image(v) for k, v in panels.items() if v is not None}
    if not images:
        raise D3GMInputError("save_comparison needs at least one panel.")
    ref = images.get(reference_key) if reference_key else None
    vmax = float(ref.max()) if ref is not None else max(float(v.max()) for v in images.values())
    vmax = vmax if vmax > 0 else 1.0
    error = None
    if ref is not None and output_key in images and images[output_key].shape == ref.shape:
        error = np.abs(images[output_key] - ref)
        if error.ndim == 3:
            error = error.mean(-1)
    maps = {k: images.pop(k) for k in list(images) if k in error_panels}
    n = len(images) + (error is not None) + len(maps)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, (name, img) in zip(axes[0], images.items()):
        if img.ndim == 2:
            ax.imshow(img, cmap="gray", vmin=0.0, vmax=vmax)
        else:
            ax.imshow(np.clip(img, 0.0, 1.0))
        ax.set_title(textwrap.fill(name, 24), fontsize=9)
    gain = f" x{error_gain:g}" if error_gain != 1 else ""
    coloured = ({} if error is None else {f"|{output_key} - {reference_key}|{gain}": error}) | {
        f"{k}{gain}": (v.mean(-1) if v.ndim == 3 else v) for k, v in maps.items()
    }
    for ax, (label, image) in zip(axes[0][len(images) :], coloured.items()):
        im = ax.imshow(image, cmap="inferno", vmin=0.0, vmax=vmax / error_gain)
        ax.set_title(textwrap.fill(label, 24), fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes[0]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return path
