# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Shared helpers of the benchmark scripts: timing and table printing."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch


def load_bundle_network(bundle, weights=None, **updates) -> tuple[torch.nn.Module, object]:
    """The network (in eval mode, on CPU, with ``weights`` or the bundle's ``models/model.pt``) and the inferer of a
    bundle's ``inference.json``, with config ``updates`` (e.g. ``tau=1.0``)."""
    from pathlib import Path

    from monai.bundle import ConfigParser

    bundle = Path(bundle)
    parser = ConfigParser()
    parser.read_config(bundle / "configs" / "inference.json")
    parser.update({"bundle_root": str(bundle), "progress": False, "device": "$torch.device('cpu')", **updates})
    net = parser.get_parsed_content("network")
    path = weights or bundle / "models" / "model.pt"
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval(), parser.get_parsed_content("d3gm_inferer")


def environment() -> str:
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"cuda={'yes' if torch.cuda.is_available() else 'no'}"
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of ``fn`` (synchronising CUDA before and after)."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each function, calling them in turn ``repeats`` times so machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def save_json(path: str | None, payload: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
