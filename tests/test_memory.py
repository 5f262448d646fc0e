# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The memory guard: estimates that scale with the input, refusals before any allocation, budgets, no probe of
parameter-free stand-ins."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.errors import D3GMInputError, InputTooLargeError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.memory import MemoryGuard, available_memory, format_bytes, layer_output_bytes
from monai_d3gm.networks.nets import ScoreNAFNet, ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler


def _unet() -> ScoreUNet:
    torch.manual_seed(0)
    return ScoreUNet(image_channels=2, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4).eval()


def test_available_memory_is_known_on_this_platform():
    free = available_memory("cpu")
    assert free is not None and free > 0
    assert format_bytes(3 * 2**30) == "3.0 GiB" and format_bytes(5 * 2**20) == "5 MiB"


def test_layer_output_bytes_counts_every_layer_and_scales_with_pixels():
    net = _unet()
    t = torch.ones(1, dtype=torch.long)
    small = layer_output_bytes(net, (torch.zeros(1, 4, 32, 32), t))
    large = layer_output_bytes(net, (torch.zeros(1, 4, 64, 64), t))
    assert small > 8 * 32 * 32 * 4  # at least the first convolution's output
    assert 3.5 < large / small <= 4.0  # convolutional: proportional to the pixels (the time embedding is constant)


@pytest.mark.parametrize("make", [_unet, lambda: ScoreNAFNet(image_channels=2, width=8).eval()])
def test_estimate_is_linear_in_batch_and_pixels(make):
    net, guard = make(), MemoryGuard()
    one = guard.estimate(net, (1, 2, 128, 128))
    assert guard.estimate(net, (4, 2, 128, 128)) == pytest.approx(4 * one, rel=1e-6)
    assert guard.estimate(net, (1, 2, 256, 256)) == pytest.approx(4 * one, rel=0.01)
    assert not net.training  # the probe restores the network's mode


def test_probe_leaves_training_mode_and_weights_alone():
    net = _unet().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    MemoryGuard().estimate(net, (2, 2, 64, 64))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_inferer_refuses_a_batch_too_large_before_allocating_it():
    net, steps = _unet(), []
    inferer = D3GMInferer(D3GMScheduler(prediction_type="residual"), progress=False)
    # an expanded tensor: (16, 2, 16384, 16384) would be 32 GiB as float32, but it costs nothing until touched
    mu = torch.zeros(1, 1, 1, 1).expand(16, 2, 16384, 16384)
    with pytest.raises(InputTooLargeError, match=r"\(16, 2, 16384, 16384\).*GiB.*memory_budget") as err:
        inferer.sample(mu, net, num_inference_steps=2, callback=steps.append)
    assert "batch" in str(err.value) and steps == []


def test_explicit_budget_and_opt_out():
    net, mu = _unet(), torch.rand(2, 2, 32, 32)
    sched = D3GMScheduler(prediction_type="residual")
    with pytest.raises(InputTooLargeError, match="needs about"):
        D3GMInferer(sched, progress=False, memory_budget=64 * 1024).sample(mu, net, num_inference_steps=2)
    out = D3GMInferer(sched, progress=False, memory_guard=False).sample(mu, net, num_inference_steps=2)
    assert out.shape == mu.shape
    with pytest.raises(D3GMInputError, match="positive number of bytes"):
        MemoryGuard(budget=0)


def test_max_batch_shrinks_to_what_fits_and_refuses_one_too_many():
    net = _unet()
    one = MemoryGuard().estimate(net, (1, 2, 32, 32))
    assert MemoryGuard(budget=int(2.5 * one)).max_batch(net, (2, 32, 32), 8, "cpu") == 2
    assert MemoryGuard(budget=int(100 * one)).max_batch(net, (2, 32, 32), 8, "cpu") == 8
    with pytest.raises(InputTooLargeError, match="crop or resample"):
        MemoryGuard(budget=int(0.5 * one)).max_batch(net, (2, 32, 32), 8, "cpu")


def test_parameter_free_stand_ins_and_plain_callables_are_not_probed():
    calls = []

    class StandIn(torch.nn.Module):
        def forward(self, x, t):
            calls.append(x.shape)
            return torch.zeros_like(x[:, :1])

    guard = MemoryGuard(budget=1)
    assert guard.estimate(StandIn(), (1, 1, 64, 64)) is None and calls == []
    assert guard.estimate(lambda x, t: x, (1, 1, 64, 64)) is None
    guard.check(StandIn(), (1, 1, 64, 64))  # nothing to estimate: no refusal
