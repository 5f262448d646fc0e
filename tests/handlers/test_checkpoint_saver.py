# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import threading

import pytest
import torch

from monai_d3gm.errors import D3GMInputError
from monai_d3gm.handlers import AtomicCheckpointSaver, atomic_save, export_state_dict


def test_atomic_save_round_trips_with_weights_only(tmp_path):
    path = tmp_path / "sub" / "ckpt.pt"
    atomic_save({"w": torch.arange(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]


def test_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_save({"w": torch.ones(2)}, path)
    with pytest.raises((TypeError, AttributeError)):
        atomic_save({"lock": threading.Lock()}, path)  # cannot be pickled: fails mid-write
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_saver_arguments():
    net = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="save_dict"):
        AtomicCheckpointSaver("x", {})
    with pytest.raises(ValueError, match="go together"):
        AtomicCheckpointSaver("x", {"net": net}, final_model_key="net")
    with pytest.raises(ValueError, match="not a key"):
        AtomicCheckpointSaver("x", {"net": net}, final_model_key="ema", final_model_path="m.pt")


def test_pickled_code_is_refused_on_resume(tmp_path):
    """A checkpoint that would run code when unpickled is refused by the resume path (weights_only=True)."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"net": Evil()}, tmp_path / AtomicCheckpointSaver.latest_name)
    net = torch.nn.Linear(2, 2)
    saver = AtomicCheckpointSaver(tmp_path, {"net": net})
    from ignite.engine import Engine

    engine = Engine(lambda e, b: None)
    saver.attach(engine)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        engine.run([0], max_epochs=1)


def test_export_state_dict(tmp_path):
    net = torch.nn.Linear(2, 2)
    atomic_save({"ema": net.state_dict(), "optimizer": {}}, tmp_path / "ckpt.pt")
    export_state_dict(tmp_path / "ckpt.pt", "ema", tmp_path / "models" / "model.pt")
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    torch.testing.assert_close(state["weight"], net.weight.detach())
    with pytest.raises(D3GMInputError, match="not 'network'"):
        export_state_dict(tmp_path / "ckpt.pt", "network", tmp_path / "x.pt")
