# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .score_nafnet import ScoreNAFNet
from .score_unet import ScoreUNet

__all__ = ["ScoreNAFNet", "ScoreUNet"]
