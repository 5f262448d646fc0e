# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The one exception type that bad photo inputs raise."""

from __future__ import annotations

from ...errors import D3GMInputError

__all__ = ["ImageInputError"]


class ImageInputError(D3GMInputError):
    """Raised early, before any output is written, when an image or a paired dataset cannot be used; the message names
    the file, the problem and the fix."""
