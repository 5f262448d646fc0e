# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The DICOM reader and writer under pydicom 2.4, the lower end of the declared range (MONAI Label's server still
needs pydicom<3): the DICOM tests run again in a subprocess that sees pydicom 2.4 first on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_dicom_round_trip_under_pydicom_2(tmp_path):
    target = tmp_path / "pydicom2"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), "pydicom==2.4.4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode != 0:
        pytest.skip(f"pydicom 2.4.4 could not be installed (no package index?): {install.stderr[-300:]}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    check = subprocess.run(
        [sys.executable, "-c", "import pydicom; print(pydicom.__version__)"], capture_output=True, text=True, env=env
    )
    assert check.stdout.strip() == "2.4.4", check.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/io/test_dicom.py"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
