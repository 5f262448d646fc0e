# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Test helpers: where the project's real data lies, and how to skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared/data`` beside the repository (always present in CI; absent on a user's machine)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path inside ``../shared/data``; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lies in ../shared/data beside the repository in CI)")
    return path
