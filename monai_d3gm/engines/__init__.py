# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .prepare_batch import D3GMPrepareBatch
from .restoration import RestorationPrepareBatch
