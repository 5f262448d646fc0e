# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""docs/method.md §6 sanity checks 1–5 and the argument checks of the D³GM scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.networks.schedulers import Scheduler

from monai_d3gm.networks.schedulers import CoefficientDecoupledScheduler, D3GMScheduler, mean_reverting_tables
from tests.networks.schedulers.forward_sde import euler_maruyama_forward

LAM = 10 / 255


def irsde_reference(T: int = 100, lam: float = LAM, eps: float = 0.005, s: float = 0.008):
    """IR-SDE's tables written out independently in numpy (float64), following Luo et al.'s definitions."""
    n = T + 2
    x = np.linspace(0, n, n + 1)
    ac = np.cos(((x / n) + s) / (1 + s) * np.pi * 0.5) ** 2
    ac = ac / ac[0]
    thetas = 1 - ac[1:-1]
    cumsum = np.cumsum(thetas) - thetas[0]
    dt = -np.log(eps) / cumsum[-1]
    sigma_bars = np.sqrt(lam**2 * (1 - np.exp(-2 * cumsum * dt)))
    return thetas, cumsum * dt, dt, sigma_bars


def test_is_a_monai_scheduler():
    assert isinstance(D3GMScheduler(), Scheduler)


def test_reference_numbers():
    """docs/method.md §2: S_T = 50.899, dt = 0.104094, marginal std at T 0.039215 (τ = 1) and 0.078430 (τ = 2)."""
    thetas, thetas_bar, dt = mean_reverting_tables(100, "cosine", 0.005)
    assert thetas.dtype == torch.float64 and thetas.shape == (101,)
    s_t = float(torch.sum(thetas) - thetas[0])
    assert abs(s_t - 50.899) < 5e-4
    assert abs(dt - 0.104094) < 1e-6
    assert math.isclose(math.exp(-float(thetas_bar[-1])), 0.005, rel_tol=1e-12)
    assert abs(float(D3GMScheduler(tau=1.0).marginal_std(100)) - 0.039215) < 1e-6
    assert abs(float(D3GMScheduler(tau=2.0).marginal_std(100)) - 0.078430) < 1e-6
    sched = D3GMScheduler()
    assert torch.equal(sched.thetas, thetas) and torch.equal(sched.thetas_bar, thetas_bar) and sched.dt == dt


def test_tau_one_is_irsde():
    """Check 1: τ = 1 reproduces IR-SDE's θ, θ̄, dt, σ̄ and its optimal reverse step."""
    thetas, thetas_bar, dt, sigma_bars = irsde_reference()
    sched = D3GMScheduler(tau=1.0)
    np.testing.assert_allclose(sched.thetas.numpy(), thetas, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sched.thetas_bar.numpy(), thetas_bar, rtol=0, atol=1e-12)
    assert abs(sched.dt - dt) < 1e-12
    np.testing.assert_allclose(sched.marginal_std(torch.arange(101)).numpy(), sigma_bars, atol=1e-12)
    # IR-SDE's optimum reverse step coefficients (a_i, b_i) and posterior std
    for i in (1, 2, 50, 100):
        a = (1 - np.exp(-2 * thetas_bar[i - 1])) * np.exp(-thetas[i] * dt) / (1 - np.exp(-2 * thetas_bar[i]))
        b = (1 - np.exp(-2 * thetas[i] * dt)) * np.exp(-thetas_bar[i - 1]) / (1 - np.exp(-2 * thetas_bar[i]))
        var = (
            (1 - np.exp(-2 * thetas[i] * dt)) * (1 - np.exp(-2 * thetas_bar[i - 1])) / (1 - np.exp(-2 * thetas_bar[i]))
        )
        std = LAM * np.sqrt(max(var, 1e-20 * dt))
        got = sched.posterior_coefficients(i, i - 1, torch.zeros(1))
        np.testing.assert_allclose(got, (a, b, std), rtol=1e-10, atol=1e-10)  # i = 1: std ~ 0 (clamp)
        # with τ = 2 the mean coefficients are unchanged and the std doubles
        got2 = D3GMScheduler(tau=2.0).posterior_coefficients(i, i - 1, torch.zeros(1))
        np.testing.assert_allclose(got2, (a, b, 2 * std), rtol=1e-10, atol=1e-10)


