# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Array transforms from MRI data to the D³GM network's inputs (one 2-D slice at a time).

Shapes: k-space is complex (C, H, W) with C coils (C = 1 for single-coil); coil maps are complex (C, H, W); images
are complex (H, W) until :class:`ComplexToChannels` turns them into real (2, H, W) (real, imaginary).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.transforms import Randomizable, Transform

from ....errors import MRIInputError
from ....physics.acquisition import add_kspace_noise, random_coil_maps, rss_peak
from ....physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c, tensor_input
from ....physics.sense import SenseOperator, absorb_background_phase, conjugate_gradient, espirit_maps, sampling_mask_of
from ....utils import finite_number

__all__ = [
    "SimulateKspace",
    "AddKspaceNoise",
    "UndersampleKspace",
    "EstimateCoilMaps",
    "AbsorbBackgroundPhase",
    "SenseAdjoint",
    "NormalizeByMax",
    "ComplexToChannels",
    "ChannelsToComplex",
    "as_kspace",
    "simulated_coil_maps",
]


@functools.lru_cache(maxsize=16)
def simulated_coil_maps(num_coils: int, height: int, width: int) -> torch.Tensor:
    """sigpy's birdcage coil maps (C, H, W) complex64, normalised to unit root-sum-of-squares (cached per shape).

    Ones for one coil. Treat the result as read-only: it is shared between calls.
    """
    if num_coils == 1:
        return torch.ones((1, height, width), dtype=torch.complex64)
    import sigpy.mri

    maps = torch.as_tensor(sigpy.mri.birdcage_maps((num_coils, height, width)), dtype=torch.complex64)
    return maps / maps.abs().square().sum(0, keepdim=True).sqrt().clamp_min(1e-8)


def as_kspace(kspace, name: str = "kspace") -> torch.Tensor:
    """Validate k-space and return it as complex64 (C, H, W): complex, finite, non-empty, 2-D or 3-D."""
    k = tensor_input(kspace, name)
    if not torch.is_complex(k):
        raise MRIInputError(
            f"{name} must be complex-valued (got dtype {k.dtype}); raw k-space is complex. If you hold real and "
            "imaginary parts separately, combine them as real + 1j * imag."
        )
    if k.ndim == 2:
        k = k[None]
    if k.ndim != 3:
        raise MRIInputError(f"{name} must have shape (H, W) or (coils, H, W), got {tuple(k.shape)}.")
    if 0 in k.shape:
        raise MRIInputError(f"{name} of shape {tuple(k.shape)} is empty; pass at least one coil and one sample.")
    if not torch.isfinite(k).all():
        raise MRIInputError(f"{name} contains NaN or Inf values; the acquisition or the file is corrupt.")
    out = k.to(torch.complex64)
    if k.dtype != torch.complex64 and not torch.isfinite(out).all():
        raise MRIInputError(
            f"{name} holds values beyond the complex64 range (max |k| = {float(k.abs().max()):.3g}); rescale it "
            "(e.g. divide by its maximum) before the transforms."
        )
    return out


def _check_finite_output(out: torch.Tensor, source: torch.Tensor, what: str) -> torch.Tensor:
    """Refuse an overflow: ``out`` has NaN/Inf although ``source`` (the input it was computed from) is finite."""
    if bool(torch.isfinite(out).all()) or not bool(torch.isfinite(source).all()):
        return out
    peak = float((source if source.is_complex() else source.double()).abs().max())
    raise MRIInputError(
        f"{what} overflows the output's precision (max |input| = {peak:.3g}); rescale the input (e.g. divide it by "
        "its maximum) first."
    )


