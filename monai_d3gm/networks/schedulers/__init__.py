# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from ...noise import ItemNoise, NoiseSource
from .coefficient_decoupled import CoefficientDecoupledScheduler
from .d3gm import D3GMScheduler
from .samplers import D3GMSampler, Samplers, ode_step, posterior_step, sde_step
from .schedules import ThetaSchedules
from .sde import D3GMPredictionType, MeanRevertingSDE, mean_reverting_tables
