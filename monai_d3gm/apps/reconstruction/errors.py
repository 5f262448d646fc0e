# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The one exception type that bad MRI inputs raise."""

from __future__ import annotations

from ...errors import D3GMInputError

__all__ = ["MRIInputError"]


class MRIInputError(D3GMInputError):
    """Raised early, before any output is written, when an MRI input cannot be used.

    The message names the file or argument, the problem, and the fix (e.g. "missing HDF5 dataset 'kspace' in
    file.h5: a fastMRI file holds k-space under 'kspace'; pass --input_path to a fastMRI .h5").
    """
