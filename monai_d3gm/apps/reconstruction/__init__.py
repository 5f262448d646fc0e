# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI reconstruction: k-space physics (FFTs, masks, coil maps, SENSE), data consistency, readers and writers."""

from __future__ import annotations

from .errors import MRIInputError
