# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The demo input every MRI bundle ships without data: a slice of nilearn's MNI152 template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import MRIInputError
from ..io.nifti import read_nifti

__all__ = ["demo_slice", "mni152_template_path"]


def mni152_template_path() -> Path:
    """The MNI ICBM152 2009a T1 template inside the installed nilearn package (no download)."""
    try:
        path = resources.files("nilearn.datasets") / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    except ModuleNotFoundError:
        raise MRIInputError(
            "the demo case needs nilearn's bundled MNI152 template: `pip install nilearn` (a dependency of "
            "monai-d3gm), or pass --input_path with your own data."
        ) from None
    if not path.is_file():
        raise MRIInputError(f"nilearn is installed but {path} is missing; reinstall nilearn or pass --input_path.")
    return Path(str(path))


def demo_slice(slice_index: int = 110) -> tuple[np.ndarray, np.ndarray, Path]:
    """An axial slice of nilearn's MNI152 T1 template (anterior up), scaled to its 99.8th percentile and clipped to
    [0, 1] like the training slices, with the affine of the slice as a one-slice volume and the template's path."""
    path = mni152_template_path()
    volume, affine, _ = read_nifti(path)
    image = np.rot90(volume[:, :, slice_index]).astype(np.float32)  # rows: anterior -> posterior, cols: x
    image = np.clip(image / max(float(np.percentile(image, 99.8)), 1e-8), 0.0, 1.0)
    n = volume.shape[1]
    rot = np.array([[0, 1, 0, 0], [-1, 0, 0, n - 1], [0, 0, 1, slice_index], [0, 0, 0, 1]], dtype=np.float64)
    return np.ascontiguousarray(image), affine @ rot, path
