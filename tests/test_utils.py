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


def test_documented_errors_end_the_process_with_their_message(capsys, monkeypatch):
    import sys

    from monai_d3gm.errors import D3GMInputError, documented_cause, report_documented_errors

    try:
        try:
            raise D3GMInputError("scan.h5 is truncated;\n copy it again.")
        except D3GMInputError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression") from e  # what MONAI's parser raises
    except RuntimeError as wrapped:
        error = wrapped
    assert isinstance(documented_cause(error), D3GMInputError)
    assert documented_cause(RuntimeError("other")) is None
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *a: seen.append(a))
    monkeypatch.delenv("D3GM_TRACEBACK", raising=False)
    report_documented_errors()
    report_documented_errors()  # idempotent: one hook
    sys.excepthook(type(error), error, error.__traceback__)
    assert capsys.readouterr().err == "error: scan.h5 is truncated; copy it again.\n" and not seen
    other = KeyError("x")
    sys.excepthook(KeyError, other, None)  # anything else goes to the previous hook
    assert seen == [(KeyError, other, None)]


def test_a_broken_metrics_install_fails_before_any_sampling(tmp_path, monkeypatch):
    import sys

    from monai_d3gm.apps.runner import run_cases

    restored = []
    monkeypatch.setitem(sys.modules, "torchmetrics.functional.image", None)  # import fails, as with a bad torchvision
    with pytest.raises(RuntimeError, match="torchvision that does not match"):
        run_cases([("case", 1)], restored.append, lambda *a: {}, tmp_path / "out")
    assert restored == [] and not (tmp_path / "out").exists()


def test_a_bug_raised_while_handling_an_input_error_keeps_its_traceback():
    from monai_d3gm.errors import D3GMInputError, documented_cause

    try:
        try:
            raise D3GMInputError("not this format")
        except D3GMInputError:
            raise KeyError("a real bug") from None  # a fallback that fails: not the user's input
    except KeyError as e:
        assert documented_cause(e) is None
    try:
        try:
            raise D3GMInputError("bad file")
        except D3GMInputError:
            raise KeyError("during handling")  # noqa: B904  (implicit context is followed)
    except KeyError as e:
        assert isinstance(documented_cause(e), D3GMInputError)
