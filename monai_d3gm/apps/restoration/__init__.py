# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Photo restoration (deraining, dehazing): RGB readers and writers, paired datasets, tiled restoration, metrics."""

from __future__ import annotations

from ...errors import ImageInputError
from .io import read_rgb, read_rgb_uint8, write_rgb
from .pairs import find_pairs
from .tiling import TiledRestoration
