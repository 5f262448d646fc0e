# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Hypothesis profiles for the property-based (fuzz) tests.

* ``ci`` (default): a fixed, derandomised set of examples per property, so CI is deterministic and bounded.
* ``thorough``: many random examples; ``python benchmarks/fuzz_report.py`` runs it and tabulates the outcomes.

Choose one with ``HYPOTHESIS_PROFILE=thorough python -m pytest tests -k fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # CPU timings on a shared 2-core machine are noisy
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=30, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
