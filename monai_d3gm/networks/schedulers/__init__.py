# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .coefficient_decoupled import CoefficientDecoupledScheduler
from .d3gm import D3GMPredictionType, D3GMSampler, D3GMScheduler, euler_maruyama_forward, mean_reverting_tables
from .noise import ItemNoise, NoiseSource
from .schedules import ThetaSchedules
