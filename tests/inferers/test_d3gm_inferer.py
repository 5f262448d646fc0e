# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import pytest
import torch
from monai.engines import SupervisedEvaluator

from monai_d3gm.inferers import D3GMInferer, network_input
from monai_d3gm.networks.schedulers import D3GMScheduler


class Recorder(torch.nn.Module):
    """A stand-in network: records its calls and predicts zero noise."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.clone(), timesteps.clone()))
        return torch.zeros_like(x[:, : x.shape[1] // 2])


def test_training_call_feeds_noised_input():
    sched = D3GMScheduler()
    net = Recorder()
    x0, mu, noise = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    t = torch.tensor([1, 50, 100])
    out = D3GMInferer(sched)(x0, net, mu=mu, noise=noise, timesteps=t)
    assert out.shape == x0.shape
    x_in, t_in = net.calls[0]
    torch.testing.assert_close(x_in, network_input(sched.add_noise(x0, mu, noise, t), mu))
    torch.testing.assert_close(x_in[:, 1:], mu)
    assert torch.equal(t_in, t)


def test_training_call_checks_arguments():
    inferer, net = D3GMInferer(D3GMScheduler()), Recorder()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="mu, noise and timesteps together"):
        inferer(x, net, mu=x)
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        inferer(x, net, mu=x, noise=x, timesteps=torch.tensor([3]))
    with pytest.raises(ValueError, match=r"timesteps must lie in \[1, 100\]"):
        inferer(x, net, mu=x, noise=x, timesteps=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="same shape"):
        inferer(x, net, mu=torch.rand(2, 1, 8, 6), noise=x, timesteps=torch.tensor([2, 3]))


@pytest.mark.parametrize("steps", [None, 10])
def test_sample_runs_the_sub_sequence_and_data_consistency(steps):
    sched = D3GMScheduler()
    net = Recorder()
    seen: list[int] = []
    infos: list[dict] = []

    def dc(sample: torch.Tensor, timestep: int, noise_std: float) -> torch.Tensor:
        seen.append((timestep, noise_std))
        return sample

    mu = torch.rand(2, 1, 8, 8)
    out = D3GMInferer(sched, progress=False).sample(
        mu, net, num_inference_steps=steps, data_consistency=dc, callback=infos.append
    )
    n = steps or 100
    assert out.shape == mu.shape and len(net.calls) == n == len(seen) == len(infos)
    assert [int(c[1][0]) for c in net.calls] == sched.timesteps.tolist()
    assert seen[-1] == (0, 0.0) and infos[-1]["t_prev"] == 0
    # data consistency gets the step reached and the SDE's noise level there, sqrt(v_t)
    assert [s for s, _ in seen] == [*sched.timesteps.tolist()[1:], 0]
    assert all(std == pytest.approx(float(sched.marginal_std(t)), rel=1e-12) for t, std in seen)
    assert all(c[1].shape == (2,) for c in net.calls)


def test_call_without_training_arguments_restores_deterministically():
    sched = D3GMScheduler(sampler="posterior")
    net = Recorder()
    mu = torch.rand(1, 1, 8, 8)
    inferer = D3GMInferer(sched, num_inference_steps=5, progress=False, seed=3)
    a, b = inferer(mu, net), inferer(mu, net)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = D3GMInferer(sched, num_inference_steps=5, progress=False, seed=4)(mu, net)
    assert not torch.equal(a, c)
    assert len(net.calls) == 15


def test_sample_rejects_bad_input():
    inferer = D3GMInferer(D3GMScheduler(), progress=False)
    with pytest.raises(ValueError, match="NaN or Inf"):
        inferer.sample(torch.full((1, 1, 4, 4), float("nan")), Recorder())
    with pytest.raises(ValueError, match=r"\(B, C, \*spatial\)"):
        inferer.sample(torch.rand(4, 4), Recorder())


def test_works_inside_monai_supervised_evaluator():
    """MONAI's evaluator calls inferer(inputs, network): the inferer restores the image."""
    sched = D3GMScheduler(sampler="ode")
    net = Recorder()
    data = [{"image": torch.rand(1, 8, 8), "label": torch.rand(1, 8, 8)} for _ in range(2)]
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=net,
        inferer=D3GMInferer(sched, num_inference_steps=4, progress=False, seed=0),
    )
    evaluator.run()
    assert evaluator.state.output[0]["pred"].shape == (1, 8, 8)
    assert len(net.calls) == 4


def test_non_finite_states_stop_with_the_step_and_a_hint():
    from monai_d3gm.inferers import NonFiniteSampleError

    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    mu = torch.rand(1, 1, 8, 8)
    calls = {"n": 0}

    def diverging(x, t):
        calls["n"] += 1
        return torch.full_like(x[:, :1], float("nan") if calls["n"] == 3 else 0.0)

    with pytest.raises(NonFiniteSampleError, match=r"network's output is NaN/Inf at step 3 of 5 .*checkpoint"):
        inferer.sample(mu, diverging, num_inference_steps=5, sampler="ode")
    assert calls["n"] == 3  # on the CPU the chain stops at the failing step
    # on an accelerator the flags are read once after the loop: the same first failure is reported
    from monai_d3gm.inferers.d3gm_inferer import _check_finite

    flags = [torch.tensor([True, True])] * 2 + [torch.tensor([False, False])] + [torch.tensor([False, True])] * 2
    pairs = [(100, 75), (75, 50), (50, 26), (26, 1), (1, 0)]
    with pytest.raises(NonFiniteSampleError, match=r"network's output is NaN/Inf at step 3 of 5 \(t = 50 -> 26\)"):
        _check_finite(flags, pairs, dc=False)

    def bad_dc(x, t, noise_std):
        return x * float("inf")

    with pytest.raises(NonFiniteSampleError, match=r"data-consistency step at step 1 of 4"):
        inferer.sample(mu, lambda x, t: torch.zeros_like(x[:, :1]), num_inference_steps=4, data_consistency=bad_dc)
