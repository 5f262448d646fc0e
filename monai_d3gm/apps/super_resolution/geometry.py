# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Geometry of an up-sampled slice: the same field of view on a ``scale`` times finer in-plane grid."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from ...io.dicom import LPS_TO_RAS, DicomSeries, ds_number

__all__ = ["upsampled_affine", "upsampled_series"]


def upsampled_affine(affine: np.ndarray, scale: int, axes: Sequence[int]) -> np.ndarray:
    """The affine of the HR grid: voxel size divided by ``scale`` along ``axes``, the same field of view.

    HR voxel ``j`` sits at LR voxel coordinate ``(j + 0.5) / scale - 0.5`` (see
    :mod:`monai_d3gm.physics.resolution`), so the first HR voxel centre moves by ``-(scale - 1) / (2 scale)``
    LR voxels along each up-sampled axis.

    Args:
        affine: 4x4 voxel-to-world matrix of the LR image.
        scale: the up-sampling factor.
        axes: the voxel axes that are up-sampled (the in-plane ones).
    """
    m = np.eye(4)
    for a in axes:
        m[a, a] = 1.0 / scale
        m[a, 3] = -(scale - 1) / (2.0 * scale)
    return np.asarray(affine, dtype=np.float64) @ m


def upsampled_series(series: DicomSeries, volume: np.ndarray, scale: int, slices: Sequence[int]) -> DicomSeries:
    """A :class:`DicomSeries` for the HR ``volume`` (len(slices), s rows, s cols) made from ``series``' ``slices``.

    Each dataset gets ``PixelSpacing`` divided by ``scale`` and the ``ImagePositionPatient`` of the HR grid's first
    voxel (same field of view); orientation, slice positions and study tags are kept, so the written series opens
    aligned with the input in any viewer.
    """
    affine = upsampled_affine(series.affine, scale, axes=(1, 2))
    lps = LPS_TO_RAS @ affine
    datasets = []
    for i in slices:
        ds = copy.deepcopy(series.datasets[i])
        position = lps @ np.array([i, 0.0, 0.0, 1.0])
        ds.ImagePositionPatient = [ds_number(float(v))[0] for v in position[:3]]
        ds.PixelSpacing = [ds_number(float(v) / scale)[0] for v in series.spacing[1:]]
        datasets.append(ds)
    spacing = (series.spacing[0], series.spacing[1] / scale, series.spacing[2] / scale)
    shift = np.eye(4)
    shift[0, 3] = slices[0]
    return DicomSeries(np.asarray(volume, dtype=np.float32), affine @ shift, datasets, spacing)
