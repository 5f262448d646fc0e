# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""What a bundle reports of each restored case: ``NAME/metrics.json``, one printed line, and the summary.

Attach :class:`CaseReport` to the inference ``SupervisedEvaluator`` (``val_handlers``) after the postprocessing that
writes the case's files (under ``"files"``) and computes its metrics (under ``"metrics"``). The summary
``metrics.json`` of the output folder is ``{"cases": {NAME: record}, "mean": ...}``; every file is written
atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.engines.utils import IterationEvents
from monai.utils import min_version, optional_import

from ..io.files import write_json
from ..metrics import mean_metrics

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["CaseReport", "check_metrics_backend", "report_line"]


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


def report_line(name: str, record: Mapping[str, Any]) -> str:
    """``NAME: [4.0x, ]1.2 s | method PSNR .. dB SSIM .. | ...``."""
    m = record["metrics"]
    accel = record.get("acceleration")
    line = f"{name}: " + (f"{accel:.1f}x, " if accel else "") + f"{record['seconds']:.1f} s"
    if m:
        line += "".join(f" | {k} PSNR {v['psnr']:.2f} dB SSIM {v['ssim']:.4f}" for k, v in m.items())
    return line


class CaseReport:
    """Write each case's record, print a line for it, and write the summary when the run ends.

    A case's record is ``{"input": data["path"], <record_keys>..., "seconds", "metrics", "files"}``, taken from the
    case's data after postprocessing; ``seconds`` runs from loading the case to the end of its sampling. The summary
    also goes to ``engine.state.metrics`` as ``{"<method>_psnr": ..., "<method>_ssim": ...}``.

    Args:
        output_dir: where ``NAME/metrics.json`` and the summary ``metrics.json`` go (created).
        record_keys: further entries of a case's record, copied from its data (e.g. "format", "acceleration").
        summary: further entries of the summary.
        name_key: the key of the case's name.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        record_keys: Sequence[str] = (),
        summary: Mapping[str, Any] | None = None,
        name_key: str = "name",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.record_keys = list(record_keys)
        self.summary = dict(summary or {})
        self.name_key = name_key
        self.records: dict[str, Any] = {}
        self._start = self._end = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._tick_start)
        engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self._tick_end)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        check_metrics_backend()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.records = {}

    def _tick_start(self, engine: Engine) -> None:
        self._start = time.perf_counter()

    def _tick_end(self, engine: Engine) -> None:
        self._end = time.perf_counter()

    def iteration_completed(self, engine: Engine) -> None:
        data = {**engine.state.batch, **engine.state.output}
        name = data[self.name_key]
        record = {
            "input": data.get("path"),
            **{k: data.get(k) for k in self.record_keys},
            "seconds": round(self._end - self._start, 2),
            "metrics": data.get("metrics") or {},
            "files": data.get("files") or {},
        }
        (self.output_dir / name).mkdir(parents=True, exist_ok=True)
        write_json(self.output_dir / name / "metrics.json", record)
        self.records[name] = record
        print(report_line(name, record), flush=True)

    def completed(self, engine: Engine) -> None:
        summary = {"cases": self.records, "mean": mean_metrics(self.records), **self.summary}
        if len(self.records) > 1 and summary["mean"]:
            print(report_line(f"mean of {len(self.records)} cases", summary["mean"]), flush=True)
        write_json(self.output_dir / "metrics.json", summary)
        for method, values in summary["mean"].get("metrics", {}).items():
            engine.state.metrics.update({f"{method}_{k}": v for k, v in values.items()})
