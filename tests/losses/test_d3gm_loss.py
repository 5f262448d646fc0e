# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0

from __future__ import annotations

import pytest
import torch

from monai_d3gm.losses import D3GMLoss
from monai_d3gm.networks.schedulers import D3GMScheduler


def training_state(prediction_type: str = "epsilon", seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sched = D3GMScheduler(prediction_type=prediction_type)
    x0 = torch.rand((4, 1, 8, 8), generator=g, dtype=torch.float64)
    mu = x0 + 0.2 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 10, 60, 100])
    return sched, {"x0": x0, "mu": mu, "noise": noise, "timesteps": t}


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "residual"])
@pytest.mark.parametrize("loss_type", ["mse", "score", "l1_matching"])
def test_exact_prediction_minimises(prediction_type, loss_type):
    """The exact prediction gives zero (mse, score) or the smallest (l1_matching) loss."""
    sched, target = training_state(prediction_type)
    exact = sched.training_target(target["x0"], target["mu"], target["noise"])
    loss = D3GMLoss(sched, loss_type)
    at_exact = float(loss(exact, target))
    perturbed = float(loss(exact + 0.01 * torch.randn_like(exact), target))
    assert perturbed > at_exact
    if loss_type != "l1_matching":
        assert at_exact < 1e-20


def test_mse_is_epsilon_mse_and_score_is_eq8_weighting():
    sched, target = training_state("epsilon")
    eps_hat = target["noise"] + 0.1 * torch.randn_like(target["noise"])
    mse = D3GMLoss(sched, "mse", reduction="none")(eps_hat, target)
    torch.testing.assert_close(mse, (eps_hat - target["noise"]) ** 2)
    weighted = D3GMLoss(sched, "score", reduction="none")(eps_hat, target)
    v = sched.variances[target["timesteps"]].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(weighted, mse / (sched.tau**2 * v))
    # the paper's literal weighting explodes at small t (docs/method.md §3)
    assert float(weighted[0].mean() / weighted[-1].mean()) > 1e3 * float(mse[0].mean() / mse[-1].mean())


def test_l1_matching_compares_reverse_step_with_posterior_mean():
    sched, target = training_state("epsilon")
    out = target["noise"] + 0.05
    loss = D3GMLoss(sched, "l1_matching", reduction="none")(out, target)
    x0, mu, t = target["x0"], target["mu"], target["timesteps"]
    x_t = sched.add_noise(x0, mu, target["noise"], t)
    for k in range(4):
        ti = int(t[k])
        x0_hat = sched.predict_original_sample(out[k : k + 1], ti, x_t[k : k + 1], mu[k : k + 1], clip=False)
        pred = sched.reverse_sde_mean(x_t[k : k + 1], x0_hat, mu[k : k + 1], ti, ti - 1)
        opt = sched.posterior_mean(x_t[k : k + 1], x0[k : k + 1], mu[k : k + 1], ti)
        torch.testing.assert_close(loss[k : k + 1], (pred - opt).abs())


def test_bad_arguments():
    sched, target = training_state()
    with pytest.raises(ValueError, match="loss_type"):
        D3GMLoss(sched, "l2")
    with pytest.raises(ValueError, match="missing"):
        D3GMLoss(sched)(target["x0"], {"x0": target["x0"]})
    with pytest.raises(ValueError, match="same shape"):
        D3GMLoss(sched)(target["x0"][:, :, :4], target)
