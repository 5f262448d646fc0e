# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""D³GM: measure-preserving mean-reverting SDE diffusion for image restoration, as MONAI components."""

from __future__ import annotations

__version__ = "0.6.0"

from . import errors  # noqa: E402  (light: the documented exception types, which bundle configs reference)
