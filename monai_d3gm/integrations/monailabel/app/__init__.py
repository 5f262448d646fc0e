# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The sample MONAI Label app (``main.py``; MONAI Label loads it from this folder, it needs ``monailabel``)."""
