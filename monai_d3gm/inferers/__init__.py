# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .d3gm_inferer import D3GMInferer, NonFiniteSampleError, chain_state, network_input
from .posterior import PosteriorInferer
