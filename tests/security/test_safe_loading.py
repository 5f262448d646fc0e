# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Bundles come from the internet: a crafted checkpoint that would run code when unpickled is refused by every load
path (bundle weights, training resume, state-dict export), and the code never runs."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_d3gm.handlers import AtomicCheckpointSaver, export_state_dict
from tests.bundles.bundle_checks import BUNDLES


class _Payload:
    """Unpickling this calls ``Path(marker).touch()``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _crafted(path: Path, marker: Path) -> Path:
    torch.save({"ema": {"weight": torch.zeros(1)}, "network": _Payload(marker)}, path, pickle_protocol=2)
    return path


def test_the_payload_really_runs_code_with_a_plain_unpickler(tmp_path):
    marker = tmp_path / "pwned"
    path = _crafted(tmp_path / "evil.pt", marker)
    torch.load(path, weights_only=False)  # the unsafe load this project never does
    assert marker.exists()


def test_export_and_resume_refuse_the_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = _crafted(tmp_path / "checkpoint_latest.pt", marker)
    with pytest.raises(pickle.UnpicklingError):
        export_state_dict(path, "ema", tmp_path / "model.pt")
    from ignite.engine import Engine

    net = torch.nn.Linear(1, 1)
    saver = AtomicCheckpointSaver(save_dir=tmp_path, save_dict={"network": net}, save_interval=1)
    engine = Engine(lambda e, b: None)
    saver.attach(engine)
    with pytest.raises(pickle.UnpicklingError):
        engine.run([0], max_epochs=1)
    assert not marker.exists() and not (tmp_path / "model.pt").exists()


def test_a_bundle_with_crafted_weights_is_refused(tmp_path):
    import shutil

    bundle = tmp_path / "mri_reconstruction_d3gm"
    shutil.copytree(BUNDLES / "mri_reconstruction_d3gm", bundle, ignore=shutil.ignore_patterns("eval", "runs"))
    marker = tmp_path / "pwned"
    _crafted(bundle / "models" / "model.pt", marker)
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle / "configs" / "inference.json"),
           "--bundle_root", str(bundle), "--output_dir", str(tmp_path / "out"), "--progress", "False"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Weights only load failed" in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "out" / "metrics.json").exists()  # nothing written from a refused bundle


def test_an_unknown_config_target_fails_with_its_name(tmp_path):
    bundle = BUNDLES / "mri_reconstruction_d3gm"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle / "configs" / "inference.json"),
           "--bundle_root", str(bundle), "--output_dir", str(tmp_path / "out"),
           "--network_def#_target_", "monai_d3gm.networks.nets.NoSuchNet"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Cannot locate class or function path: 'monai_d3gm.networks.nets.NoSuchNet'" in proc.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()
