# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Validation quality per CPU budget: networks trained side by side for the same wall-clock time.

Throughput alone (``mri_train_options.py``) does not say which network restores better after a given number of
CPU-minutes. This script trains each candidate with the MRI bundle's own ``train.json`` (same data, simulation,
chain states, optimiser and seed), from scratch, **at the same time** and on one thread each (so a busy machine
slows them alike), stops both after ``--minutes``, and validates each latest EMA network with the bundle's own
validator (12 slices of the 6 validation people, posterior sampler, 3 steps, data consistency).

    python benchmarks/mri_train_budget.py --minutes 40              # train and validate (2 cores: 2 networks)
    python benchmarks/mri_train_budget.py --validate-only            # validate runs already in --out

``--compare`` picks the pair (training states and logs go to ``--out``, default ``runs/train_budget/COMPARE``,
git-ignored; each run's EMA weights are also written as ``model.pt`` for the other benchmarks, e.g.
``mri_chain_drift.py --weights runs/train_budget/tau/tau-1/model.pt --tau 1``):

* ``networks``: the bundle's ScoreUNet (32, 64, 64, 128) and ScoreNAFNet width 16;
* ``tau``: the bundle's network as D³GM (τ = 2) and as IR-SDE (τ = 1), the paper's ablation;
* ``noise``: the training's complex k-space noise against noiseless k-space;
* ``context``: crops of whole phase-encoding lines (the bundle's 64 x 192, cut after the k-space simulation of the
  whole slice width) against 64 x 64 patches cut from the same simulation, which see a third of the aliasing's line;
