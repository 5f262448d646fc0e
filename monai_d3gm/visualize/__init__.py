# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Pictures of results: side-by-side input / output / reference / error panels."""

from __future__ import annotations

from .figures import save_comparison

__all__ = ["save_comparison"]
