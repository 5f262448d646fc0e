# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Crash-safe checkpoints for MONAI engines: atomic writes and resume from the latest checkpoint."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from monai.handlers import CheckpointLoader
from monai.utils import optional_import

from ..errors import D3GMInputError
from ..utils import atomic_path

Events, _ = optional_import("ignite.engine", name="Events")

__all__ = ["AtomicCheckpointSaver", "atomic_save", "export_state_dict"]


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the destination folder, fsync, then rename over ``path``.

    A crash leaves either the previous file or the new one, never a truncated checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def export_state_dict(checkpoint: str | os.PathLike, key: str, path: str | os.PathLike) -> Path:
    """Write one object's state dict from a training checkpoint (e.g. the EMA network) as a bundle's model file.

    Loads with ``weights_only=True`` and writes atomically.

    Example::

        from monai_d3gm.handlers import export_state_dict
        export_state_dict("runs/checkpoints/checkpoint_latest.pt", "ema", "models/model.pt")
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if key not in state:
        raise D3GMInputError(f"{checkpoint} holds {sorted(state)}, not {key!r}; pass one of those as the key.")
    atomic_save(state[key], path)
    return Path(path)


class _ResumedEpochData:
    """The engine's data, whose next pass skips the ``skip`` batches the checkpointed run already trained on."""

    def __init__(self, data, skip: int) -> None:
        self.data = data
        self.skip = skip

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        batches = iter(self.data)
        for _ in range(self.skip):
            next(batches)  # loaded, not trained on: the random states advance as in the uninterrupted run
        self.skip = 0
        return batches


def _fast_forward(engine) -> None:
    """A checkpoint taken mid-epoch resumes mid-epoch: ignite restarts the epoch's data from its first batch, so the
    batches already trained on are skipped, and the resumed run sees the batches the uninterrupted run saw."""
    length = engine.state.epoch_length
    done = engine.state.iteration % length if length else 0
    if done and engine.state.dataloader is not None:
        engine.state.dataloader = _ResumedEpochData(engine.state.dataloader, done)


class AtomicCheckpointSaver:
    """Saves the state dicts of ``save_dict`` every ``save_interval`` iterations and when training completes.

    Each save writes ``checkpoint_<iteration>.pt`` atomically (see :func:`atomic_save`), points
    ``checkpoint_latest.pt`` at it (a hard link, replaced atomically) and keeps the ``n_saved`` newest snapshots.
    With ``resume=True`` and an existing ``checkpoint_latest.pt``, training starts from it: the objects are restored
    with MONAI's ``CheckpointLoader`` (``torch.load(..., weights_only=True)``). ``final_model_key``/``final_model_path``
    additionally write one object's bare state dict (e.g. the EMA network as a bundle's ``models/model.pt``).

    Args:
        save_dir: folder of the checkpoints.
        save_dict: name → object with ``state_dict``/``load_state_dict`` (network, EMA network, optimizer, trainer,
            prepare-batch generator, ...).
        save_interval: iterations between checkpoints (0: only at completion).
        n_saved: snapshots kept.
        resume: restore from ``checkpoint_latest.pt`` when it exists.
        final_model_key: key of ``save_dict`` whose state dict is written to ``final_model_path`` at completion.
        final_model_path: where to write it.
        write: write checkpoints from this process; under DDP pass ``dist.get_rank() == 0`` so that one rank writes
            while every rank resumes from the same checkpoint.
    """

    latest_name = "checkpoint_latest.pt"

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        save_interval: int = 100,
        n_saved: int = 2,
        resume: bool = True,
        final_model_key: str | None = None,
        final_model_path: str | os.PathLike | None = None,
        write: bool = True,
    ) -> None:
        if not save_dict:
            raise D3GMInputError("save_dict must name at least one object to checkpoint.")
        if (final_model_key is None) != (final_model_path is None):
            raise D3GMInputError("final_model_key and final_model_path go together.")
        if final_model_key is not None and final_model_key not in save_dict:
            raise D3GMInputError(f"final_model_key {final_model_key!r} is not a key of save_dict {list(save_dict)}.")
        self.save_dir = Path(save_dir)
        self.save_dict = dict(save_dict)
        self.save_interval = int(save_interval)
        self.n_saved = max(1, int(n_saved))
        self.resume = resume
        self.final_model_key = final_model_key
        self.final_model_path = final_model_path
        self.write = bool(write)
        self.logger = logging.getLogger(__name__)

    @property
    def latest_path(self) -> Path:
        return self.save_dir / self.latest_name

    def attach(self, engine) -> None:
        if self.resume and self.latest_path.exists():
            CheckpointLoader(load_path=str(self.latest_path), load_dict=self.save_dict).attach(engine)
            engine.add_event_handler(Events.STARTED, _fast_forward)  # after the loader's STARTED handler
        if not self.write:
            return
        if self.save_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self.save)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def save(self, engine) -> Path:
        """Write a checkpoint of the current state and return its path."""
        iteration = engine.state.iteration
        path = self.save_dir / f"checkpoint_{iteration:08d}.pt"
        atomic_save({k: obj.state_dict() for k, obj in self.save_dict.items()}, path)
        link_tmp = self.save_dir / f".{self.latest_name}.{os.getpid()}.tmp"
        link_tmp.unlink(missing_ok=True)
        try:
            os.link(path, link_tmp)
        except OSError:  # file systems without hard links: a second atomic write
            atomic_save({k: obj.state_dict() for k, obj in self.save_dict.items()}, link_tmp)
        os.replace(link_tmp, self.latest_path)
        snapshots = sorted(self.save_dir.glob("checkpoint_[0-9]*.pt"))
        for old in snapshots[: -self.n_saved]:
            old.unlink(missing_ok=True)
        self.logger.info(f"saved checkpoint {path}")
        return path

    def completed(self, engine) -> None:
        if not (self.save_dir / f"checkpoint_{engine.state.iteration:08d}.pt").exists():
            self.save(engine)
        if self.final_model_key is not None:
            atomic_save(self.save_dict[self.final_model_key].state_dict(), self.final_model_path)
