# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

from ....transforms.io import LoadMRISliced  # the loader is shared by the MRI tasks; importable here too
from .array import (
    AbsorbBackgroundPhase,
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
    AbsorbBackgroundPhased,
    AddKspaceNoised,
    ChannelsToComplexd,
    ComplexToChannelsd,
    EstimateCoilMapsd,
    NormalizeByMaxd,
    ScaleBackd,
    SenseAdjointd,
    SimulateKspaced,
    UndersampleKspaced,
)
from .inference import (
    AlignPhaseEncodingd,
    CheckMRISliced,
    CoilMapsd,
    UndersampleAcquisitiond,
    phase_encoding_along_h,
    reconstruction_preprocessing,
)
