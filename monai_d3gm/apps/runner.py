# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The whole-volume runners' loop: restore the volumes in turn, time them, write each one, print a line per volume and
write the summary ``metrics.json`` (``{"cases": {NAME: record}, "mean": ...}``) atomically, as
:class:`~monai_d3gm.handlers.CaseReport` does for the bundles' per-slice evaluator."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..handlers.case_report import check_metrics_backend, report_line
from ..io.files import write_json
from ..metrics import mean_metrics

__all__ = ["run_cases"]


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
