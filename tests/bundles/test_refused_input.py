# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A refused input ends a bundle run with the project's one-line message as the last line and a non-zero status."""

from __future__ import annotations

import pytest

from tests.bundles.bundle_checks import BUNDLES, run_bundle


@pytest.mark.parametrize("name", ["mri_reconstruction_d3gm", "mri_super_resolution_d3gm", "derain_d3gm", "dehaze_d3gm"])
def test_a_missing_input_ends_with_the_projects_message(tmp_path, name):
    missing = tmp_path / "no_such_scan.nii.gz"
    proc = run_bundle(BUNDLES / name, "inference.json", expect_success=False, input_path=str(missing),
                      output_dir=str(tmp_path / "out"))  # fmt: skip
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and str(missing) in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr  # D3GM_TRACEBACK=1 shows it
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_missing_training_folder_ends_with_the_projects_message(tmp_path):
    proc = run_bundle(BUNDLES / "derain_d3gm", "train.json", expect_success=False, dataset_dir=str(tmp_path / "none"),
                      output_dir=str(tmp_path / "runs"))  # fmt: skip
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and "none" in last, proc.stderr[-2000:]


def test_a_slice_refused_while_the_evaluator_runs_is_not_logged_as_an_engine_crash(tmp_path):
    """An all-zero slice is refused inside the evaluator's preprocessing: the run ends with the project's message and
    ignite's "terminating due to exception" log lines are left out (the message says it all)."""
    import numpy as np

    from monai_d3gm.io import write_nifti

    path = write_nifti(np.zeros((16, 16, 3), np.float32), np.eye(4), tmp_path / "padding.nii.gz")
    proc = run_bundle(BUNDLES / "mri_reconstruction_d3gm", "inference.json", expect_success=False,
                      input_path=str(path), output_dir=str(tmp_path / "out"), progress=False)  # fmt: skip
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and "holds only zeros" in last, proc.stderr[-2000:]
    assert "terminating due to exception" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()
