# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

"""
CPU benchmark of the score networks in their recommended configurations.

For every configuration: the number of parameters (millions), the median forward time (batch 1, ``torch.no_grad``)
at 128x128 and 320x320, and the median training-step time (forward + backward + Adam step) at batch 8 on 64x64
patches. Run with ``python benchmarks/networks.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from monai_d3gm.networks.nets import ScoreNAFNet, ScoreUNet

CONFIGS: dict[str, tuple[int, Callable[[], nn.Module]]] = {
    "ScoreUNet 1ch (32,64,64)": (1, lambda: ScoreUNet(image_channels=1, channels=(32, 64, 64))),
    "ScoreUNet 2ch (32,64,64)": (2, lambda: ScoreUNet(image_channels=2, channels=(32, 64, 64))),
    "ScoreUNet 1ch (64,128,128)": (1, lambda: ScoreUNet(image_channels=1, channels=(64, 128, 128))),
    "ScoreUNet 2ch (64,128,128)": (2, lambda: ScoreUNet(image_channels=2, channels=(64, 128, 128))),
    "ScoreNAFNet 3ch width16": (3, lambda: ScoreNAFNet(image_channels=3, width=16)),
    "ScoreNAFNet 3ch width32": (3, lambda: ScoreNAFNet(image_channels=3, width=32)),
}


def _times(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _randomise_zero_init(net: nn.Module) -> None:
    """Give zero-initialised weights (DiffusionModelUNet convolutions, NAFNet beta/gamma) random values, so that
    the benchmark runs the arithmetic of a trained network (same cost, but no all-zero shortcut can hide work)."""
    with torch.no_grad():
        for p in net.parameters():
            if torch.count_nonzero(p) == 0:
                p.normal_(0.0, 0.02)


def benchmark(name: str, image_channels: int, factory: Callable[[], nn.Module], repeats: int) -> dict:
    torch.manual_seed(0)
    net = factory()
    _randomise_zero_init(net)
    result: dict = {"network": name, "params_M": sum(p.numel() for p in net.parameters()) / 1e6}

    net.eval()
    for size in (128, 320):
        x = torch.randn(1, 2 * image_channels, size, size)
        t = torch.tensor([50])
        with torch.no_grad():
            times = _times(lambda x=x, t=t: net(x, t), repeats)
        result[f"fwd_{size}_s"] = statistics.median(times)
        result[f"fwd_{size}_min_s"] = min(times)

    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.randn(8, 2 * image_channels, 64, 64)
    target = torch.randn(8, image_channels, 64, 64)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(net(x, torch.randint(0, 101, (8,))), target)
        loss.backward()
        optimizer.step()

    times = _times(train_step, max(2, repeats - 2))
    result["train_b8_64_s"] = statistics.median(times)
    result["train_b8_64_min_s"] = min(times)
    return result


def format_table(rows: list[dict]) -> str:
    header = f"{'network':<28} {'params(M)':>9} {'fwd 128² (ms)':>14} {'fwd 320² (ms)':>14} {'train b8 64² (ms)':>18}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['network']:<28} {r['params_M']:>9.3f} {1e3 * r['fwd_128_s']:>14.1f} {1e3 * r['fwd_320_s']:>14.1f}"
            f" {1e3 * r['train_b8_64_s']:>18.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 instead of 7)")
    parser.add_argument("--json", type=Path, default=None, help="also save the results as JSON to this path")
    parser.add_argument("--only", default=None, help="only run the configurations whose name contains this text")
    args = parser.parse_args()

    repeats = 3 if args.quick else 7
    info = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeats": repeats,
    }
    print(
        f"torch {info['torch']} | threads {info['threads']} | python {info['python']} | {info['machine']} | "
        f"median of {repeats} forward runs (batch 1, no_grad) and {max(2, repeats - 2)} training steps "
        "(batch 8, 64x64, forward+backward+Adam), after 1 warm-up each"
    )
    rows = []
    for name, (image_channels, factory) in CONFIGS.items():
        if args.only is not None and args.only not in name:
            continue
        rows.append(benchmark(name, image_channels, factory, repeats))
        print(f"  done: {name}", flush=True)
    print(format_table(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "results": rows}, indent=2))
        print(f"saved {args.json}")


if __name__ == "__main__":
    main()
