# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Data consistency: after every reverse step, make the state agree with what was measured.

Every data consistency is a callable ``dc(sample, timestep, noise_std) -> sample`` (the :class:`DataConsistency`
protocol). :meth:`monai_d3gm.inferers.D3GMInferer.sample` calls it after each step with the state x_t, the step t it
reached (0 after the last step) and the SDE's noise level there, ``noise_std`` = sqrt(v_t) (0 at t = 0), so a data
consistency needs no scheduler. Instances: :class:`HardDataConsistency` and :class:`SoftDataConsistency` (single-coil
k-space), :class:`SenseDataConsistency` (multi-coil, CG-SENSE), :class:`LowpassConsistency` (super-resolution).

For the k-space ones:

* ``sample`` is REAL, shape (B, 2, H, W), channels (real, imag) of the complex image (see
  :func:`.fft.complex_to_channels`), in the same intensity scale as the k-space given here (normalise both alike);
* the returned sample has the same shape, dtype and device.

Noise-aware replacement. The SDE's state is x_t ~ N(m_t, v_t) per real channel, with m_t = μ + (x0 − μ) e^{−θ̄_t}.
For reconstruction μ is the zero-filled image F^H M y, which has the same sampled k-space as x0 (y = M F x0 for
noiseless data), so on the sampled entries the *mean* of F(x_t) is the measurement y at every t, and F(x_t) carries
complex white noise of variance v_t per real part (the orthonormal FFT keeps white noise white). Pasting the bare
measurement into x_t at t > 0 would remove that noise from the sampled entries only, giving the network states it
never saw in training. So the measurement is replaced by ``y + noise_std (n_re + i n_im)`` with fresh n_re, n_im ~
N(0, 1) drawn from ``generator``; with ``noise_std`` 0 (at t = 0, or called without it) it is the exact measurement.

Shapes accepted (``kspace`` is the measured, centred k-space; non-sampled entries are ignored):

* single-coil (:class:`HardDataConsistency`, :class:`SoftDataConsistency`): kspace complex (B, H, W) or (B, 1, H, W);
* multi-coil (:class:`SenseDataConsistency`): kspace complex (B, C, H, W) with coil maps (C, H, W) or (B, C, H, W);
* mask: real 0/1 of shape (H, W) (shared), (B, H, W) or (B, 1, H, W) (one per batch element);
* noise_std: a number, or one per batch element ((B,) or (B, 1, 1, 1)) when the steps differ per element.

B may be 1 for a k-space shared by a batch of samples (e.g. several posterior samples of one slice).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import MRIInputError
from ..noise import NoiseSource, randn
from ..utils import finite_number
from .fft import channels_to_complex, complex_to_channels, fft2c, ifft2c, tensor_input
from .resolution import lowpass
from .sense import SenseOperator, conjugate_gradient

__all__ = [
    "DataConsistency",
    "HardDataConsistency",
    "KspaceDataConsistency",
    "LowpassConsistency",
    "SenseDataConsistency",
    "SoftDataConsistency",
]

NoiseLevel = float | torch.Tensor


@runtime_checkable
class DataConsistency(Protocol):
    """``dc(sample, timestep, noise_std) -> sample``: the state x_t made consistent with the measurement at step t,
    where the SDE's state has standard deviation ``noise_std`` around its mean (0 at t = 0)."""

    def __call__(
        self, sample: torch.Tensor, timestep: int | torch.Tensor, noise_std: NoiseLevel = 0.0
    ) -> torch.Tensor: ...


#: the smallest non-zero weight of soft data consistency (float32 k-space does not see less)
MIN_WEIGHT = 1e-6


def _complex_noise(shape: tuple[int, ...], like: torch.Tensor, generator: NoiseSource) -> torch.Tensor:
    """Complex white noise n_re + i n_im with n_re, n_im ~ N(0, 1) (see
    :func:`~monai_d3gm.noise.randn`)."""
    return torch.view_as_complex(randn((*shape, 2), generator, like.real.dtype, like.device))


