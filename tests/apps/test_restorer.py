# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The posterior-sample loop the three tasks' restorers share."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.restoration.restore import D3GMImageRestorer
from monai_d3gm.apps.restorer import PosteriorRestorer
from monai_d3gm.apps.super_resolution.restore import D3GMSuperResolver
from monai_d3gm.errors import ImageInputError, MRIInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.schedulers import D3GMScheduler


class Shrink(torch.nn.Module):
    """A 'network' predicting the residual −0.5 (x − μ), with a parameter so that eval() matters."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(-0.5))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = x.shape[1] // 2
        return self.scale * x[:, :c]


def test_samples_are_successive_draws_stacked_on_axis_one():
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    restorer = PosteriorRestorer(Shrink().train(), inferer, num_inference_steps=3, num_samples=4)
    mu = torch.rand(2, 1, 8, 8)
    stack = restorer.posterior_samples(mu, torch.Generator().manual_seed(0), transform=lambda out: out[:, 0])
    assert stack.shape == (2, 4, 8, 8) and not restorer.network.training
    g = torch.Generator().manual_seed(0)
    one_by_one = torch.stack([restorer.sample(mu, g)[:, 0] for _ in range(4)], 1)
    torch.testing.assert_close(stack, one_by_one, rtol=0, atol=0)
    assert not torch.allclose(stack[:, 0], stack[:, 1])  # distinct draws


@pytest.mark.parametrize(
    "restorer, error",
    [(D3GMReconstructor, MRIInputError), (D3GMSuperResolver, MRIInputError), (D3GMImageRestorer, ImageInputError)],
)
def test_every_task_shares_the_settings_and_their_check(restorer, error):
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    assert issubclass(restorer, PosteriorRestorer)
    with pytest.raises(error, match="num_samples must be >= 1"):
        restorer(Shrink(), inferer, num_samples=0)
    made = restorer(Shrink(), inferer, num_inference_steps=5, sampler="ode", num_samples=2, seed=3)
    assert (made.num_inference_steps, made.sampler, made.num_samples, made.seed) == (5, "ode", 2, 3)