class SimulateKspace(Randomizable, Transform):
    """Simulate fully sampled k-space from an image-domain slice (NIfTI, DICOM).

    A magnitude image gets an optional smooth synthetic phase (low-order polynomial, random per call), because real
    MR images are complex and a network trained on real-only images learns a conjugate-symmetric k-space that
    acquisitions do not have. With more than one coil the image is multiplied by coil maps: sigpy's fixed birdcage
    maps, or a random loop-coil array per call (:func:`~monai_d3gm.physics.acquisition.random_coil_maps`).

    Args:
        num_coils: 1 for single-coil k-space, else the number of simulated coils; a sequence draws the number from
            it per call (e.g. ``[1, 4, 8, 12, 16]``).
        phase: "none" (keep the image's own phase, zero for magnitude images) or "smooth".
        max_phase: peak absolute phase of the smooth phase, radians.
        coil_geometry: "birdcage" (sigpy's maps, the same for every call) or "random".

    Returns:
        ``(kspace (C, H, W) complex64, maps (C, H, W) complex64)``; maps are uniform for one coil.
    """

    def __init__(
        self,
        num_coils: int | Sequence[int] = 1,
        phase: str = "smooth",
        max_phase: float = np.pi / 2,
        coil_geometry: str = "birdcage",
    ) -> None:
        choices = list(num_coils) if isinstance(num_coils, (list, tuple)) else [num_coils]
        if not choices or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in choices):
            raise MRIInputError(f"num_coils must be an integer >= 1 or a list of them, got {num_coils!r}.")
        if not isinstance(phase, str) or phase not in ("none", "smooth"):
            raise MRIInputError(f"phase must be 'none' or 'smooth', got {phase!r}.")
        if coil_geometry not in ("birdcage", "random"):
            raise MRIInputError(f"coil_geometry must be 'birdcage' or 'random', got {coil_geometry!r}.")
        self.coil_choices = [int(n) for n in choices]
        self.num_coils = self.coil_choices[0]
        self.phase = phase
        self.max_phase = finite_number(max_phase, "max_phase", MRIInputError)
        self.coil_geometry = coil_geometry
        self._coeffs = np.zeros(6)
        self._coil_seed = 0

    def randomize(self, data=None) -> None:
        self._coeffs = self.R.uniform(-1.0, 1.0, size=6)
        if len(self.coil_choices) > 1:
            self.num_coils = int(self.coil_choices[self.R.randint(len(self.coil_choices))])
        if self.coil_geometry == "random":
            self._coil_seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, image, randomize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        source = img = tensor_input(image, "image")
        if img.ndim == 3 and img.shape[0] == 1:
            img = img[0]
        if img.ndim != 2 or 0 in img.shape:
            raise MRIInputError(
                f"SimulateKspace takes one non-empty 2-D slice (H, W) or (1, H, W) as the image, got shape "
                f"{tuple(img.shape)}."
            )
        if not torch.isfinite(img).all():
            raise MRIInputError("the image contains NaN or Inf values; clean it before simulating k-space.")
        img = img.to(torch.complex64)
        if randomize and (self.phase == "smooth" or len(self.coil_choices) > 1 or self.coil_geometry == "random"):
            self.randomize()
        if self.phase == "smooth":
            h, w = img.shape
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
            c = torch.as_tensor(self._coeffs, dtype=torch.float32)
            poly = c[0] + c[1] * yy + c[2] * xx + c[3] * yy * xx + c[4] * yy**2 + c[5] * xx**2
            img = img * torch.polar(torch.ones_like(poly), self.max_phase * poly / 3.0)
        if self.coil_geometry == "random":
            maps = random_coil_maps(self.num_coils, *img.shape, np.random.RandomState(self._coil_seed))
        else:
            maps = simulated_coil_maps(self.num_coils, *img.shape)
        kspace = _check_finite_output(fft2c(maps * img), source, "simulating k-space from the image")
        return kspace, maps


