# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Image metrics and the input check they share across the MRI tasks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import MRIInputError

__all__ = ["average_metrics", "magnitude_metrics", "mean_metrics", "real_slice"]


def magnitude_metrics(image: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """PSNR and SSIM (torchmetrics) of magnitude images (H, W), both divided by the reference's maximum."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    ref = reference.abs().float()
    scale = float(ref.max())
    if scale <= 0:
        raise MRIInputError("the reference image is all zeros; metrics need a non-empty reference.")
    a, b = (image.abs().float() / scale)[None, None], (ref / scale)[None, None]
    return {
        "psnr": float(peak_signal_noise_ratio(a, b, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(a, b, data_range=1.0)),
    }


def real_slice(image: Any, where: str) -> torch.Tensor:
    """An image-domain slice as a real float32 tensor; complex, non-numeric and non-finite images are refused."""
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise MRIInputError(
            f"{where}: the image has dtype {array.dtype}; an image-domain input must be a real magnitude image "
            "(pass complex data as k-space instead)."
        )
    if array.ndim != 2:
        raise MRIInputError(f"{where}: the image must be one 2-D slice (H, W), got shape {array.shape}.")
    with np.errstate(over="ignore"):
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise MRIInputError(f"{where}: the image contains NaN or Inf values (or values beyond float32's range).")
    return torch.from_numpy(array)


def average_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean PSNR/SSIM per method of ``[{method: {"psnr", "ssim"}}, ...]``, skipping empty rows (no reference)."""
    rows = [m for m in rows if m]
    if not rows:
        return {}
    return {m: {q: float(np.mean([r[m][q] for r in rows])) for q in ("psnr", "ssim")} for m in rows[0]}


def mean_metrics(cases: dict[str, Any]) -> dict[str, Any]:
    """Mean PSNR/SSIM per method and mean seconds over the case records (``{"metrics", "seconds"}``) that have a
    reference."""
    with_ref = [r for r in cases.values() if r["metrics"]]
    if not with_ref:
        return {}
    return {
        "metrics": average_metrics([r["metrics"] for r in with_ref]),
        "seconds": float(np.mean([r["seconds"] for r in cases.values()])),
        "num_cases": len(with_ref),
    }
