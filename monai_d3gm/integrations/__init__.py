# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Integrations with other tools of the MONAI ecosystem (MONAI Label / 3D Slicer)."""
