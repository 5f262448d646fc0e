# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""A CSV log of the training loss (iteration, loss), appended as training goes, for loss-curve plots."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from monai.utils import optional_import

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["LossLogger"]


class LossLogger:
    """Append ``iteration,loss`` to a CSV file every ``interval`` iterations (a resumed run keeps appending).

    Under DDP the logged loss is the mean over the ranks (the loss of the global batch, comparable with a
    single-process run), so the handler must be attached on every rank; by default only rank 0 writes.

    Args:
        path: the CSV file.
        interval: iterations between rows.
        write: whether this process writes; None: rank 0 under DDP, else always.
    """

    def __init__(self, path: str | os.PathLike, interval: int = 10, write: bool | None = None) -> None:
        self.path = Path(path)
        self.interval = max(1, int(interval))
        self.write = write

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self)

    def __call__(self, engine) -> None:
        output = engine.state.output
        loss = (output[0] if isinstance(output, (list, tuple)) else output)["loss"]  # decollated or not
        loss = torch.as_tensor(loss, dtype=torch.float64).detach().reshape(())
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if distributed:
            loss = loss.to(_collective_device())
            torch.distributed.all_reduce(loss)
            loss = loss / torch.distributed.get_world_size()
        write = self.write if self.write is not None else (not distributed or torch.distributed.get_rank() == 0)
        if not write:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a") as f:
            if new:
                f.write("iteration,loss\n")
            f.write(f"{engine.state.iteration},{float(loss):.6g}\n")


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors, gloo CPU ones."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
