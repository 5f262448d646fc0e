# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Does the memory guard's estimate bound the real peak? Measured for the shipped bundles' networks on the CPU.

    python benchmarks/memory_guard.py [--sizes 128 256 512] [--batches 1 4]

Each cell runs in a fresh subprocess: the bundle's network samples one batch (2 steps, the guard off) while the
kernel's high-water mark of resident memory is read (``/proc/self/clear_refs`` resets it just before). The table shows
the guard's estimate, the measured peak growth and their ratio; a ratio >= 1 means the guard errs on the safe side.
Linux only (it reads ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import environment, print_table, save_json

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ("mri_reconstruction_d3gm", "mri_super_resolution_d3gm", "derain_d3gm")

CELL = r"""
import json, sys, torch
sys.path.insert(0, {bench!r})
from _common import load_bundle_network
from monai_d3gm.memory import MemoryGuard
torch.manual_seed(0)
net, inferer = load_bundle_network({bundle!r})
inferer.memory_guard = None
channels = net.image_channels
shape = ({batch}, channels, {size}, {size})
mu = torch.rand(shape)
inferer.sample(torch.rand(1, channels, 32, 32), net, num_inference_steps=1, verbose=False)  # warm up the kernels


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024


open("/proc/self/clear_refs", "w").write("5")
base = status("VmRSS")
inferer.sample(mu, net, num_inference_steps=2, verbose=False)
peak = status("VmHWM") - base
print(json.dumps({{"estimate": MemoryGuard().estimate(net, shape), "peak": peak}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--output", help="save the table as JSON")
    args = parser.parse_args()
    rows, cells = [], []
    for bundle in BUNDLES:
        for batch in args.batches:
            for size in args.sizes:
                code = CELL.format(
                    bench=str(ROOT / "benchmarks"), bundle=str(ROOT / "bundles" / bundle), batch=batch, size=size
                )
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                cell = json.loads(out.stdout.strip().splitlines()[-1])
                ratio = cell["estimate"] / max(cell["peak"], 1)
                rows.append([bundle, batch, f"{size}x{size}", cell["estimate"] / 2**20, cell["peak"] / 2**20, ratio])
                cells.append({"bundle": bundle, "batch": batch, "size": size, **cell})
    print_table(
        f"Memory guard estimate against the measured peak RSS growth of sampling ({environment()})",
        ["bundle", "batch", "image", "estimate MiB", "measured MiB", "estimate / measured"],
        rows,
    )
    ratios = [r[-1] for r in rows]
    print(f"\nestimate / measured: min {min(ratios):.2f}, max {max(ratios):.2f}")
    save_json(args.output, {"cells": cells})


if __name__ == "__main__":
    main()
