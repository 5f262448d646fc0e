# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The README's Python examples run as written (those that need no user file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    code = BLOCKS[index]
    if "brain.cfl" in code:  # needs the user's own file: check that it at least compiles
        compile(code, f"README block {index}", "exec")
        return
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README block {index}", "exec"), {})
