# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training on MONAI's SupervisedTrainer, built from a bundle-style JSON config: EMA, atomic checkpoints, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from monai_d3gm.engines import D3GMPrepareBatch
from monai_d3gm.networks.schedulers import D3GMScheduler

CONFIG = Path(__file__).parents[1] / "testing_data" / "train_synthetic.json"


def run_config(output_dir: Path, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(CONFIG)
    parser.update({"output_dir": str(output_dir), **overrides})
    parser.get_parsed_content("run")
    return parser


def test_prepare_batch_draws_steps_and_noise_reproducibly():
    sched = D3GMScheduler()
    batch = {"image": torch.rand(64, 1, 4, 4), "mu": torch.rand(64, 1, 4, 4)}
    x0, target, args, kwargs = D3GMPrepareBatch(sched, seed=5)(batch)
    assert torch.equal(x0, batch["image"]) and args == ()
    assert set(kwargs) == {"mu", "noise", "timesteps"} and set(target) == {"x0", "mu", "noise", "timesteps"}
    t = kwargs["timesteps"]
    assert t.shape == (64,) and int(t.min()) >= 1 and int(t.max()) <= 100 and len(t.unique()) > 20
    _, _, _, again = D3GMPrepareBatch(sched, seed=5)(batch)
    assert torch.equal(again["noise"], kwargs["noise"]) and torch.equal(again["timesteps"], t)
    # the generator state round-trips, so a resumed run draws what an uninterrupted one would
    pb = D3GMPrepareBatch(sched, seed=5)
    pb(batch)
    state = pb.state_dict()
    nxt = pb(batch)[3]
    pb2 = D3GMPrepareBatch(sched, seed=9)
    pb2.load_state_dict(state)
    assert torch.equal(pb2(batch)[3]["noise"], nxt["noise"])


def test_prepare_batch_errors():
    pb = D3GMPrepareBatch(D3GMScheduler())
    with pytest.raises(ValueError, match="'mu'"):
        pb({"image": torch.rand(2, 1, 4, 4)})
    with pytest.raises(ValueError, match="same shape"):
        pb({"image": torch.rand(2, 1, 4, 4), "mu": torch.rand(2, 1, 4, 5)})


def test_config_trains_with_ema_and_checkpoints(tmp_path):
    parser = run_config(tmp_path)
    trainer = parser.get_parsed_content("trainer")
    assert trainer.state.iteration == 4
    losses = parser.get_parsed_content("losses")
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("checkpoint_*.pt"))
    assert ckpts == ["checkpoint_00000002.pt", "checkpoint_00000004.pt", "checkpoint_latest.pt"]
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary files left behind
    state = torch.load(tmp_path / "checkpoints" / "checkpoint_latest.pt", weights_only=True)
    assert set(state) == {"network", "ema", "optimizer", "trainer", "prepare_batch"}
    assert state["trainer"]["iteration"] == 4
    # the EMA weights differ from the raw weights and are what model.pt holds
    ema = parser.get_parsed_content("ema").ema_model
    net = parser.get_parsed_content("network")
    final = torch.load(tmp_path / "model.pt", weights_only=True)
    name = next(iter(final))
    torch.testing.assert_close(final[name], ema.state_dict()[name])
    assert any(not torch.equal(a, b) for a, b in zip(ema.state_dict().values(), net.state_dict().values()))


def test_resume_continues_like_an_uninterrupted_run(tmp_path):
    """Two epochs in one go give the same losses as one epoch, a restart from its checkpoint, and a second epoch."""
    full = run_config(tmp_path / "full", max_epochs=2).get_parsed_content("losses")
    run_config(tmp_path / "split", max_epochs=1)
    resumed = run_config(tmp_path / "split", max_epochs=2)
    assert resumed.get_parsed_content("trainer").state.iteration == 8
    second_half = resumed.get_parsed_content("losses")
    assert len(full) == 8 and len(second_half) == 4
    torch.testing.assert_close(torch.tensor(second_half), torch.tensor(full[4:]), rtol=1e-5, atol=1e-7)


def test_resume_from_a_mid_epoch_checkpoint_sees_the_remaining_batches(tmp_path):
    """A run stopped after iteration 6 (epoch 2 of 4-iteration epochs) resumes with batches 3 and 4 of epoch 2, not
    with the epoch's first batches: the losses equal the uninterrupted run's."""
    full = run_config(tmp_path / "full", max_epochs=3).get_parsed_content("losses")
    stop = "$@trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED(once=6), lambda e: e.terminate())"
    parser = ConfigParser()
    parser.read_config(CONFIG)
    parser.update({"output_dir": str(tmp_path / "split"), "max_epochs": 3, "save_interval": 1})
    parser["run"].insert(-1, stop)
    parser.get_parsed_content("run")
    assert parser.get_parsed_content("trainer").state.iteration == 6
    resumed = run_config(tmp_path / "split", max_epochs=3, save_interval=1)
    torch.testing.assert_close(
        torch.tensor(resumed.get_parsed_content("losses")), torch.tensor(full[6:]), rtol=1e-5, atol=1e-7
    )
