# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from .array import (
    AddKspaceNoise,
    ChannelsToComplex,
    ComplexToChannels,
    EstimateCoilMaps,
    NormalizeByMax,
    SenseAdjoint,
    SimulateKspace,
    UndersampleKspace,
    as_kspace,
    simulated_coil_maps,
)
from .dictionary import (
    AddKspaceNoised,
    ChannelsToComplexd,
    ComplexToChannelsd,
    EstimateCoilMapsd,
    LoadMRISliced,
    NormalizeByMaxd,
    ScaleBackd,
    SenseAdjointd,
    SimulateKspaced,
    UndersampleKspaced,
)
