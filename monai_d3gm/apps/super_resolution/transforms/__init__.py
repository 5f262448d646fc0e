# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .array import DEGRADATIONS, SimulateLowResolution
from .dictionary import SimulateLowResolutiond
