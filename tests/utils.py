# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Test helpers: where the project's real data lies, and how to skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``../shared/data`` beside the repository (always present in CI; absent on a user's machine)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path inside ``../shared/data``; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lies in ../shared/data beside the repository in CI)")
    return path


def train_toy_score_network(
    x_all,
    mu_all,
    steps: int,
    clip: tuple[float, float] = (-1.0, 1.0),
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
):
    """Train a tiny ScoreUNet (residual prediction, τ = 2) on pairs (x0, μ) for ``steps`` Adam steps.

    Returns:
        ``(network in eval mode, D3GMInferer, list of losses)``.
    """
    import torch
    from monai.utils import set_determinism

    from monai_d3gm.engines import D3GMPrepareBatch
    from monai_d3gm.inferers import D3GMInferer
    from monai_d3gm.losses import D3GMLoss
    from monai_d3gm.networks.nets import ScoreUNet
    from monai_d3gm.networks.schedulers import D3GMScheduler

    set_determinism(seed=seed)
    sched = D3GMScheduler(tau=2.0, prediction_type="residual", clip_sample_min=clip[0], clip_sample_max=clip[1])
    net = ScoreUNet(
        image_channels=x_all.shape[1], channels=(16, 32), attention_levels=(False, False), norm_num_groups=8
    )
    inferer, prepare, loss_fn = D3GMInferer(sched, progress=False), D3GMPrepareBatch(sched, seed=seed), D3GMLoss(sched)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x_all), (batch_size,), generator=g)
        x0, target, _, kwargs = prepare({"image": x_all[idx], "mu": mu_all[idx]})
        loss = loss_fn(inferer(x0, net, **kwargs), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    set_determinism(seed=None)
    return net.eval(), inferer, losses
