# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The atomic-write helper that every writer of the package uses."""

from __future__ import annotations

import stat

import pytest

from monai_d3gm.utils import atomic_path


def test_atomic_path_replaces_on_success_with_readable_permissions(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with atomic_path(target, suffix=".json") as tmp:
        assert tmp.endswith(".json") and target.read_text() == "old"
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
