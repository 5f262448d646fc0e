# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Property-based fuzzing of the inferer's and the scheduler's input checks: random shapes, dtypes, NaN/Inf,
step counts, samplers and timesteps give a result or a documented error that names the problem."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from monai_d3gm.errors import D3GMInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from tests.fuzz import arrays, check_contract, one_bad

T = 10
SAMPLERS = ["sde", "ode", "posterior", "ddim", "", "SDE"]

torch.manual_seed(0)
NET = ScoreUNet(image_channels=2, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4).eval()


def tensors(max_ndim: int = 5, max_side: int = 9):
    """:func:`tests.fuzz.arrays` as torch tensors (float16 and complex included)."""
    return arrays(max_ndim, max_side).map(lambda a: (torch.from_numpy(np.ascontiguousarray(a[0])), a[1]))


@st.composite
def valid_images(draw) -> torch.Tensor:
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    return torch.rand(
        (draw(st.integers(1, 2)), 2, h, w), generator=torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    )


@given(
    mu=tensors(),
    steps=st.one_of(st.none(), st.integers(-2, T + 2), st.sampled_from([2.5, "3", True])),
    sampler=st.one_of(st.none(), st.sampled_from(SAMPLERS)),
)
def test_sample_takes_any_mu_or_names_the_problem(mu, steps, sampler):
    x, describe = mu
    inferer = D3GMInferer(D3GMScheduler(T, prediction_type="residual"), progress=False, seed=0)
    out = check_contract(
        "D3GMInferer.sample",
        lambda: inferer.sample(x, NET, num_inference_steps=steps, sampler=sampler),
        mention=("mu", "num_inference_steps", "sampler", "network", "NaN"),
        describe=f"mu {describe}, steps {steps!r}, sampler {sampler!r}",
    )
    if out is not None:
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


@given(mu=valid_images(), start=st.one_of(st.none(), tensors(max_ndim=4)))
def test_sample_checks_the_start(mu, start):
    inferer = D3GMInferer(D3GMScheduler(T, prediction_type="residual"), progress=False, seed=0)
    given_start = None if start is None else start[0]
    fits = given_start is None or given_start.shape == mu.shape
    check_contract(
        "D3GMInferer.sample",
        lambda: inferer.sample(mu, NET, num_inference_steps=2, start=given_start),
        mention=("start",),
        expect_error=None if fits else True,
        describe=f"mu {tuple(mu.shape)}, start {None if start is None else start[1]}",
    )


@st.composite
def training_batches(draw) -> tuple[dict, str]:
    """x0, mu, noise and timesteps of a training call: well-formed, then one of them spoiled (or left out)."""
    b, h, w = draw(st.integers(1, 3)), draw(st.integers(4, 12)), draw(st.integers(4, 12))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    args = {
        "inputs": torch.rand((b, 2, h, w), generator=g),
        "mu": torch.rand((b, 2, h, w), generator=g),
        "noise": torch.randn((b, 2, h, w), generator=g),
        "timesteps": torch.randint(1, T + 1, (b,), generator=g),
    }
    spoil = draw(st.sampled_from(["none", "none", "random", "drop", "timesteps"]))
    name = draw(st.sampled_from(sorted(args)))
    if spoil == "random":
        args[name] = draw(tensors(max_ndim=4))[0]
    elif spoil == "drop" and name != "inputs":
        args[name] = None
    elif spoil == "timesteps":
        args["timesteps"] = draw(
            st.one_of(
                st.lists(st.integers(-3, T + 3), min_size=0, max_size=4).map(torch.tensor),
                st.integers(-3, T + 3).map(torch.tensor),
                st.lists(st.one_of(st.floats(-1, T + 1), st.just(math.nan)), min_size=1, max_size=3).map(torch.tensor),
            )
        )
    return args, f"batch {b}x2x{h}x{w}, spoil {spoil} {name}"


@given(batch=training_batches())
def test_training_call_checks_its_arguments(batch):
    args, describe = batch
    inferer = D3GMInferer(D3GMScheduler(T, prediction_type="residual"), progress=False, seed=0)
    inputs = args.pop("inputs")
    if all(v is None for v in args.values()):  # no mu, noise, timesteps: restoration of inputs (a documented call)
        return
    out = check_contract(
        "D3GMInferer training call",
        lambda: inferer(inputs, NET, **args),
        mention=("inputs", "mu", "noise", "timesteps", "shape", "network", "NaN", "dtype"),
        describe=describe,
    )
    if out is not None:
        assert out.shape == inputs.shape and torch.isfinite(out).all()


SCHEDULER_VALID = {
    "num_train_timesteps": st.integers(1, 300),
    "lam": st.floats(1e-3, 1.0),
    "tau": st.floats(0.5, 4.0),
    "eps": st.floats(1e-4, 0.5),
    "schedule": st.sampled_from(["cosine", "linear", "constant"]),
    "prediction_type": st.sampled_from(["epsilon", "sample", "residual"]),
    "clip_sample_min": st.floats(-2.0, -0.5),
    "clip_sample_max": st.floats(0.5, 2.0),
}
NOT_FINITE = [math.nan, math.inf, -math.inf]
SCHEDULER_BAD = {
    "num_train_timesteps": [0, -2, 2.5, "10", True],
    "lam": [0.0, -1.0, *NOT_FINITE],
    "tau": [0.0, -1.0, *NOT_FINITE, "2"],
    "eps": [0.0, 1.0, 1.5, *NOT_FINITE],
    "schedule": ["quadratic", ""],
    "prediction_type": ["v", None],
    "clip_sample_min": [5.0, math.nan],
    "clip_sample_max": [-5.0, math.nan],
}


