# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Readers and writers of MRI data: fastMRI and ISMRMRD/MRD ``.h5``, BART ``.cfl``, NIfTI and DICOM series; the k-space
formats also as MONAI ``ImageReader``s (:mod:`.readers`) for ``LoadImage`` / ``LoadImaged``.

Every reader and writer raises :class:`~monai_d3gm.errors.MRIInputError` early on bad input, and
every writer is atomic (a temporary file or folder beside the output, renamed into place at the end).
"""

from __future__ import annotations

from .bart import kspace_from_cfl, read_cfl, write_cfl
from .dicom import LPS_TO_RAS, DicomSeries, read_dicom_series, write_dicom_series
from .fastmri import FastMRIData, read_fastmri, write_fastmri
from .ismrmrd import MRDData, noise_prewhitening_matrix, parse_ismrmrd_header, prewhiten, read_ismrmrd
from .load import MRIVolume, load_mri_slice, mri_format
from .nifti import read_nifti, write_nifti
from .readers import BartReader, FastMRIReader, ISMRMRDReader, KspaceNpyReader, KspaceReader

__all__ = [
    "LPS_TO_RAS",
    "BartReader",
    "FastMRIReader",
    "ISMRMRDReader",
    "KspaceNpyReader",
    "KspaceReader",
    "DicomSeries",
    "FastMRIData",
    "MRDData",
    "MRIVolume",
    "kspace_from_cfl",
    "load_mri_slice",
    "mri_format",
    "noise_prewhitening_matrix",
    "parse_ismrmrd_header",
    "prewhiten",
    "read_cfl",
    "read_dicom_series",
    "read_fastmri",
    "read_ismrmrd",
    "read_nifti",
    "write_cfl",
    "write_dicom_series",
    "write_fastmri",
    "write_nifti",
]