class KspaceDataConsistency:
    """Base class: validates and stores the measured k-space and mask, and checks the noise level it is called with.

    Args:
        kspace: measured centred k-space, complex; (B, H, W) or (B, 1, H, W) single-coil, (B, C, H, W) multi-coil.
        mask: real 0/1 sampling mask, (H, W), (B, H, W) or (B, 1, H, W).
        generator: random generator of the measurement's noise at t > 0 (determinism; module docstring).
        multicoil: whether ``kspace`` is (B, C, H, W) multi-coil (else single-coil).
    """

    def __init__(
        self,
        kspace: torch.Tensor | np.ndarray,
        mask: torch.Tensor | np.ndarray,
        generator: NoiseSource = None,
        multicoil: bool = False,
    ) -> None:
        name = type(self).__name__
        k = tensor_input(kspace, f"{name}: kspace")
        if not k.is_complex():
            raise MRIInputError(
                f"{name}: kspace must be a complex tensor, got dtype {k.dtype} with shape {tuple(k.shape)}; build it "
                "with torch.complex(real, imag) or torch.view_as_complex(x) for a trailing (..., 2) real/imag axis."
            )
        if multicoil:
            if k.ndim != 4:
                raise MRIInputError(
                    f"{name}: multi-coil kspace must have shape (B, C, H, W), got {tuple(k.shape)}; add the batch "
                    "dimension with kspace[None]."
                )
        else:
            if k.ndim == 3:
                k = k[:, None]
            if k.ndim != 4 or k.shape[1] != 1:
                raise MRIInputError(
                    f"{name}: single-coil kspace must have shape (B, H, W) or (B, 1, H, W), got {tuple(k.shape)}; "
                    "for multi-coil k-space use SenseDataConsistency with coil maps."
                )
        if 0 in k.shape:
            raise MRIInputError(f"{name}: kspace of shape {tuple(k.shape)} is empty; pass the measured k-space.")
        if not bool(torch.isfinite(k).all()):
            raise MRIInputError(
                f"{name}: kspace of shape {tuple(k.shape)} contains NaN or Inf values; clean or re-read the data."
            )
        m = tensor_input(mask, f"{name}: mask")
        if m.is_complex() or m.ndim not in (2, 3, 4) or (m.ndim == 4 and m.shape[1] != 1):
            raise MRIInputError(
                f"{name}: mask must be real with shape (H, W), (B, H, W) or (B, 1, H, W), got {m.dtype} "
                f"{tuple(m.shape)}."
            )
        m = m.reshape(-1, 1, *m.shape[-2:])
        if m.shape[-2:] != k.shape[-2:] or m.shape[0] not in (1, k.shape[0]):
            raise MRIInputError(
                f"{name}: mask of shape {tuple(torch.as_tensor(mask).shape)} does not match kspace of shape "
                f"{tuple(k.shape)}: the mask's (H, W) must equal the k-space's {tuple(k.shape[-2:])} and its batch "
                f"size must be 1 or {k.shape[0]}; build the mask for this k-space grid (e.g. CartesianMask()(shape))."
            )
        if not bool(((m == 0) | (m == 1)).all()):
            raise MRIInputError(f"{name}: mask must hold 0/1 values (1 = sampled), got values outside {{0, 1}}.")
        self.mask = m.bool()
        self.kspace = torch.where(self.mask, k, torch.zeros_like(k))
        self.generator = generator

    @property
    def shape(self) -> tuple[int, int]:
        """The (H, W) k-space grid."""
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    def _to(self, device: torch.device) -> None:
        if self.kspace.device != device:
            self.kspace = self.kspace.to(device)
            self.mask = self.mask.to(device)

    def _check_sample(self, sample: torch.Tensor) -> torch.Tensor:
        """Validate x_t; returns it in the precision the FFTs run in (float32 for half or bfloat16 samples)."""
        name = type(self).__name__
        ok = isinstance(sample, torch.Tensor) and sample.is_floating_point() and sample.ndim == 4
        if not ok or sample.shape[1] != 2 or tuple(sample.shape[-2:]) != self.shape:
            got = tuple(sample.shape) if isinstance(sample, torch.Tensor) else type(sample).__name__
            raise MRIInputError(
                f"{name}: sample must be real (B, 2, H, W) = (B, 2, {self.shape[0]}, {self.shape[1]}) with channels "
                f"(real, imag), got {got}; train and sample the network on complex_to_channels(image)."
            )
        if self.kspace.shape[0] not in (1, sample.shape[0]):
            raise MRIInputError(
                f"{name}: sample has batch size {sample.shape[0]} but the k-space has {self.kspace.shape[0]}; give one "
                "k-space per sample (or a single one shared by all)."
            )
        return sample if sample.dtype in (torch.float32, torch.float64) else sample.float()

    def check_timestep(self, timestep: int | torch.Tensor, like: torch.Tensor) -> None:
        """The step reached: one integer >= 0, or one per sample (an integer tensor)."""
        name = type(self).__name__
        if isinstance(timestep, torch.Tensor) and timestep.ndim > 0:
            ok = not (timestep.is_complex() or timestep.is_floating_point()) and bool((timestep >= 0).all())
            if not ok or timestep.numel() not in (1, like.shape[0]):
                raise MRIInputError(
                    f"{name}: timestep must be one integer step or one per sample ({like.shape[0]}), got "
                    f"{timestep.dtype} of shape {tuple(timestep.shape)}."
                )
            return
        try:
            whole = not isinstance(timestep, (bool, str, bytes)) and bool(int(timestep) == timestep) and timestep >= 0
        except (TypeError, ValueError, OverflowError, RuntimeError):
            whole = False
        if not whole:
            raise MRIInputError(f"{name}: timestep must be an integer step >= 0, got {timestep!r}.")

    def noise_level(self, noise_std: NoiseLevel, like: torch.Tensor) -> NoiseLevel:
        """Check the noise level a call was given: a finite number >= 0, or one per sample.

        Returns:
            a float, or a real (B, 1, 1, 1) tensor in the dtype and device of ``like`` for one level per sample.
        """
        name = type(self).__name__
        if isinstance(noise_std, torch.Tensor):
            if noise_std.is_complex() or noise_std.numel() not in (1, like.shape[0]):
                raise MRIInputError(
                    f"{name}: noise_std must be one number or one per sample ({like.shape[0]}), got "
                    f"{noise_std.dtype} of shape {tuple(noise_std.shape)}."
                )
            if noise_std.numel() == 1:
                return self.noise_level(float(noise_std), like)
            std = noise_std.to(device=like.device, dtype=like.real.dtype).reshape(-1, 1, 1, 1)
            if not bool((torch.isfinite(std) & (std >= 0)).all()):
                raise MRIInputError(f"{name}: noise_std must be finite and >= 0, got {noise_std.tolist()}.")
            return std
        std = finite_number(noise_std, f"{name}: noise_std", MRIInputError)
        if std < 0:
            raise MRIInputError(f"{name}: noise_std must be >= 0 (the SDE's sqrt(v_t)), got {std}.")
        return std

    @staticmethod
    def _is_zero(std: float | torch.Tensor) -> bool:
        return (not isinstance(std, torch.Tensor) and std == 0.0) or (
            isinstance(std, torch.Tensor) and not bool((std != 0).any())
        )

    def noisy_measurement(self, like: torch.Tensor, std: float | torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """The measurement plus ``scale * std`` complex white noise on the sampled entries (zeros elsewhere).

        Args:
            like: a complex tensor (B, C, H, W) whose batch size, dtype and device the result takes.
            std: per-part noise standard deviation (see :meth:`noise_level`).
            scale: extra factor on the noise.
        """
        y = self.kspace.to(like.dtype).expand(like.shape[0], *self.kspace.shape[1:])
        if self._is_zero(std):
            return y
        noise = _complex_noise(tuple(y.shape), like, self.generator)
        return torch.where(self.mask, y + (std * scale) * noise, y)

    def __call__(self, sample: torch.Tensor, timestep: int | torch.Tensor, noise_std: NoiseLevel = 0.0) -> torch.Tensor:
        raise NotImplementedError


class SoftDataConsistency(KspaceDataConsistency):
    """Single-coil soft data consistency: on sampled entries k ← (1 − w)·F(x_t) + w·(y + noise).

    For noisy measurements, ``weight`` w in [0, 1] sets how much the measurement is trusted (1 = hard replacement,
    0 = no-op). At t > 0 (``noise_std`` = sqrt(v_t) > 0) the fresh noise on y has standard deviation
    s = sqrt(v_t (2 − w) / w), so that the sampled entries keep the SDE's marginal variance:
    (1 − w)² v_t + w² s² = v_t (for w = 1, s = sqrt(v_t), the hard rule). Non-sampled entries are untouched.

    Args:
        kspace: measured single-coil k-space, complex (B, H, W) or (B, 1, H, W).
        mask: 0/1 mask, (H, W), (B, H, W) or (B, 1, H, W).
        weight: w in [0, 1].
        generator: random generator of the replacement noise.
        phase: optional unit-modulus phase map P, complex (H, W) or (B, H, W), of a single-coil acquisition whose
            image is ``P x`` (the reconstruction's ``EstimateCoilMaps`` for one coil): the sample x is the image with
            that phase removed, and the replacement acts on F(P x). Since |P| = 1 this is as exact as without it.
    """

    def __init__(
        self,
        kspace: torch.Tensor | np.ndarray,
        mask: torch.Tensor | np.ndarray,
        weight: float = 0.9,
        *,
        generator: NoiseSource = None,
        phase: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        super().__init__(kspace, mask, generator, multicoil=False)
        self.phase = None if phase is None else self._unit_phase(phase)
        weight = finite_number(weight, f"{type(self).__name__}: weight", MRIInputError)
        if not 0.0 <= weight <= 1.0:
            raise MRIInputError(
                f"{type(self).__name__}: weight must lie in [0, 1] (1 = hard replacement), got {weight}."
            )
        if 0.0 < weight < MIN_WEIGHT:  # the replacement noise is scaled by sqrt((2 - w) / w): inf for subnormal w
            raise MRIInputError(
                f"{type(self).__name__}: weight {weight:g} is too small to change float32 k-space; use 0 (no data "
                f"consistency) or at least {MIN_WEIGHT:g}."
            )
        self.weight = weight

    def __call__(self, sample: torch.Tensor, timestep: int | torch.Tensor, noise_std: NoiseLevel = 0.0) -> torch.Tensor:
        """Apply data consistency to x_t (real (B, 2, H, W)) at step ``timestep``, whose noise level is
        ``noise_std``; returns the same shape."""
        x = self._check_sample(sample)
        self.check_timestep(timestep, x)
        std = self.noise_level(noise_std, x)
        if self.weight == 0.0:
            return sample
        self._to(sample.device)
        image = channels_to_complex(x)
        phase = self.phase
        k = fft2c(image if phase is None else image * phase)
        w = self.weight
        target = self.noisy_measurement(k, std, scale=float(np.sqrt((2.0 - w) / w)))
        k = torch.where(self.mask, (1.0 - w) * k + w * target if w < 1.0 else target, k)
        image = ifft2c(k)
        return complex_to_channels(image if phase is None else image * phase.conj()).to(sample.dtype)

    def _to(self, device: torch.device) -> None:
        super()._to(device)
        if self.phase is not None and self.phase.device != device:
            self.phase = self.phase.to(device)

    def _unit_phase(self, phase: torch.Tensor | np.ndarray) -> torch.Tensor:
        name = type(self).__name__
        p = tensor_input(phase, f"{name}: phase")
        p = p.to(torch.complex64) if p.is_complex() else p  # complex128 maps (np.exp(1j * ...)) as the k-space's
        p4 = p.reshape(-1, 1, *p.shape[-2:]) if p.ndim in (2, 3) else p
        if not p.is_complex() or p.ndim not in (2, 3) or p4.shape[-2:] != self.kspace.shape[-2:]:
            raise MRIInputError(
                f"{name}: phase must be a complex (H, W) or (B, H, W) map on the k-space's grid "
                f"{tuple(self.kspace.shape[-2:])}, got {p.dtype} {tuple(p.shape)}; estimate it with "
                "EstimateCoilMaps()(kspace)[0]."
            )
        if p4.shape[0] not in (1, self.kspace.shape[0]):
            raise MRIInputError(f"{name}: phase batch {p4.shape[0]} must be 1 or the k-space's {self.kspace.shape[0]}.")
        if not bool(torch.isfinite(p4).all()) or not torch.allclose(p4.abs(), torch.ones(()), atol=1e-3):
            raise MRIInputError(
                f"{name}: phase must have modulus 1 everywhere (a phase map, not coil sensitivities); for "
                "sensitivities use SenseDataConsistency."
            )
        return p4


class HardDataConsistency(SoftDataConsistency):
    """Single-coil hard data consistency: the sampled entries of F(x_t) are replaced by the measurement.

    At t > 0 the replacement is ``y + noise_std·(n_re + i n_im)`` (module docstring); with ``noise_std`` 0 (t = 0) it
    is y exactly. Non-sampled entries are untouched. Equal to ``SoftDataConsistency(weight=1)``.

    Args:
        kspace: measured single-coil k-space, complex (B, H, W) or (B, 1, H, W).
        mask: 0/1 mask, (H, W), (B, H, W) or (B, 1, H, W).
        generator: random generator of the replacement noise.
        phase: optional unit-modulus phase map of the acquisition (:class:`SoftDataConsistency`).
    """

    def __init__(
        self,
        kspace: torch.Tensor | np.ndarray,
        mask: torch.Tensor | np.ndarray,
        *,
        generator: NoiseSource = None,
        phase: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        super().__init__(kspace, mask, weight=1.0, generator=generator, phase=phase)


class SenseDataConsistency(KspaceDataConsistency):
    """Multi-coil (SENSE) data consistency: a few CG steps on (AᴴA + λ I) x = Aᴴ y_t + λ x_t, warm-started at x_t.

    A = M F S (:class:`.sense.SenseOperator`). This is the proximal step of ½‖A x − y_t‖² at x_t with weight 1/λ:
    small λ pulls x toward the measurements (λ → 0: the least-squares solution nearest x_t), large λ keeps x_t
    (with ESPIRiT maps and an orthonormal FFT the eigenvalues of AᴴA lie in [0, 1], so λ = 1 weighs both alike).

    At t > 0 the measurement is y_t = y + A(noise_std · n), n complex white noise in the image domain:
    exactly the k-space noise that x_t's image noise of variance v_t produces through A (per coil, correlated across
    coils), so that y_t matches A x_t in distribution.

    Args:
        kspace: measured multi-coil k-space, complex (B, C, H, W).
        mask: 0/1 mask, (H, W), (B, H, W) or (B, 1, H, W).
        maps: coil maps, complex (C, H, W) or (B, C, H, W) (e.g. :func:`.sense.espirit_maps`); None for C = 1.
        iterations: CG iterations per call; a call costs iterations + 1 applications of AᴴA (the default 5: about 7 %
            of one ScoreUNet(2ch, (32, 64, 64)) forward for 8 coils at 320x320 on a CPU, benchmarks/classical.py).
        lam: λ > 0.
        generator: random generator of the measurement's noise at t > 0.
    """

    def __init__(
        self,
        kspace: torch.Tensor | np.ndarray,
        mask: torch.Tensor | np.ndarray,
        maps: torch.Tensor | np.ndarray | None,
        iterations: int = 5,
        lam: float = 1.0,
        *,
        generator: NoiseSource = None,
    ) -> None:
        super().__init__(kspace, mask, generator, multicoil=True)
        name = type(self).__name__
        if maps is not None:
            maps = tensor_input(maps, f"{name}: maps")
            m4 = maps[None] if maps.ndim == 3 else maps
            if not maps.is_complex() or m4.ndim != 4 or m4.shape[1:] != self.kspace.shape[1:]:
                raise MRIInputError(
                    f"{name}: coil maps of dtype {maps.dtype} and shape {tuple(maps.shape)} do not match kspace of "
                    f"shape {tuple(self.kspace.shape)}: maps must be complex (C, H, W) or (B, C, H, W) with the "
                    "k-space's coils and grid; estimate them from this k-space (espirit_maps(kspace[0]))."
                )
            if m4.shape[0] not in (1, self.kspace.shape[0]):
                raise MRIInputError(
                    f"{name}: maps batch {m4.shape[0]} must be 1 or the k-space's {self.kspace.shape[0]}."
                )
        elif self.kspace.shape[1] != 1:
            raise MRIInputError(
                f"{name}: {self.kspace.shape[1]}-coil k-space needs coil maps (e.g. espirit_maps(kspace[0]))."
            )
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
            raise MRIInputError(f"{name}: iterations must be an integer >= 1, got {iterations!r}.")
        lam = finite_number(lam, f"{name}: lam", MRIInputError)
        if not lam > 0:
            raise MRIInputError(f"{name}: lam must be > 0, got {lam}.")
        self.operator = SenseOperator(maps, self.mask)
        self.iterations = int(iterations)
        self.lam = lam
        self._adjoint_y: torch.Tensor | None = None

    def _to(self, device: torch.device) -> None:
        if self.kspace.device != device:
            super()._to(device)
            self.operator.to(device)
            self._adjoint_y = None

    def __call__(self, sample: torch.Tensor, timestep: int | torch.Tensor, noise_std: NoiseLevel = 0.0) -> torch.Tensor:
        """Apply data consistency to x_t (real (B, 2, H, W)) at step ``timestep``, whose noise level is
        ``noise_std``; returns the same shape."""
        x = channels_to_complex(self._check_sample(sample))[:, 0]
        self.check_timestep(timestep, x)
        std = self.noise_level(noise_std, x)
        self._to(sample.device)
        op, lam = self.operator, self.lam
        if self._adjoint_y is None or self._adjoint_y.dtype != x.dtype:
            self._adjoint_y = op.adjoint(self.kspace.to(x.dtype))
        # warm start at x_t: r0 = Aᴴy_t + λx_t − (AᴴA + λI)x_t = Aᴴy − AᴴA(x_t − sqrt(v_t) n), one AᴴA for both
        shifted = x
        if not self._is_zero(std):
            noise = _complex_noise(tuple(x.shape), x, self.generator)
            shifted = x - noise * (std[:, 0] if isinstance(std, torch.Tensor) else std)
        residual = self._adjoint_y - op.normal(shifted)
        x = x + conjugate_gradient(lambda v: op.normal(v) + lam * v, residual, iterations=self.iterations)
        return complex_to_channels(x[:, None]).to(sample.dtype)


class LowpassConsistency:
    """k-space data consistency for super-resolution: at the last step the central k-space of the sample (what the
    LR scan measured) is replaced by μ's, ``x <- x - lowpass(x) + mu``.

    Valid when the LR image is a k-space truncation (``simulate="kspace"`` or a genuine low-resolution acquisition);
    for blurred inputs μ is not the HR image's low-pass, and this would put the blur back.

    Args:
        mu: μ (B, C, H, W), the LR image on the HR grid.
        scale: the super-resolution factor.
    """

    def __init__(self, mu: torch.Tensor, scale: int) -> None:
        self.mu = lowpass(mu, scale)
        self.scale = scale

    def __call__(self, sample: torch.Tensor, timestep: int, noise_std: NoiseLevel = 0.0) -> torch.Tensor:
        if timestep > 0:
            return sample
        return sample - lowpass(sample, self.scale) + self.mu
