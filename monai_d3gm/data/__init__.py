# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .seeded import SeededDataset
from .synthetic import SyntheticRestorationDataset, make_synthetic_pairs
