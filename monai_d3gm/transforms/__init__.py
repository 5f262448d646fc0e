# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What every task's transforms share (checked keys, the comparison figure); the physics transforms live with their
task (``apps/*/transforms``)."""

from __future__ import annotations

from .figures import SaveComparisond, metrics_title
from .io import LoadMRISliced
from .posterior import PosteriorIntervald, PosteriorMeand
from .utils import checked_copy, init_keys, run_chain
from .writers import SaveCased, SaveMRISliced

__all__ = [
    "LoadMRISliced",
    "PosteriorIntervald",
    "PosteriorMeand",
    "SaveCased",
    "SaveComparisond",
    "SaveMRISliced",
    "checked_copy",
    "init_keys",
    "metrics_title",
    "run_chain",
]