@given(
    kwargs=one_bad(SCHEDULER_VALID, SCHEDULER_BAD),
    schedule_args=st.sampled_from(
        [{}, {}, {}, {"theta": math.nan}, {"theta_end": math.inf}, {"theta_start": -1.0}, {"s": 0.5}, {"bogus": 1}]
    ),
)
def test_scheduler_construction_checks_its_parameters(kwargs, schedule_args):
    sched = check_contract(
        "D3GMScheduler",
        lambda: D3GMScheduler(**kwargs, **schedule_args),
        mention=("num_train_timesteps", "lam", "tau", "eps", "schedule", "prediction_type", "clip_sample"),
        describe=f"{kwargs} {schedule_args}",
    )
    if sched is not None:  # every table the sampler reads is finite and in float64
        for table in (sched.thetas, sched.thetas_bar, sched.variances, sched.marginal_stds, sched.decays):
            assert table.dtype == torch.float64 and torch.isfinite(table).all()
        assert math.isfinite(sched.dt) and sched.dt > 0


@given(
    shapes=st.one_of(
        st.sampled_from([(1, 1, 4, 4), (2, 2, 4, 5)]).map(lambda s: (s, s, s)),  # matching: the step itself is checked
        st.tuples(*[st.sampled_from([(1, 1, 4, 4), (2, 1, 4, 4), (1, 1, 4, 5), (1, 2, 4, 4)])] * 3),
    ),
    timestep=st.one_of(st.integers(-2, T + 2), st.sampled_from([torch.tensor(3), torch.tensor([3, 4]), 2.5])),
    prev=st.one_of(st.none(), st.integers(-2, T + 2)),
    sampler=st.one_of(st.none(), st.sampled_from(SAMPLERS)),
)
def test_scheduler_step_checks_its_arguments(shapes, timestep, prev, sampler):
    sched = D3GMScheduler(T, prediction_type="residual")
    sched.set_timesteps(5)
    output, sample, mu = (torch.rand(s) for s in shapes)
    result = check_contract(
        "D3GMScheduler.step",
        lambda: sched.step(output, timestep, sample, mu, prev_timestep=prev, sampler=sampler),
        mention=("model_output", "sample", "mu", "timestep", "sampler"),
        describe=f"shapes {shapes}, t {timestep!r}, prev {prev!r}, sampler {sampler!r}",
    )
    if result is not None:
        assert result[0].shape == sample.shape and torch.isfinite(result[0]).all()


def test_regressions_found_by_fuzzing():
    """Inputs that once escaped as undocumented errors or were silently accepted."""
    inferer = D3GMInferer(D3GMScheduler(T, prediction_type="residual"), progress=False, seed=0)
    mu = torch.rand(1, 2, 8, 8)
    with pytest.raises(D3GMInputError, match="num_inference_steps must lie in"):  # 0 was replaced by the default
        inferer.sample(mu, NET, num_inference_steps=0)
    with pytest.raises(D3GMInputError, match="start"):  # torch.cat's RuntimeError
        inferer.sample(mu, NET, num_inference_steps=2, start=torch.zeros(1, 2, 4, 4))
    with pytest.raises(D3GMInputError, match="complex"):  # conv2d's RuntimeError
        inferer.sample(mu.to(torch.complex64), NET, num_inference_steps=2)
    with pytest.raises(D3GMInputError, match="float64.*weights are torch.float32"):  # conv2d's dtype RuntimeError
        inferer.sample(mu.double(), NET, num_inference_steps=2)
    with pytest.raises(D3GMInputError, match=r"mu has shape \(1, 1, 8\) but the ScoreUNet takes \(B, 2, \*, \*\)"):
        inferer.sample(torch.rand(1, 1, 8), NET, num_inference_steps=2)  # the network's own message named no mu
    with pytest.raises(D3GMInputError, match="empty"):
        inferer.sample(torch.zeros(1, 2, 0, 8), NET, num_inference_steps=2)
    with pytest.raises(D3GMInputError, match="tau must be a finite number"):  # inf tables, NaN samples
        D3GMScheduler(T, tau=math.inf)
    with pytest.raises(D3GMInputError, match="finite positive rates"):  # inf theta: NaN theta_bar
        D3GMScheduler(T, schedule="linear", theta_end=math.inf)
    with pytest.raises(D3GMInputError, match="does not take the arguments"):  # TypeError
        D3GMScheduler(T, bogus=1)
    with pytest.raises(D3GMInputError, match="must be an integer"):  # int("ten"), or 2.5 silently truncated
        D3GMScheduler(np.float64(2.5))
