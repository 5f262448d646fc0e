# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training losses of the SDE family (docs/method.md §3)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from monai.utils import StrEnum
from torch.nn.modules.loss import _Loss

from ..errors import D3GMInputError
from ..networks.schedulers import D3GMScheduler

__all__ = ["D3GMLoss", "D3GMLossType"]


class D3GMLossType(StrEnum):
    """``mse``: ‖output − target‖² in the network's prediction space (ε-MSE for ε-prediction, the default);
    ``score``: the paper's literal Eq. 8, (1/τ²)‖S_θ − ∇log p_t‖² = ‖ε̂ − z‖² / (τ² v_t) (its weight explodes, ~10⁶,
    at small t: offered for completeness); ``l1_matching``: IR-SDE's maximum-likelihood loss, the L1 distance between
    the reverse-SDE step from x_t with the predicted score and the optimal x_{t−1} (the posterior mean given x0)."""

    MSE = "mse"
    SCORE = "score"
    L1_MATCHING = "l1_matching"


class D3GMLoss(_Loss):
    """Loss of a D³GM score network, to pair with :class:`monai_d3gm.engines.D3GMPrepareBatch`.

    Args:
        scheduler: the SDE the network is trained for.
        loss_type: a member of :class:`D3GMLossType`.
        reduction: "mean", "sum" or "none" (per-element loss).
    """

    def __init__(self, scheduler: D3GMScheduler, loss_type: str = D3GMLossType.MSE, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        if loss_type not in D3GMLossType.__members__.values():
            raise D3GMInputError(f"loss_type must be one of {list(D3GMLossType)}, got {loss_type!r}.")
        self.scheduler = scheduler
        self.loss_type = D3GMLossType(loss_type)

    def forward(self, input: torch.Tensor, target: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Loss of the network output ``input`` given the training state ``target``.

        Args:
            input: the network output (what :class:`monai_d3gm.inferers.D3GMInferer` returns in training).
            target: a mapping with "x0", "mu", "noise" and "timesteps" (what ``D3GMPrepareBatch`` returns as target),
                and "chain_start" when some rows are chain states.
        """
        missing = [k for k in ("x0", "mu", "noise", "timesteps") if k not in target]
        if missing:
            raise D3GMInputError(f"target is missing {missing}; build it with monai_d3gm.engines.D3GMPrepareBatch.")
        sched = self.scheduler
        x0, mu, noise, t = target["x0"], target["mu"], target["noise"], target["timesteps"]
        if input.shape != x0.shape:
            raise D3GMInputError(
                f"network output {tuple(input.shape)} and x0 {tuple(x0.shape)} must have the same shape."
            )
        if "chain_start" in target and (self.loss_type != D3GMLossType.MSE or sched.prediction_type == "epsilon"):
            raise D3GMInputError(
                "chain states (D3GMPrepareBatch chain_prob > 0) are not draws of the forward marginal, so only the "
                "'mse' loss with an x0 target (prediction_type 'residual' or 'sample') can train on them; "
                f"got loss_type {self.loss_type.value!r}, prediction_type {sched.prediction_type.value!r}."
            )
        if self.loss_type == D3GMLossType.MSE:
            loss = (input - sched.training_target(x0, mu, noise)) ** 2
        else:
            x_t = sched.add_noise(x0, mu, noise, t)
            x0_hat = sched.predict_original_sample(input, t, x_t, mu, clip=False)  # no clamp: keep the gradients
            if self.loss_type == D3GMLossType.SCORE:
                eps_hat = sched.epsilon_from_original_sample(x0_hat, t, x_t, mu)
                weight = 1.0 / (sched.tau**2 * sched.sde.variance(t, x_t))
                loss = weight * (eps_hat - noise) ** 2
            else:
                predicted = sched.reverse_sde_mean(x_t, x0_hat, mu, t, t - 1)
                loss = (predicted - sched.posterior_mean(x_t, x0, mu, t)).abs()
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