class AddKspaceNoise(Randomizable, Transform):
    """Thermal noise: complex white Gaussian noise on fully sampled k-space, at a random signal-to-noise ratio.

    The standard deviation per real part is σ = r · max(RSS image of the k-space), with r drawn log-uniformly from
    ``relative_std`` per call (a single number: always that r). Real scans measure r in their k-space corners
    (:func:`~monai_d3gm.physics.acquisition.relative_noise_std`: 0.008 on the real 8-coil brain). Apply it
    before undersampling, so the measured lines and the fully sampled reference share one noise realisation, as in a
    real acquisition.

    Args:
        relative_std: r, or the range (low, high) it is drawn from (log-uniform; low may be 0 for uniform draws).
        prob: probability of adding noise at all.

    Returns:
        ``(noisy kspace (C, H, W) complex64, σ)``.
    """

    def __init__(self, relative_std: float | Sequence[float] = (0.002, 0.025), prob: float = 1.0) -> None:
        bounds = list(relative_std) if isinstance(relative_std, (list, tuple)) else [relative_std, relative_std]
        if len(bounds) != 2:
            raise MRIInputError(f"relative_std must be a number or a (low, high) pair, got {relative_std!r}.")
        low, high = (finite_number(b, "relative_std", MRIInputError) for b in bounds)
        if not 0 <= low <= high:
            raise MRIInputError(f"relative_std must satisfy 0 <= low <= high, got {relative_std!r}.")
        prob = finite_number(prob, "prob", MRIInputError)
        if not 0 <= prob <= 1:
            raise MRIInputError(f"prob must lie in [0, 1], got {prob}.")
        self.low, self.high, self.prob = low, high, prob
        self.relative = low
        self._seed = 0

    def randomize(self, data=None) -> None:
        apply = self.R.uniform() < self.prob
        if not apply:
            self.relative = 0.0
        elif self.low > 0:
            self.relative = float(np.exp(self.R.uniform(np.log(self.low), np.log(self.high))))
        else:
            self.relative = float(self.R.uniform(self.low, self.high))
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, kspace, randomize: bool = True) -> tuple[torch.Tensor, float]:
        k = as_kspace(kspace)
        if randomize:
            self.randomize()
        if self.relative == 0:
            return k, 0.0
        sigma = self.relative * rss_peak(k)
        generator = torch.Generator().manual_seed(self._seed)
        return add_kspace_noise(k, sigma, generator), sigma


