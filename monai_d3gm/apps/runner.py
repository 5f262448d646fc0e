# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What every bundle runner shares: restore the cases in turn, time them, write each one, print a line per case and
write the summary ``metrics.json`` (``{"cases": {NAME: record}, "mean": ...}``) atomically."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import atomic_path

__all__ = ["average_metrics", "check_metrics_backend", "run_cases", "mean_metrics", "report_line", "write_json"]


def check_metrics_backend() -> None:
    """Import torchmetrics' image metrics now, before any sampling, so a broken install fails in a second, not after
    all the sampling has run.

    The usual cause is a torchvision build that does not match torch (a CUDA torchvision beside a CPU torch:
    "operator torchvision::nms does not exist"), which torchmetrics imports when it is present.
    """
    try:
        import torchmetrics.functional.image  # noqa: F401
    except Exception as e:
        first = (str(e).splitlines() or [""])[0]
        raise RuntimeError(
            f"torchmetrics' image metrics cannot be imported ({type(e).__name__}: {first}); "
            "this usually means a torchvision that does not match the installed torch. Uninstall torchvision "
            "(pip uninstall torchvision; monai-d3gm does not need it) or install the build that matches torch."
        ) from e


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2)


def average_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean PSNR/SSIM per method of ``[{method: {"psnr", "ssim"}}, ...]``, skipping empty rows (no reference)."""
    rows = [m for m in rows if m]
    if not rows:
        return {}
    return {m: {q: float(np.mean([r[m][q] for r in rows])) for q in ("psnr", "ssim")} for m in rows[0]}


def mean_metrics(cases: dict[str, Any]) -> dict[str, Any]:
    """Mean PSNR/SSIM per method and mean seconds over the cases that have a reference."""
    with_ref = [r for r in cases.values() if r["metrics"]]
    if not with_ref:
        return {}
    return {
        "metrics": average_metrics([r["metrics"] for r in with_ref]),
        "seconds": float(np.mean([r["seconds"] for r in cases.values()])),
        "num_cases": len(with_ref),
    }


def report_line(name: str, record: dict[str, Any]) -> str:
    """``NAME: [4.0x, ]1.2 s | method PSNR .. dB SSIM .. | ...``."""
    m = record["metrics"]
    accel = record.get("acceleration")
    line = f"{name}: " + (f"{accel:.1f}x, " if accel else "") + f"{record['seconds']:.1f} s"
    if m:
        line += "".join(f" | {k} PSNR {v['psnr']:.2f} dB SSIM {v['ssim']:.4f}" for k, v in m.items())
    return line


def run_cases(
    cases: Iterable[tuple[str, Any]],
    restore: Callable[[Any], dict[str, Any]],
    write: Callable[[str, Any, dict[str, Any], float], dict[str, Any]],
    output_dir: str | os.PathLike,
    **summary_extra: Any,
) -> dict[str, Any]:
    """Restore and write every ``(name, case)``; returns and writes the summary.

    Args:
        cases: ``(name, case)`` pairs; a generator loads each case only when its turn comes.
        restore: ``restore(case) -> result``.
        write: ``write(name, case, result, seconds) -> record`` (the per-case files and ``{"metrics", "seconds"...}``).
        output_dir: where ``metrics.json`` goes (created).
        summary_extra: more entries of the summary.
    """
    check_metrics_backend()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, Any] = {}
    for name, case in cases:
        start = time.perf_counter()
        result = restore(case)
        seconds = time.perf_counter() - start
        records[name] = write(name, case, result, seconds)
        print(report_line(name, records[name]), flush=True)
    summary = {"cases": records, "mean": mean_metrics(records), **summary_extra}
    if len(records) > 1 and summary["mean"]:
        print(report_line(f"mean of {len(records)} cases", summary["mean"]), flush=True)
    write_json(output_dir / "metrics.json", summary)
    return summary
