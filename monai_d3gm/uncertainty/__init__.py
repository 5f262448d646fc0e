# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Calibrated uncertainty from posterior samples: intervals whose coverage holds on new images of the calibration
distribution (:mod:`.calibration`), and the report that checks it (:mod:`.coverage`)."""

from .calibration import (
    ALL,
    CALIBRATION_FORMAT,
    FOREGROUND_THRESHOLD,
    CalibrationImage,
    IntervalCalibration,
    IntervalScales,
    calibrate_intervals,
    calibration_image,
    foreground_mask,
    image_peak,
    risk_control_scale,
    sample_estimates,
    weights_digest,
)
from .coverage import interval_coverage, spearman
from .workflow import CalibrationWorkflow, estimate_entry, fit_groups, record_calibration

__all__ = [
    "ALL",
    "CALIBRATION_FORMAT",
    "FOREGROUND_THRESHOLD",
    "CalibrationWorkflow",
    "CalibrationImage",
    "IntervalCalibration",
    "IntervalScales",
    "calibrate_intervals",
    "calibration_image",
    "estimate_entry",
    "fit_groups",
    "foreground_mask",
    "image_peak",
    "interval_coverage",
    "record_calibration",
    "risk_control_scale",
    "sample_estimates",
    "spearman",
    "weights_digest",
]
