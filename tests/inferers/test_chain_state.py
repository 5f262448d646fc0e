# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Chain-state training: x_t built from the network's own posterior step lies on the forward marginal when the
network is exact, and moves with the network's error when it is not."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.engines import D3GMPrepareBatch
from monai_d3gm.inferers import D3GMInferer, chain_state
from monai_d3gm.losses import D3GMLoss
from monai_d3gm.networks.schedulers import D3GMScheduler


class Oracle(torch.nn.Module):
    """Predicts the residual x0 − μ of a known x0 plus a constant bias, checks it is called at the chain starts, and
    counts its calls."""

    def __init__(self, x0: torch.Tensor, bias: float = 0.0, starts: torch.Tensor | None = None) -> None:
        super().__init__()
        self.x0, self.bias, self.starts, self.calls = x0, bias, starts, 0

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert not self.training  # the extra call runs in eval mode
        rows = torch.arange(x.shape[0]) if self.starts is None else (self.starts > 0).nonzero().flatten()
        if self.starts is not None:
            assert torch.equal(timesteps, self.starts[rows])
        mu = x[:, x.shape[1] // 2 :]
        return self.x0[rows] - mu + self.bias


def draws(n: int, t: int, s: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.linspace(0.2, 0.9, n, dtype=torch.float64).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    mu = 0.5 * x0 - 0.1
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    chain_noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    return x0, mu, noise, chain_noise, torch.full((n,), t), torch.full((n,), s)


@pytest.mark.parametrize("t, s", [(10, 60), (40, 41), (1, 100)])
def test_with_the_true_x0_the_chain_state_is_a_draw_of_the_forward_marginal(t, s):
    sched = D3GMScheduler(prediction_type="residual", tau=2.0, clip_sample=False)
    x0, mu, noise, chain_noise, ts, ss = draws(4000, t, s)
    state = chain_state(sched, Oracle(x0, starts=ss), x0, mu, noise, ts, ss, chain_noise)
    z = (state - sched.marginal_mean(x0, mu, t)) / float(sched.marginal_std(t))  # standard normal if on the marginal
    assert abs(float(z.mean())) < 4 / 16000**0.5
    assert abs(float(z.std()) - 1) < 0.02
    # the start's noise enters with weight a sqrt(v_s) (a = e^{-Δ} v_t / v_s): seen through its correlation with z
    a, _, _ = sched.posterior_coefficients(s, t, state)
    weight = a * float(sched.marginal_std(s)) / float(sched.marginal_std(t))
    correlation = float((z * chain_noise).mean())
    assert abs(correlation - weight) < 4 / 16000**0.5


def test_a_biased_network_moves_the_chain_state_by_b_times_its_bias():
    sched = D3GMScheduler(prediction_type="residual", tau=2.0, clip_sample=False)
    x0, mu, noise, chain_noise, ts, ss = draws(8, 20, 70)
    exact = chain_state(sched, Oracle(x0, starts=ss), x0, mu, noise, ts, ss, chain_noise)
    biased = chain_state(sched, Oracle(x0, bias=0.05, starts=ss), x0, mu, noise, ts, ss, chain_noise)
    _, b, _ = sched.posterior_coefficients(70, 20, exact)
    torch.testing.assert_close(biased - exact, torch.full_like(exact, 0.05 * b))


def test_rows_without_a_chain_start_get_the_forward_marginal_and_no_network_call():
    sched = D3GMScheduler(prediction_type="residual")
    x0, mu, noise, chain_noise, ts, _ = draws(3, 30, 0)
    unused = Oracle(x0)
    state = chain_state(sched, unused, x0, mu, noise, ts, torch.zeros(3, dtype=torch.long), chain_noise)
    torch.testing.assert_close(state, sched.add_noise(x0, mu, noise, ts))
    assert unused.calls == 0
    starts = torch.tensor([0, 50, 0])
    oracle = Oracle(x0, starts=starts).train()
    mixed = chain_state(sched, oracle, x0, mu, noise, ts, starts, chain_noise)
    torch.testing.assert_close(mixed[[0, 2]], state[[0, 2]])
    assert not torch.allclose(mixed[1], state[1]) and oracle.calls == 1 and oracle.training  # train mode restored
    with pytest.raises(ValueError, match="later than timesteps"):
        chain_state(sched, oracle, x0, mu, noise, ts, torch.tensor([0, 30, 0]), chain_noise)


def test_the_inferer_trains_on_chain_states_and_checks_them():
    sched = D3GMScheduler(prediction_type="residual")
    x0, mu, noise, chain_noise, ts, ss = draws(2, 5, 9)
    x0, mu, noise, chain_noise = (v.float() for v in (x0, mu, noise, chain_noise))
    seen = []

    def net(x, t):
        seen.append(x)
        return torch.zeros_like(x[:, :1])

    inferer = D3GMInferer(sched)
    inferer(x0, net, mu=mu, noise=noise, timesteps=ts, chain_start=ss, chain_noise=chain_noise)
    trained_on = seen[-1][:, :1]
    torch.testing.assert_close(trained_on, chain_state(sched, net, x0, mu, noise, ts, ss, chain_noise) - mu)
    with pytest.raises(ValueError, match="go together"):
        inferer(x0, net, mu=mu, noise=noise, timesteps=ts, chain_start=ss)
    with pytest.raises(ValueError, match="shaped like"):
        inferer(x0, net, mu=mu, noise=noise, timesteps=ts, chain_start=ss[:1], chain_noise=chain_noise)


def test_prepare_batch_draws_chain_starts_after_t_reproducibly():
    sched = D3GMScheduler(prediction_type="residual")
    batch = {"image": torch.rand(2000, 1, 2, 2), "mu": torch.rand(2000, 1, 2, 2)}
    _, target, _, kwargs = D3GMPrepareBatch(sched, seed=3, chain_prob=0.5)(batch)
    t, s = kwargs["timesteps"], kwargs["chain_start"]
    assert torch.equal(target["chain_start"], s) and kwargs["chain_noise"].shape == batch["image"].shape
    chained = s > 0
    assert 0.45 < float(chained.float().mean()) < 0.55
    assert bool((s[chained] > t[chained]).all()) and int(s.max()) <= 100
    assert not bool(chained[t == 100].any())  # nothing comes after T
    position = (s[chained] - t[chained] - 0.5) / (100 - t[chained])  # uniform over t+1..T: position ~ U(0, 1)
    assert abs(float(position.mean()) - 0.5) < 0.03 and abs(float(position.var()) - 1 / 12) < 0.01
    again = D3GMPrepareBatch(sched, seed=3, chain_prob=0.5)(batch)[3]
    assert torch.equal(again["chain_start"], s) and torch.equal(again["chain_noise"], kwargs["chain_noise"])


def test_chain_prob_zero_leaves_the_random_stream_unchanged():
    sched = D3GMScheduler(prediction_type="residual")
    batch = {"image": torch.rand(4, 1, 4, 4), "mu": torch.rand(4, 1, 4, 4)}
    plain, zero = D3GMPrepareBatch(sched, seed=1), D3GMPrepareBatch(sched, seed=1, chain_prob=0.0)
    for _ in range(2):
        a, b = plain(batch)[3], zero(batch)[3]
        assert set(b) == {"mu", "noise", "timesteps"}
        assert torch.equal(a["noise"], b["noise"]) and torch.equal(a["timesteps"], b["timesteps"])


def test_chain_states_are_refused_where_the_target_would_be_wrong():
    with pytest.raises(ValueError, match="residual"):
        D3GMPrepareBatch(D3GMScheduler(prediction_type="epsilon"), chain_prob=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D3GMPrepareBatch(D3GMScheduler(prediction_type="residual"), chain_prob=1.5)
    sched = D3GMScheduler(prediction_type="residual")
    x0 = torch.rand(2, 1, 4, 4)
    target = {"x0": x0, "mu": x0, "noise": x0, "timesteps": torch.tensor([3, 4]), "chain_start": torch.tensor([0, 9])}
    assert torch.isfinite(D3GMLoss(sched, "mse")(x0, target))
    target["chain_start"] = torch.zeros(2, dtype=torch.long)  # refused as soon as chain starts are drawn at all
    with pytest.raises(ValueError, match="chain states"):
        D3GMLoss(sched, "l1_matching")(x0, target)
    del target["chain_start"]
    assert torch.isfinite(D3GMLoss(sched, "l1_matching")(x0, target))


def test_ddp_ranks_draw_their_rows_of_the_single_process_draws(monkeypatch):
    sched = D3GMScheduler(prediction_type="residual")
    world = 4
    batch = {"image": torch.rand(4 * world, 1, 2, 2), "mu": torch.rand(4 * world, 1, 2, 2)}
    single = D3GMPrepareBatch(sched, seed=7, chain_prob=0.5)
    ranks = [D3GMPrepareBatch(sched, seed=7, chain_prob=0.5) for _ in range(world)]
    for _ in range(3):  # the streams stay aligned batch after batch
        whole = single(batch)[3]
        for rank, prepare in enumerate(ranks):
            monkeypatch.setattr(D3GMPrepareBatch, "_world", staticmethod(lambda r=rank: (world, r)))
            local = {k: v[rank::world] for k, v in batch.items()}
            part = prepare(local)[3]
            for key in ("timesteps", "noise", "chain_start", "chain_noise"):
                assert torch.equal(part[key], whole[key][rank::world]), key
        monkeypatch.undo()
