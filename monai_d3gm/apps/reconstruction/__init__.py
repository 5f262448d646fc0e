# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI reconstruction: the training transforms, data consistency, the reconstructor and the bundle runner.

The k-space physics it builds on is :mod:`monai_d3gm.physics`; the MRI readers and writers are :mod:`monai_d3gm.io`.
"""

from __future__ import annotations

from ...errors import MRIInputError