def test_residual_is_variance_preserving():
    """The base-class tables hold the residual VP view: ᾱ_i = e^{−2θ̄_i}, α_i = e^{−2θ_i dt}, β = 1 − α."""
    sched = D3GMScheduler()
    torch.testing.assert_close(sched.alphas_cumprod, torch.exp(-2 * sched.thetas_bar))
    torch.testing.assert_close(sched.alphas_cumprod[1:], torch.cumprod(sched.alphas[1:], 0))
    torch.testing.assert_close(sched.betas, 1 - sched.alphas)


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_terminal_marginal_variance(tau):
    """Check 2: the empirical variance of add_noise at i = T is (τλ)²(1 − eps²)."""
    sched = D3GMScheduler(tau=tau)
    g = torch.Generator().manual_seed(0)
    n = 400_000
    x0 = torch.full((n, 1, 1, 1), 0.8, dtype=torch.float64)
    mu = torch.full_like(x0, 0.2)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = sched.add_noise(x0, mu, noise, torch.full((n,), 100))
    expected = (tau * LAM) ** 2 * (1 - 0.005**2)
    assert abs(float(x_t.var()) / expected - 1) < 0.01
    assert abs(float(x_t.mean()) - (0.2 + 0.6 * 0.005)) < 4 * math.sqrt(expected / n)


@pytest.mark.parametrize("scheduler_cls", [D3GMScheduler, CoefficientDecoupledScheduler])
def test_forward_euler_maruyama_matches_marginal(scheduler_cls):
    """Check 5: simulating dx = θ(μ − x)dt + τσ dW by Euler–Maruyama matches N(m_i, v_i)."""
    sched = scheduler_cls(tau=2.0, lam=0.1)
    g = torch.Generator().manual_seed(1)
    n = 40_000
    x0 = torch.full((n, 1), 0.9, dtype=torch.float64)
    mu = torch.full_like(x0, -0.3)
    for steps in (10, 100):
        x = euler_maruyama_forward(sched, x0, mu, steps, substeps=20, generator=g)
        m = float(sched.marginal_mean(x0[:1], mu[:1], steps))
        v = float(sched.marginal_std(steps)) ** 2
        assert abs(float(x.mean()) - m) < 4 * math.sqrt(v / n) + 2e-3 * abs(m)
        assert abs(float(x.var()) / v - 1) < 0.03


def test_decoupled_recursion_reduces_to_closed_form():
    """The exact variance recursion of the decoupled SDE gives the tied closed form when σ² = 2λ²θ."""

    class Tied(CoefficientDecoupledScheduler):
        def _diffusion_sq(self):
            return D3GMScheduler._diffusion_sq(self)

    tied = D3GMScheduler(tau=2.0)
    recursion = Tied(tau=2.0)
    torch.testing.assert_close(recursion.variances, tied.variances, rtol=1e-10, atol=1e-15)
    decoupled = CoefficientDecoupledScheduler(tau=2.0)
    assert not torch.allclose(decoupled.variances, tied.variances)
    # the default constant σ injects the same total noise as the tied schedule
    assert math.isclose(float(decoupled.diffusion_integrals[-1]), float(tied.diffusion_integrals[-1]), rel_tol=1e-9)


@pytest.mark.parametrize("scheduler_cls", [D3GMScheduler, CoefficientDecoupledScheduler])
def test_posterior_mean_consistency(scheduler_cls):
    """Check 4: the posterior mean at x_i = m_i(x0) equals m_{i−1}(x0), also across skipped steps."""
    sched = scheduler_cls(tau=2.0)
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand((2, 1, 8, 8), generator=g, dtype=torch.float64)
    mu = torch.rand((2, 1, 8, 8), generator=g, dtype=torch.float64)
    for i, j in [(1, 0), (2, 1), (37, 36), (100, 99), (100, 90), (50, 7)]:
        m_i = sched.marginal_mean(x0, mu, i)
        torch.testing.assert_close(sched.posterior_mean(m_i, x0, mu, i, j), sched.marginal_mean(x0, mu, j))
    # per-sample (tensor) timesteps give the same as scalar ones
    t = torch.tensor([5, 80])
    m_t = torch.cat([sched.marginal_mean(x0[k : k + 1], mu[k : k + 1], int(t[k])) for k in range(2)])
    torch.testing.assert_close(sched.posterior_mean(m_t, x0, mu, t), sched.marginal_mean(x0, mu, t - 1))


