# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Applications built on the D³GM components."""

from __future__ import annotations
