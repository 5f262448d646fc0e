# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The SDE apart from its samplers: MeanRevertingSDE's tables, the step functions and their registry."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.schedulers import (
    CoefficientDecoupledScheduler,
    D3GMScheduler,
    MeanRevertingSDE,
    Samplers,
    ode_step,
    posterior_step,
    sde_step,
)


def test_tied_sde_has_the_schedulers_tables():
    sched = D3GMScheduler(tau=2.0, lam=0.05, eps=0.01)
    sde = MeanRevertingSDE.tied(100, lam=0.05, tau=2.0, eps=0.01)
    for name in ("thetas", "thetas_bar", "variances", "marginal_stds", "decays", "diffusion_integrals"):
        torch.testing.assert_close(getattr(sde, name), getattr(sched, name), rtol=0, atol=0)
    assert sde.dt == sched.dt and sde.prior_std == sched.prior_std == 0.1 and sde.num_steps == 100


def test_decoupled_sde_starts_from_its_terminal_marginal():
    sched = CoefficientDecoupledScheduler(tau=2.0)
    assert sched.sde.prior_std == pytest.approx(float(sched.variances[-1]) ** 0.5, rel=1e-12)


@pytest.mark.parametrize("name, function", [("sde", sde_step), ("ode", ode_step), ("posterior", posterior_step)])
@pytest.mark.parametrize("j", [0, 37])
def test_step_functions_are_what_the_scheduler_dispatches(name, function, j):
    """The scheduler's step is x̂0 (clamped) handed to the registered function, with the generator's noise."""
    sched = D3GMScheduler(prediction_type="residual")
    g = torch.Generator().manual_seed(0)
    x, mu, out = (torch.randn(2, 1, 8, 8, generator=g) for _ in range(3))
    assert Samplers[name] is function
    got, x0 = sched.step(out, 50, x, mu, torch.Generator().manual_seed(1), prev_timestep=j, sampler=name)
    torch.testing.assert_close(x0, (mu + out).clamp(-1, 1))
    noise = torch.Generator().manual_seed(1)
    expected = function(sched.sde, x, x0, mu, 50, j, lambda: torch.randn(x.shape, generator=noise))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_only_stochastic_steps_draw_noise():
    sde = MeanRevertingSDE.tied()
    x = torch.ones(1, 1, 4, 4)

    def refuse():
        raise AssertionError("drew noise")

    ode_step(sde, x, x, 0 * x, 50, 40, refuse)
    posterior_step(sde, x, x, 0 * x, 50, 0, refuse)  # x_0 = x̂0 exactly
    drawn = []
    sde_step(sde, x, x, 0 * x, 50, 40, lambda: drawn.append(1) or torch.zeros_like(x))
    posterior_step(sde, x, x, 0 * x, 50, 40, lambda: drawn.append(1) or torch.zeros_like(x))
    assert drawn == [1, 1]


def test_a_registered_sampler_runs_through_the_scheduler_and_inferer():
    calls = []

    @Samplers.add_def("midpoint_test", "x̂0-halfway step, for the test")
    def midpoint(sde, sample, x0, mu, i, j, noise):
        calls.append((i, j))
        return 0.5 * (sample + x0)

    try:
        sched = D3GMScheduler(prediction_type="sample", sampler="midpoint_test", clip_sample=False)
        mu = torch.zeros(1, 1, 8, 8)
        out = D3GMInferer(sched, progress=False).sample(mu, lambda x, t: torch.ones_like(mu), num_inference_steps=3)
        assert calls == [(100, 50), (50, 1), (1, 0)]
        torch.testing.assert_close(out, torch.full_like(mu, 1 - 0.5**3), atol=0.1, rtol=0)  # x_T ≈ 0 + τλz
    finally:
        Samplers.components.pop("midpoint_test")
    with pytest.raises(ValueError, match=r"sampler must be one of \['sde', 'ode', 'posterior'\]"):
        D3GMScheduler(sampler="midpoint_test")