def oracle(sched: D3GMScheduler, x0: torch.Tensor):
    """A 'network' returning the exact ε (or x0 / residual) of a one-point data set {x0}."""

    def network(inputs: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        c = x0.shape[1]
        residual, mu = inputs[:, :c], inputs[:, c:]
        t = int(timesteps[0])
        if sched.prediction_type == "epsilon":
            return sched.epsilon_from_original_sample(x0, t, residual + mu, mu)
        return x0 if sched.prediction_type == "sample" else x0 - mu

    return network


@pytest.mark.parametrize("sampler", ["sde", "ode", "posterior"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "residual"])
@pytest.mark.parametrize("steps", [100, 20])
def test_exact_score_returns_x0(sampler, prediction_type, steps):
    """Check 3: with the exact score of a one-point data set, reverse sampling returns x0 within O(τλ sqrt(dt))."""
    from monai_d3gm.inferers import D3GMInferer

    sched = D3GMScheduler(tau=2.0, prediction_type=prediction_type, clip_sample=False)
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand((2, 1, 16, 16), generator=g, dtype=torch.float64)
    mu = x0 + 0.3 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    out = D3GMInferer(sched, progress=False).sample(
        mu, oracle(sched, x0), num_inference_steps=steps, sampler=sampler, generator=g
    )
    err = float((out - x0).abs().max())
    bound = sched.tau * sched.lam * math.sqrt(sched.dt)
    if sampler == "sde":
        assert err < bound
    else:  # the ODE and the posterior end exactly at x̂0
        assert err < 1e-9
    assert float((mu - x0).abs().max()) > 20 * bound  # the test is not trivial


def test_set_timesteps_and_step_pairs():
    sched = D3GMScheduler()
    sched.set_timesteps(10)
    assert sched.timesteps.tolist() == [100, 89, 78, 67, 56, 45, 34, 23, 12, 1]
    assert sched.previous_timestep(100) == 89 and sched.previous_timestep(1) == 0
    sched.set_timesteps(100)
    assert sched.timesteps.tolist() == list(range(100, 0, -1))
    sched.set_timesteps(1)
    assert sched.timesteps.tolist() == [100]


def test_generator_determinism():
    sched = D3GMScheduler()
    mu = torch.zeros(1, 1, 8, 8)
    out = torch.randn(1, 1, 8, 8)
    runs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        x = sched.prior_sample(mu, g)
        sched.set_timesteps(100)
        runs.append(sched.step(out, 100, x, mu, g)[0])
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tau": 0.0}, "tau must be > 0"),
        ({"tau": -1.0}, "tau must be > 0"),
        ({"eps": 0.0}, r"eps .* \(0, 1\)"),
        ({"eps": 1.0}, r"eps .* \(0, 1\)"),
        ({"lam": 0.0}, "lam"),
        ({"schedule": "nope"}, "Unknown theta schedule"),
        ({"prediction_type": "v"}, "prediction_type"),
        ({"sampler": "heun"}, "sampler"),
        ({"num_train_timesteps": 0}, "num_train_timesteps"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D3GMScheduler(**kwargs)


def test_bad_call_arguments():
    sched = D3GMScheduler()
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 100\]"):
        sched.add_noise(x, x, x, torch.tensor([3, 101]))
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 100\]"):
        sched.marginal_std(-1)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[1, 100\]"):
        sched.step(x, 0, x, x, prev_timestep=0)
    with pytest.raises(ValueError, match="same shape"):
        sched.add_noise(x, torch.zeros(2, 1, 8, 9), x, torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="same shape"):
        sched.step(x, 5, x, torch.zeros(2, 1, 4, 4), prev_timestep=4)
    with pytest.raises(ValueError, match="channels"):
        sched.step(torch.zeros(2, 2, 8, 8), 5, x, x, prev_timestep=4)
    with pytest.raises(ValueError, match="num_inference_steps"):
        sched.set_timesteps(101)
    sched.set_timesteps(10)
    with pytest.raises(ValueError, match="not in the current sub-sequence"):
        sched.step(x, 50, x, x)
    with pytest.raises(ValueError, match="smaller than timestep"):
        sched.step(x, 50, x, x, prev_timestep=60)
