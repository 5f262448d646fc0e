# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .case_report import CaseReport
from .checkpoint_saver import AtomicCheckpointSaver, atomic_save, export_state_dict
from .loss_logger import LossLogger
from .lr_schedule import IterationLrSchedule
from .validation_saver import ValidationSaver
