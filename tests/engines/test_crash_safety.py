# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Crash-safe training: a run killed with SIGKILL at a random moment resumes from its last checkpoint, no
checkpoint is ever half-written, and the resumed run's losses equal those of an uninterrupted run with the same seed."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from monai.bundle import ConfigParser
out, epochs = sys.argv[1], int(sys.argv[2])
parser = ConfigParser()
parser.read_config(sys.argv[3])
parser.update({"output_dir": out, "max_epochs": epochs, "save_interval": 1})
parser["handlers"].append({"_target_": "monai_d3gm.handlers.LossLogger", "path": out + "/loss.csv", "interval": 1})
parser.get_parsed_content("run", lazy=False)
"""
EPOCHS = 4  # 16 iterations of the tiny synthetic config, a checkpoint after every one


def _command(out: Path) -> list[str]:
    config = ROOT / "tests" / "testing_data" / "train_synthetic.json"
    return [sys.executable, "-c", SCRIPT, str(out), str(EPOCHS), str(config)]


def _losses(out: Path) -> dict[int, float]:
    """The last logged loss of every iteration (a resumed run logs the iterations after its checkpoint again)."""
    with open(out / "loss.csv") as f:
        return {int(r["iteration"]): float(r["loss"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_a_random_moment_then_resume_gives_the_uninterrupted_losses(tmp_path, seed):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_command(tmp_path / "full"), check=True, capture_output=True, env=env, timeout=300)
    full = _losses(tmp_path / "full")
    assert len(full) == 4 * EPOCHS

    out = tmp_path / "killed"
    latest = out / "checkpoints" / "checkpoint_latest.pt"
    proc = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(seed).uniform(0.0, 1.5))  # anywhere in the run, mid-save included
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # whatever is on disk now is whole: every checkpoint loads, and no temporary file is mistaken for one
    for path in (out / "checkpoints").glob("checkpoint_*.pt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert {"network", "optimizer", "trainer", "prepare_batch"} <= set(state)
    at_kill = torch.load(latest, map_location="cpu", weights_only=True)["trainer"]["iteration"]

    subprocess.run(_command(out), check=True, capture_output=True, env=env, timeout=300)  # resume
    resumed = _losses(out)
    assert sorted(resumed) == sorted(full)
    torch.testing.assert_close(
        torch.tensor([resumed[i] for i in sorted(full)]), torch.tensor([full[i] for i in sorted(full)]),
        rtol=1e-5, atol=0.0,
    )  # fmt: skip
    final = torch.load(out / "checkpoints" / "checkpoint_latest.pt", weights_only=True)["trainer"]["iteration"]
    assert final == 4 * EPOCHS and at_kill <= final
