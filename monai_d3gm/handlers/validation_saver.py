# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Choose the shipped weights by validation, not by training loss."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import D3GMInputError
from .checkpoint_saver import atomic_save

__all__ = ["ValidationSaver"]

logger = logging.getLogger(__name__)


class ValidationSaver:
    """Every ``interval`` iterations (and when training completes) score ``network`` with ``validate`` and keep the
    best weights.

    Each score is appended to ``csv_path`` (iteration, then the metrics), the curve is drawn to ``plot_path``, and
    when ``key`` improves the network's state dict is written atomically to ``best_path``. A resumed run reads the
    best score so far from the CSV, so it never replaces better weights of the run it continues.

    Args:
        validate: ``validate(network) -> {metric: value}`` (e.g.
            :class:`~monai_d3gm.apps.reconstruction.validation.ReconstructionValidator`).
        network: the network scored and saved (the EMA copy in the bundles).
        interval: iterations between validations.
        csv_path: the validation curve.
        best_path: where the best weights go (the bundle's ``models/model.pt``).
        key: the metric that decides, higher is better.
        plot_path: a PNG of the curve, or None.
    """

    def __init__(
        self,
        validate: Callable[[torch.nn.Module], dict[str, float]],
        network: torch.nn.Module,
        interval: int,
        csv_path: str | os.PathLike,
        best_path: str | os.PathLike,
        key: str = "psnr",
        plot_path: str | os.PathLike | None = None,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise D3GMInputError(f"interval must be an integer >= 1, got {interval!r}.")
        self.validate = validate
        self.network = network
        self.interval = interval
        self.csv_path = Path(csv_path)
        self.best_path = Path(best_path)
        self.key = key
        self.plot_path = None if plot_path is None else Path(plot_path)
        self.best = -float("inf")
        self.rows: list[dict[str, float]] = []
        if self.csv_path.is_file():
            with open(self.csv_path) as f:
                self.rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
            self.best = max((row.get(key, -float("inf")) for row in self.rows), default=-float("inf"))

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self)
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine) -> None:
        iteration = int(engine.state.iteration)
        if self.rows and int(self.rows[-1]["iteration"]) == iteration:
            return  # COMPLETED right after an interval
        metrics = self.validate(self.network)
        if self.key not in metrics:
            raise D3GMInputError(f"validate() returned {sorted(metrics)}, without the deciding key {self.key!r}.")
        row = {"iteration": float(iteration), **metrics}
        self.rows.append(row)
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.csv_path.is_file()
        with open(self.csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        improved = metrics[self.key] > self.best
        if improved:
            self.best = metrics[self.key]
            self.best_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save(self.network.state_dict(), self.best_path)
        logger.info(
            "validation at iteration %d: %s%s",
            iteration,
            ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
            f" (best, saved to {self.best_path})" if improved else "",
        )
        if self.plot_path is not None:
            self.plot()

    def plot(self) -> None:
        """Draw the curve of every PSNR column (and zero-filled's) against the iteration."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        its = [r["iteration"] for r in self.rows]
        for col in [k for k in self.rows[-1] if "psnr" in k]:
            ax.plot(its, [r.get(col, float("nan")) for r in self.rows], marker="o", ms=3, label=col)
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.plot_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.plot_path.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, self.plot_path)
