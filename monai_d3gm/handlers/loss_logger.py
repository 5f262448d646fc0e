# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A CSV log of the training loss (iteration, loss), appended as training goes, for loss-curve plots."""

from __future__ import annotations

import os
from pathlib import Path

from monai.utils import optional_import

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["LossLogger"]


class LossLogger:
    """Append ``iteration,loss`` to a CSV file every ``interval`` iterations (a resumed run keeps appending).

    Args:
        path: the CSV file.
        interval: iterations between rows.
    """

    def __init__(self, path: str | os.PathLike, interval: int = 10) -> None:
        self.path = Path(path)
        self.interval = max(1, int(interval))

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self)

    def __call__(self, engine) -> None:
        output = engine.state.output
        loss = (output[0] if isinstance(output, (list, tuple)) else output)["loss"]  # decollated or not
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a") as f:
            if new:
                f.write("iteration,loss\n")
            f.write(f"{engine.state.iteration},{float(loss):.6g}\n")
