# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MONAI Label: serve the monai-d3gm bundles as image-to-image models (see ``docs/slicer.md``)."""

from __future__ import annotations

from .infer import BUNDLE_OUTPUTS, D3GMInferTask, has_monailabel, sample_app_dir

__all__ = ["BUNDLE_OUTPUTS", "D3GMInferTask", "has_monailabel", "sample_app_dir"]
