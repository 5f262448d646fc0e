# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""How well intervals hold a reference: marginal and size-stratified coverage, width, and the rank correlation of
width with the error (Angelopoulos et al., ICML 2022, report the same: an interval that covers on average but not
where it is narrow does not adapt)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import D3GMInputError
from .calibration import FOREGROUND_THRESHOLD, foreground_mask, image_peak

__all__ = ["interval_coverage", "spearman"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (ties take their mean rank); NaN when either is constant."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size < 2:
        raise D3GMInputError(f"spearman needs two arrays of one size >= 2, got {a.size} and {b.size}.")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.arange(x.size, dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if counts.max() > 1:  # mean rank of each group of ties
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def interval_coverage(
    lower: Any,
    upper: Any,
    reference: Any,
    mean: Any | None = None,
    mask: Any | None = None,
    strata: int = 5,
    threshold: float = FOREGROUND_THRESHOLD,
) -> dict[str, Any]:
    """Coverage of ``[lower, upper]`` over the foreground pixels of one image (or a stack of them).

    Args:
        lower, upper: the interval (*spatial).
        reference: the true image (its magnitude for complex input).
        mean: the interval's centre, for the rank correlation of width with |reference - mean| (default the midpoint).
        mask: the pixels scored (default :func:`~.calibration.foreground_mask` of the reference at ``threshold``;
            0: every pixel, as for photos).
        strata: width quantiles of the size-stratified coverage (5: quintiles).

    Returns:
        ``{"coverage", "coverage_by_width": [per stratum, narrowest first], "width" (mean, in units of the
        reference's peak), "spearman" (width with |error|), "pixels"}``.
    """
    lo, hi = torch.as_tensor(lower).float(), torch.as_tensor(upper).float()
    ref = torch.as_tensor(reference)
    ref = ref.abs().float() if ref.is_complex() else ref.float()
    if not lo.shape == hi.shape == ref.shape:
        raise D3GMInputError(
            f"lower {tuple(lo.shape)}, upper {tuple(hi.shape)} and reference {tuple(ref.shape)} must share a shape."
        )
    keep = foreground_mask(ref, threshold) if mask is None else torch.as_tensor(mask).bool()
    centre = (lo + hi) / 2 if mean is None else torch.as_tensor(mean).float()
    covered = ((ref >= lo) & (ref <= hi))[keep].numpy()
    width = ((hi - lo)[keep] / image_peak(ref)).numpy()
    error = (ref - centre).abs()[keep].numpy()
    if covered.size == 0:
        raise D3GMInputError("no foreground pixel to score the interval on.")
    order = np.argsort(width, kind="stable")
    by_width = [float(covered[part].mean()) for part in np.array_split(order, strata) if part.size]
    return {
        "coverage": float(covered.mean()),
        "coverage_by_width": by_width,
        "width": float(width.mean()),
        "spearman": spearman(width, error) if covered.size > 1 else float("nan"),
        "pixels": int(covered.size),
    }
