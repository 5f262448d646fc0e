# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""k-space data consistency callables: exact replacement, soft blending, SENSE-CG, SDE-matched noise, validation."""

from __future__ import annotations

import pytest
import torch

from monai_d3gm.errors import MRIInputError
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.consistency import (
    HardDataConsistency,
    SenseDataConsistency,
    SoftDataConsistency,
)
from monai_d3gm.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_d3gm.physics.masks import CartesianMask
from monai_d3gm.physics.sense import SenseOperator, root_sum_of_squares

H, W = 32, 24


def _randc(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def single():
    """(measured k-space (B, H, W), mask (H, W), sample x_t (B, 2, H, W))."""
    mask = CartesianMask("random", 4, 0.125, seed=0)((H, W))
    kspace = fft2c(_randc(2, H, W, seed=1)) * mask
    return kspace, mask, complex_to_channels(_randc(2, 1, H, W, seed=2))


def _kspace_of(sample: torch.Tensor) -> torch.Tensor:
    return fft2c(channels_to_complex(sample))[:, 0]


def _std(sched: D3GMScheduler, t: int | torch.Tensor) -> float | torch.Tensor:
    """The noise level the inferer hands data consistency at step t: sqrt(v_t)."""
    std = sched.marginal_std(t)
    return float(std) if std.ndim == 0 else std


@pytest.mark.parametrize("noise_std", [0.0, 0.05])
def test_hard_at_t0_is_exact_and_leaves_unsampled(single, noise_std):
    kspace, mask, sample = single
    dc = HardDataConsistency(kspace, mask)
    out = dc(sample, 0)  # at t = 0 the inferer's noise level is 0, the default
    assert out.shape == sample.shape and out.dtype == sample.dtype
    k_out, k_in, sampled = _kspace_of(out), _kspace_of(sample), mask.bool().expand(2, H, W)
    torch.testing.assert_close(k_out[sampled], kspace[sampled], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(k_out[~sampled], k_in[~sampled], atol=1e-5, rtol=1e-5)
    # with noise level 0 the measurement is pasted exactly at every t; with a noise level it is not
    pasted = _kspace_of(dc(sample, 50, noise_std))[sampled]
    if not noise_std:
        torch.testing.assert_close(pasted, kspace[sampled], atol=1e-5, rtol=1e-5)
    else:
        assert not torch.allclose(pasted, kspace[sampled], atol=1e-3)


def test_soft_weight_one_equals_hard(single):
    kspace, mask, sample = single
    sched = D3GMScheduler()
    for t in (0, 30):
        hard = HardDataConsistency(kspace, mask, generator=_gen(3))(sample, t, _std(sched, t))
        soft = SoftDataConsistency(kspace, mask, weight=1.0, generator=_gen(3))(sample, t, _std(sched, t))
        torch.testing.assert_close(soft, hard, atol=0, rtol=0)


def test_soft_blends_sampled_entries(single):
    kspace, mask, sample = single
    out = SoftDataConsistency(kspace, mask, weight=0.3)(sample, 0)
    k_in, sampled = _kspace_of(sample), mask.bool().expand(2, H, W)
    expected = torch.where(sampled, 0.7 * k_in + 0.3 * kspace, k_in)
    torch.testing.assert_close(_kspace_of(out), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(SoftDataConsistency(kspace, mask, weight=0.0)(sample, 0), sample)


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_noise_matches_sde_variance(weight):
    """x_t = μ + sqrt(v_t) n (μ = zero-filled image, so F(x_t) has mean y on sampled entries): after DC at t the
    sampled entries still have mean y and variance v_t per real part (±6 %, ~33k samples: 4σ of the estimate), for
    hard (w = 1) and soft (w = 0.5, fresh noise scaled by sqrt((2 − w)/w)) replacement."""
    sched, t, batch, size = D3GMScheduler(), 40, 4, 64
    v = float(sched.marginal_std(t)) ** 2
    mask = CartesianMask("equispaced", 2, 0.1, seed=0)((size, size))
    kspace = fft2c(_randc(batch, size, size, seed=4)) * mask
    mu = ifft2c(kspace)
    x_t = complex_to_channels(mu[:, None]) + v**0.5 * torch.randn(batch, 2, size, size, generator=_gen(5))
    out = SoftDataConsistency(kspace, mask, weight=weight, generator=_gen(6))(x_t, t, v**0.5)
    residual = (_kspace_of(out) - kspace)[mask.bool().expand(batch, size, size)]
    parts = torch.cat([residual.real, residual.imag])
    assert abs(float(parts.mean())) < 0.05 * v**0.5
    assert abs(float(parts.var()) / v - 1) < 0.06


def test_noise_is_deterministic_with_generator(single):
    kspace, mask, sample = single
    sched = D3GMScheduler()
    a = HardDataConsistency(kspace, mask, generator=_gen(7))(sample, 60, _std(sched, 60))
    b = HardDataConsistency(kspace, mask, generator=_gen(7))(sample, 60, _std(sched, 60))
    c = HardDataConsistency(kspace, mask, generator=_gen(8))(sample, 60, _std(sched, 60))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)
    # per-sample timesteps (B,): element 0 at t = 0 is exact, element 1 at t = 60 is noisy
    steps = torch.tensor([0, 60])
    out = HardDataConsistency(kspace, mask, generator=_gen(7))(sample, steps, _std(sched, steps))
    sampled = mask.bool()
    torch.testing.assert_close(_kspace_of(out)[0][sampled], kspace[0][sampled], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(_kspace_of(out)[1][sampled], kspace[1][sampled], atol=1e-3)


def test_batched_per_sample_masks_equal_individual_calls():
    masks = torch.stack([CartesianMask("random", 4, 0.125, seed=s)((H, W)) for s in range(3)])
    kspace = fft2c(_randc(3, H, W, seed=9)) * masks
    sample = complex_to_channels(_randc(3, 1, H, W, seed=10))
    batched = HardDataConsistency(kspace, masks[:, None])(sample, 0)
    for i in range(3):
        torch.testing.assert_close(
            batched[i : i + 1], HardDataConsistency(kspace[i : i + 1], masks[i])(sample[i : i + 1], 0)
        )
    # one k-space shared by a batch of samples
    shared = HardDataConsistency(kspace[:1], masks[0])(sample, 0)
    assert shared.shape == sample.shape


def _multicoil(coils: int = 4, batch: int = 2, seed: int = 11):
    """Smooth unit-RSS coil maps, a 3x mask, noiseless k-space of a random image, and a starting state."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    sens = torch.stack(
        [
            torch.exp(-((yy - a) ** 2 + (xx - b) ** 2)) * torch.exp(1j * (a * xx + b * yy))
            for a, b in [(-1, -1), (-1, 1), (1, -1), (1, 1)][:coils]
        ]
    ).to(torch.complex64)
    maps = sens / root_sum_of_squares(sens, 0)
    mask = CartesianMask("random", 3, 0.125, seed=seed)((H, W))
    x_true = _randc(batch, H, W, seed=seed)
    kspace = SenseOperator(maps, mask)(x_true)
    start = complex_to_channels(_randc(batch, 1, H, W, seed=seed + 1))
    return kspace, mask, maps, start


def test_sense_cg_reduces_residual_and_converges_to_least_squares():
    kspace, mask, maps, start = _multicoil()
    op = SenseOperator(maps, mask)

    def residual(sample):
        return float((op(channels_to_complex(sample)[:, 0]) - kspace).norm())

    r0 = residual(start)
    rs = [residual(SenseDataConsistency(kspace, mask, maps, iterations=n, lam=1e-4)(start, 0)) for n in (1, 5, 20, 200)]
    assert rs[0] < r0 and all(b <= a * 1.001 for a, b in zip(rs, rs[1:]))
    # the system is consistent (y = A x_true): the LS residual is 0, λ = 1e-4 leaves 0.3 % (measured 0.26 %)
    assert rs[-1] < 1e-2 * r0
    # with λ > 0, many iterations reach the exact solution of (AᴴA + λI) x = Aᴴy + λ x_t
    lam = 1.0
    x_t = channels_to_complex(start)[:, 0]
    exact = SenseDataConsistency(kspace, mask, maps, iterations=300, lam=lam)(start, 0)
    lhs = op.normal(channels_to_complex(exact)[:, 0]) + lam * channels_to_complex(exact)[:, 0]
    rhs = op.adjoint(kspace) + lam * x_t
    assert float((lhs - rhs).norm() / rhs.norm()) < 1e-4
    few = SenseDataConsistency(kspace, mask, maps, iterations=5, lam=lam)(start, 0)
    assert float((few - exact).norm() / (start - exact).norm()) < 0.05


def test_sense_single_coil_matches_hard_projection():
    """With C = 1 and maps of ones, AᴴA is the k-space projection F^H M F, so CG with λ → 0 is hard replacement."""
    mask = CartesianMask("random", 4, 0.125, seed=0)((H, W))
    kspace = fft2c(_randc(2, 1, H, W, seed=12)) * mask
    sample = complex_to_channels(_randc(2, 1, H, W, seed=13))
    sense = SenseDataConsistency(kspace, mask, None, iterations=3, lam=1e-6)(sample, 0)
    hard = HardDataConsistency(kspace, mask)(sample, 0)
    torch.testing.assert_close(sense, hard, atol=1e-4, rtol=1e-4)


def test_sense_noise_statistics_and_determinism():
    """Single-coil SENSE-DC (λ → 0) at t > 0: the sampled entries get y + A(sqrt(v_t) n), variance v_t (±6 %)."""
    sched, t, batch, size = D3GMScheduler(), 40, 4, 64
    v = float(sched.marginal_std(t)) ** 2
    mask = CartesianMask("equispaced", 2, 0.1, seed=0)((size, size))
    kspace = fft2c(_randc(batch, 1, size, size, seed=14)) * mask
    mu = complex_to_channels(ifft2c(kspace))
    dc = SenseDataConsistency(kspace, mask, None, iterations=2, lam=1e-6, generator=_gen(15))
    out = dc(mu, t, v**0.5)
    residual = (_kspace_of(out) - kspace[:, 0])[mask.bool().expand(batch, size, size)]
    parts = torch.cat([residual.real, residual.imag])
    assert abs(float(parts.var()) / v - 1) < 0.06
    kspace4, mask4, maps, start = _multicoil()
    a = SenseDataConsistency(kspace4, mask4, maps, generator=_gen(1))(start, 50, _std(sched, 50))
    b = SenseDataConsistency(kspace4, mask4, maps, generator=_gen(1))(start, 50, _std(sched, 50))
    c = SenseDataConsistency(kspace4, mask4, maps, generator=_gen(2))(start, 50, _std(sched, 50))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)


def test_inferer_end_to_end():
    """D3GMInferer.sample with hard DC: the final sample (DC at t = 0) has exactly the measured k-space."""

    def net(x, t):
        return torch.zeros_like(x[:, :2])

    mask = CartesianMask("random", 4, 0.125, seed=0)((H, W))
    image = _randc(1, H, W, seed=16) * 0.3
    kspace = fft2c(image) * mask
    mu = complex_to_channels(ifft2c(kspace)[:, None])
    sched = D3GMScheduler(num_train_timesteps=20)
    dc = HardDataConsistency(kspace, mask, generator=_gen(17))
    out = D3GMInferer(sched, progress=False).sample(
        mu, net, num_inference_steps=5, generator=_gen(18), data_consistency=dc
    )
    sampled = mask.bool()[None].expand(1, H, W)
    torch.testing.assert_close(_kspace_of(out)[sampled], kspace[sampled], atol=1e-5, rtol=1e-5)


def test_validation_errors(single):
    kspace, mask, sample = single
    with pytest.raises(
        MRIInputError, match=r"mask of shape \(16, 24\) does not match kspace of shape \(2, 1, 32, 24\)"
    ):
        HardDataConsistency(kspace, torch.ones(16, 24))
    with pytest.raises(MRIInputError, match="batch size must be 1 or 2"):
        HardDataConsistency(kspace, torch.ones(3, H, W))
    with pytest.raises(MRIInputError, match="complex tensor"):
        HardDataConsistency(kspace.real, mask)
    bad = kspace.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(MRIInputError, match="NaN or Inf"):
        HardDataConsistency(bad, mask)
    with pytest.raises(MRIInputError, match="0/1"):
        HardDataConsistency(kspace, mask * 0.5)
    with pytest.raises(MRIInputError, match="single-coil kspace"):
        HardDataConsistency(kspace[:, None].expand(2, 3, H, W), mask)
    with pytest.raises(MRIInputError, match="weight"):
        SoftDataConsistency(kspace, mask, weight=1.5)
    dc = HardDataConsistency(kspace, mask)
    with pytest.raises(MRIInputError, match=r"sample must be real \(B, 2, H, W\)"):
        dc(sample[:, :1], 0)
    with pytest.raises(MRIInputError, match="batch size 3"):
        dc(torch.cat([sample, sample[:1]]), 0)
    k4, m4, maps, _ = _multicoil()
    with pytest.raises(MRIInputError, match=r"\(B, C, H, W\)"):
        SenseDataConsistency(k4[0], m4, maps)
    with pytest.raises(MRIInputError, match="do not match kspace"):
        SenseDataConsistency(k4, m4, maps[:2])
    with pytest.raises(MRIInputError, match="needs coil maps"):
        SenseDataConsistency(k4, m4, None)
    with pytest.raises(MRIInputError, match="lam"):
        SenseDataConsistency(k4, m4, maps, lam=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(single):
    kspace, mask, sample = single
    sched = D3GMScheduler()
    dc = HardDataConsistency(kspace, mask, generator=torch.Generator("cuda").manual_seed(0))
    assert dc(sample.cuda(), 5, _std(sched, 5)).device.type == "cuda"
    k4, m4, maps, start = _multicoil()
    assert SenseDataConsistency(k4, m4, maps)(start.cuda(), 5, _std(sched, 5)).device.type == "cuda"


@pytest.mark.parametrize("weight", [1.0, 0.6])
def test_phase_map_replaces_in_the_acquisition_frame(weight):
    """With a unit-modulus phase map P the sample is the image with P removed: the rule acts on F(P x), so it equals
    P^H applied to the rule without P on the image P x, and at t = 0 with w = 1 the k-space of P x is the data."""
    mask = CartesianMask("random", 4, 0.16)((16, 12), seed=0)
    kspace = _randc(2, 16, 12, seed=1) * mask
    phase = torch.sgn(_randc(2, 16, 12, seed=2))
    x = _randc(2, 16, 12, seed=3)
    with_phase = SoftDataConsistency(kspace, mask, weight=weight, phase=phase)
    without = SoftDataConsistency(kspace, mask, weight=weight)
    out = channels_to_complex(with_phase(complex_to_channels(x[:, None]), 0))[:, 0]
    expected = phase.conj() * channels_to_complex(without(complex_to_channels((phase * x)[:, None]), 0))[:, 0]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if weight == 1.0:
        k = fft2c(phase * out)
        torch.testing.assert_close(k[:, mask.bool()], kspace[:, mask.bool()], atol=1e-5, rtol=1e-5)
    hard = HardDataConsistency(kspace, mask, phase=phase[0])  # one map shared by the batch
    assert hard(complex_to_channels(x[:, None]), 0).shape == (2, 2, 16, 12)
    double = HardDataConsistency(kspace, mask, phase=phase[0].to(torch.complex128))  # e.g. from np.exp(1j * ...)
    torch.testing.assert_close(double(complex_to_channels(x[:, None]), 0), hard(complex_to_channels(x[:, None]), 0))


def test_phase_map_is_checked():
    mask = torch.ones(8, 8)
    kspace = _randc(1, 8, 8)
    with pytest.raises(MRIInputError, match="modulus 1"):
        HardDataConsistency(kspace, mask, phase=2 * torch.sgn(_randc(8, 8)))
    with pytest.raises(MRIInputError, match="grid"):
        HardDataConsistency(kspace, mask, phase=torch.sgn(_randc(8, 6)))
    with pytest.raises(MRIInputError, match="complex"):
        HardDataConsistency(kspace, mask, phase=torch.ones(8, 8))


def test_every_data_consistency_takes_the_inferers_noise_level(single):
    """Hard, soft, CG-SENSE and low-pass are instances of one protocol, dc(x_t, t, noise_std) with noise_std 0 by
    default (the exact measurement), so the inferer hands every one of them the SDE's noise level."""
    import inspect

    from monai_d3gm.physics import DataConsistency, LowpassConsistency

    kspace, mask, sample = single
    for dc in (
        HardDataConsistency(kspace, mask),
        SoftDataConsistency(kspace, mask),
        SenseDataConsistency(kspace[:, None], mask, None),
        LowpassConsistency(sample, 2),
    ):
        assert isinstance(dc, DataConsistency)
        assert inspect.signature(dc).parameters["noise_std"].default == 0.0
        torch.testing.assert_close(dc(sample, 0), dc(sample, 0, 0.0))
