# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What every task's transforms share; the transforms themselves live with their task (``apps/*/transforms``)."""

from __future__ import annotations

from .utils import checked_copy, init_keys

__all__ = ["checked_copy", "init_keys"]