class UndersampleKspace(Randomizable, Transform):
    """Apply a sampling mask to k-space, or find the acquired one.

    Args:
        mask: a mask generator called as ``mask(shape, seed=...)`` (e.g.
            :class:`monai_d3gm.physics.masks.CartesianMask`), a fixed (H, W) 0/1 mask, or None to take
            the acquired mask of already undersampled k-space (the samples that are non-zero in any coil).

    Returns:
        ``(masked kspace (C, H, W), mask (H, W) float32)``.
    """

    def __init__(self, mask: Callable[..., torch.Tensor] | torch.Tensor | np.ndarray | None = None) -> None:
        self.mask = mask
        self._seed = 0

    def randomize(self, data=None) -> None:
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def __call__(self, kspace, mask=None, randomize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        k = as_kspace(kspace)
        source = self.mask if mask is None else mask
        if source is None:
            m = (k.abs() > 0).any(0).to(torch.float32)
            if not m.any():
                raise MRIInputError("the k-space is all zeros: there is no acquired sample to reconstruct from.")
            return k, m
        if callable(source):
            if randomize:
                self.randomize()
            source = source(tuple(k.shape[-2:]), seed=self._seed)
        m = tensor_input(source, "mask")
        if m.shape != k.shape[-2:]:
            raise MRIInputError(
                f"mask shape {tuple(m.shape)} does not match the k-space's (H, W) = {tuple(k.shape[-2:])}; build the "
                "mask for this matrix size or transpose it (direction)."
            )
        if m.is_complex() or not bool(((m == 0) | (m == 1)).all()):
            raise MRIInputError(
                f"mask must hold 0/1 values (1 = sampled), got dtype {m.dtype} with other values (or NaN); threshold "
                "it, e.g. (mask > 0).float()."
            )
        m = m.to(torch.float32)
        return k * m.to(k.device), m


class EstimateCoilMaps(Transform):
    """Coil sensitivities from the calibration region (ESPIRiT via sigpy); a phase map for single-coil k-space.

    A single coil's "map" is the unit-modulus phase of its low-resolution image (with ``absorb_phase``; ones without):
    the image of a real acquisition carries a global phase and a smooth background phase, while the networks learned
    nearly real images; with that map as the coil, μ and the data consistency work on the image with the phase
    removed, exactly as multi-coil maps absorb it. (Measured on the benchmark's spine and knee people, 1 coil, 4
    random phases each, at 4x: without it D³GM ranged from +6.3 dB over zero-filling to −2.5 dB with the global
    phase; with it, +3.6 dB or more for every draw.)

    Args:
        calib_width: calibration region width passed to ESPIRiT (an integer >= 1).
        thresh: ESPIRiT's threshold on the calibration matrix's singular values, in [0, 1).
        crop: ESPIRiT's eigenvalue crop, in [0, 1].
        absorb_phase: fold the image's smooth background phase into the maps
            (:func:`~monai_d3gm.physics.sense.absorb_background_phase`), so the SENSE image is nearly
            real like the training images; without it the image carries ESPIRiT's first-coil phase.
    """

    def __init__(
        self, calib_width: int = 24, thresh: float = 0.02, crop: float = 0.95, absorb_phase: bool = True
    ) -> None:
        if isinstance(calib_width, bool) or not isinstance(calib_width, (int, np.integer)) or calib_width < 1:
            raise MRIInputError(f"calib_width must be an integer >= 1, got {calib_width!r}.")
        self.calib_width = int(calib_width)
        self.thresh = finite_number(thresh, "thresh", MRIInputError)
        self.crop = finite_number(crop, "crop", MRIInputError)
        if not 0 <= self.thresh < 1 or not 0 <= self.crop <= 1:
            raise MRIInputError(
                f"thresh must lie in [0, 1) and crop in [0, 1] (ESPIRiT's relative thresholds), got {thresh} and "
                f"{crop}."
            )
        self.absorb_phase = absorb_phase

    def __call__(self, kspace) -> torch.Tensor:
        k = as_kspace(kspace)
        if k.shape[0] == 1:
            return AbsorbBackgroundPhase()(k) if self.absorb_phase else torch.ones_like(k)
        maps = torch.as_tensor(
            espirit_maps(k, calib_width=self.calib_width, thresh=self.thresh, crop=self.crop), dtype=torch.complex64
        )
        return absorb_background_phase(k, maps) if self.absorb_phase else maps


class AbsorbBackgroundPhase(Transform):
    """Coil maps that carry the image's smooth background phase, so that the SENSE image (μ) is nearly real.

    The step :class:`EstimateCoilMaps` ends with, for maps known otherwise (the true maps of a simulation, maps a
    user passes): training and inference both call it on the undersampled k-space, so one code path builds μ. With
    ``maps=None`` (single coil) it returns the unit-modulus phase map of the low-resolution image
    (:func:`~monai_d3gm.physics.sense.absorb_background_phase`); a single coil's given map counts by its
    phase only (one coil's sensitivity magnitude is not identifiable and the networks learned unit-gain images).

    Returns:
        complex maps (C, H, W) with the magnitudes of ``maps`` (modulus 1 for one coil).
    """

    def __call__(self, kspace, maps=None) -> torch.Tensor:
        k = as_kspace(kspace)
        s = torch.ones_like(k) if maps is None else tensor_input(maps, "maps").to(torch.complex64)
        if s.shape != k.shape:
            raise MRIInputError(f"coil maps {tuple(s.shape)} must match the k-space's shape {tuple(k.shape)}.")
        if s.shape[0] == 1:
            s = torch.where(s.abs() > 0, torch.sgn(s), torch.ones_like(s))
        return absorb_background_phase(k, s)


class SenseAdjoint(Transform):
    """D³GM's μ: the SENSE-adjoint image Σ_c conj(S_c) F⁻¹ y_c (for one coil without maps, the zero-filled image), or
    with ``iterations`` > 0 the CG-SENSE image that starts from it.

    Args:
        iterations: 0 for the adjoint, the paper's μ. n > 0 runs n conjugate-gradient iterations on AᴴA x = Aᴴy
            (A = M F S; M the sampling mask, by default where any coil holds a sample) from x = 0: the least-squares
            SENSE image, stopped early (the first iterate is the adjoint, rescaled). It unfolds the aliasing the coils
            can resolve. Fully sampled k-space keeps its adjoint (no iteration runs), and so does single-coil k-space
            with a unit-modulus phase map, for which AᴴA is the identity on the adjoint.

    Returns:
        complex (H, W).
    """

    def __init__(self, iterations: int = 0) -> None:
        try:
            whole = not isinstance(iterations, bool) and float(iterations).is_integer() and iterations >= 0
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise MRIInputError(f"iterations must be a whole number >= 0 (0: the adjoint), got {iterations!r}.")
        self.iterations = int(iterations)

    def __call__(self, kspace, maps=None, mask=None) -> torch.Tensor:
        """``mask``: the (H, W) sampling mask of the CG's forward model (default: where any coil holds a sample)."""
        k = as_kspace(kspace)
        if maps is None:
            if k.shape[0] != 1:
                raise MRIInputError(f"{k.shape[0]}-coil k-space needs coil maps (EstimateCoilMaps) for its image.")
            return _check_finite_output(ifft2c(k[0]), k, "the inverse FFT of the k-space")
        s = tensor_input(maps, "maps")
        if s.shape != k.shape:
            raise MRIInputError(f"coil maps {tuple(s.shape)} must match the k-space's shape {tuple(k.shape)}.")
        if not bool(torch.isfinite(s).all()):
            raise MRIInputError("coil maps contain NaN or Inf values; re-estimate them (EstimateCoilMaps).")
        s = _check_finite_output(s.to(torch.complex64), s, "converting the coil maps to complex64")
        sampled = sampling_mask_of(k) if mask is None else tensor_input(mask, "mask")
        op = SenseOperator(s[None], sampled)
        image = op.adjoint(k[None])
        if self.iterations and not bool((sampled != 0).all()):
            peak = float(image.abs().max())  # the CG in units of the adjoint's peak: its sums of squares neither
            if peak > 0:  # overflow nor underflow float32 at any scanner's scale, and μ scales with the data
                image = conjugate_gradient(op.normal, image / peak, iterations=self.iterations) * peak
        return _check_finite_output(image[0], k, "the SENSE image of the k-space with these maps")


class NormalizeByMax(Transform):
    """Divide by max |reference| (D³GM's "normalise by max |x|"); returns the scale so outputs can be scaled back.

    At inference only the degraded image is known, so the reference is μ (its max is what training used too).

    Returns:
        ``(normalised, scale)``.
    """

    def __call__(self, image, reference=None) -> tuple[torch.Tensor, float]:
        img = tensor_input(image, "image")
        if not (img.is_floating_point() or img.is_complex()):
            img = img.float()  # bool and integer images (the true division's result type)
        ref = img if reference is None else tensor_input(reference, "reference")
        if ref.numel() == 0:
            raise MRIInputError(
                f"cannot normalise: the reference (the image by default) of shape {tuple(ref.shape)} is empty."
            )
        scale = float((ref if ref.is_floating_point() or ref.is_complex() else ref.double()).abs().max())
        if not np.isfinite(scale) or scale <= 0:
            raise MRIInputError(f"cannot normalise: max |reference| is {scale}; the input is empty or corrupt.")
        return _check_finite_output(img / scale, img, f"dividing the image by max |reference| = {scale:.3g}"), scale


class ComplexToChannels(Transform):
    """Complex (H, W) or (1, H, W) → real float32 (2, H, W) = (real, imaginary)."""

    def __call__(self, image) -> torch.Tensor:
        source = img = tensor_input(image, "image")
        if img.ndim == 2:
            img = img[None]
        if img.ndim != 3 or img.shape[0] != 1:
            raise MRIInputError(
                f"ComplexToChannels takes one complex image (H, W) or (1, H, W), got shape {tuple(source.shape)}; "
                "combine coil images first (SenseAdjoint) and convert one slice at a time."
            )
        if not torch.is_complex(img):
            img = img.to(torch.complex64)
        out = complex_to_channels(img[None])[0].to(torch.float32)
        return _check_finite_output(out, source, "converting the image to float32 channels")


class ChannelsToComplex(Transform):
    """Real (2, H, W) → complex (H, W)."""

    def __call__(self, image) -> torch.Tensor:
        img = tensor_input(image, "image")
        if img.ndim != 3 or img.shape[0] != 2:
            raise MRIInputError(f"expected (2, H, W) = (real, imaginary) channels, got {tuple(img.shape)}.")
        return channels_to_complex(img[None])[0, 0]