* ``mu``: μ of multi-coil k-space as the SENSE adjoint (the paper's) against 5 CG-SENSE iterations
  (``mu_iterations``, in training and in the validator alike; single-coil μ is the same for both);
* ``parameterisation``: what the network predicts: the residual x0 − μ (the bundle's), x0 itself, and the noise ε
  (the paper's score matching), three at once; ε trains without chain states (``chain_prob`` 0), whose noise is
  not a drawn one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from _common import environment, print_table

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "mri_reconstruction_d3gm"
#: train.json's crop of (μ, target) after the k-space simulation: rows of whole phase-encoding lines (along W)
CROP_AFTER_SIMULATION = "train#transforms#transforms#13"
#: train.json's complex k-space noise
KSPACE_NOISE = "train#transforms#transforms#7"
#: comparison -> {candidate name: (folder, overrides of train.json)}
COMPARISONS: dict[str, dict[str, tuple[str, dict]]] = {
    "networks": {
        "ScoreUNet (32, 64, 64, 128), the bundle's": ("scoreunet", {}),
        "ScoreNAFNet width 16": (
            "scorenafnet",
            {
                "network_def": {
                    "_target_": "monai_d3gm.networks.nets.ScoreNAFNet",
                    "spatial_dims": 2,
                    "image_channels": 2,
                    "width": 16,
                }
            },
        ),
    },
    "tau": {
        "D³GM (τ = 2), the bundle's": ("tau-2", {}),
        "IR-SDE (τ = 1)": ("tau-1", {"tau": 1.0}),
    },
    "noise": {
        "complex k-space noise (0.2-2.5 % of the maximum, 9 in 10 slices), the bundle's": ("noise", {}),
        "noiseless k-space": ("noiseless", {f"{KSPACE_NOISE}#prob": 0.0}),
    },
    "context": {
        "64 x 192 crops: whole phase-encoding lines, the bundle's": ("lines", {}),
        "64 x 64 patches: a third of each line": ("patches", {f"{CROP_AFTER_SIMULATION}#roi_size": [64, 64]}),
    },
    "mu": {
        "μ = SENSE adjoint, the bundle's": ("adjoint", {}),
        "μ = CG-SENSE, 5 iterations": ("cg-sense", {"mu_iterations": 5}),
    },
    "parameterisation": {
        "residual x0 − μ, the bundle's": ("residual", {}),
        "x0": ("sample", {"prediction_type": "sample"}),
        "noise ε, no chain states": ("epsilon", {"prediction_type": "epsilon", "chain_prob": 0.0}),
    },
}


def _configs(out: Path, overrides: dict) -> list[str]:
    configs = [str(BUNDLE / "configs" / "train.json")]
    if overrides:
        override = out / "overrides.json"
        override.parent.mkdir(parents=True, exist_ok=True)
        override.write_text(json.dumps(overrides))
        configs.append(str(override))
    return configs


def train(out: Path, minutes: float, candidates: dict[str, tuple[str, dict]]) -> dict[str, float]:
    """Start every candidate's training at once (one thread, no loader worker, no validation), stop after ``minutes``;
    returns the wall seconds each ran."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {}
    for name, (folder, overrides) in candidates.items():
        run = out / folder
        run.mkdir(parents=True, exist_ok=True)
        configs = _configs(run, overrides)
        command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(configs), "--bundle_root",
                   str(BUNDLE), "--output_dir", str(run), "--ckpt_dir", str(run / "models"), "--num_workers", "0",
                   "--val_interval", "100000000", "--save_interval", "100"]  # fmt: skip
        log = (run / "train.log").open("w")
        procs[name] = (subprocess.Popen(command, cwd=BUNDLE, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True), time.time())  # fmt: skip
    time.sleep(minutes * 60)
    seconds = {}
    for name, (proc, start) in procs.items():
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        seconds[name] = time.time() - start
    return seconds


def validate(out: Path, candidates: dict[str, tuple[str, dict]]) -> list[list[str]]:
    rows = []
    for name, (folder, overrides) in candidates.items():
        run = out / folder
        state = run / "checkpoints" / "checkpoint_latest.pt"
        if not state.is_file():
            print(f"{name}: no checkpoint in {state.parent}; skipped")
            continue
        parser = ConfigParser()
        parser.read_config(_configs(run, overrides))
        parser["bundle_root"] = str(BUNDLE)
        parser["device"] = "$torch.device('cpu')"
        checkpoint = torch.load(state, map_location="cpu", weights_only=True)
        network = parser.get_parsed_content("network")
        network.load_state_dict(checkpoint["ema"])
        torch.save(checkpoint["ema"], run / "model.pt")  # for the other benchmarks (--weights)
        iterations = int(checkpoint["trainer"]["iteration"])
        scores = parser.get_parsed_content("validation#validator")(network)
        params = sum(p.numel() for p in network.parameters()) / 1e6
        rows.append([name, f"{params:.2f}", str(iterations), f"{scores['psnr']:.2f} / {scores['ssim']:.3f}",
                     f"{scores['zero_filled_psnr']:.2f} / {scores['zero_filled_ssim']:.3f}"])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock budget of each network")
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="networks", help="which pair to train")
    parser.add_argument("--out", default=None, help="default: runs/train_budget/COMPARE")
    parser.add_argument("--validate-only", action="store_true", help="validate the runs already in --out")
    args = parser.parse_args()
    config = ConfigParser.load_config_file(BUNDLE / "configs" / "train.json")
    for path, check in ((CROP_AFTER_SIMULATION, lambda item: item.get("keys") == ["mu", "target"]),
                        (KSPACE_NOISE, lambda item: item.get("_target_", "").endswith("AddKspaceNoised"))):  # fmt: skip
        item = config
        for key in path.split("#"):
            item = item[int(key) if isinstance(item, list) else key]
        if not check(item):
            sys.exit(f"{path} of train.json is no longer what this script overrides; update the script")
    out = Path(args.out or ROOT / "runs" / "train_budget" / args.compare)
    candidates = COMPARISONS[args.compare]
    if not args.validate_only:
        seconds = train(out, args.minutes, candidates)
        print({name: f"{s / 60:.1f} min" for name, s in seconds.items()})
    header = ["candidate", "M params", "iterations", "validation PSNR / SSIM", "zero-filled"]
    print_table(f"MRI bundle training, equal wall-clock, side by side, one thread each ({environment()})", header,
                validate(out, candidates))  # fmt: skip


if __name__ == "__main__":
    main()
