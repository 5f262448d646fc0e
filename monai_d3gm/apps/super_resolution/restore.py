# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""D³GM super-resolution of one MR slice, with the bicubic and sinc baselines and metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ...metrics import magnitude_metrics, real_slice
from ...physics.consistency import LowpassConsistency
from ...physics.resolution import bicubic_upsample, crop_to_multiple, sinc_upsample
from ..restorer import PosteriorRestorer
from .transforms.array import low_resolution

__all__ = [
    "D3GMSuperResolver",
    "PreparedLowResolution",
    "SIMULATE_MODES",
    "DC_MODES",
    "SuperResolutionDataConsistency",
    "prepare_low_resolution",
    "super_resolution_result",
]

SIMULATE_MODES = ("none", "kspace", "blur")
DC_MODES = ("none", "lowpass")
#: μ is divided by this percentile of itself (the training slices are scaled to their 99.8th percentile)
NORMALISE_PERCENTILE = 99.8


@dataclass
class PreparedLowResolution:
    """A case made ready for sampling by :meth:`D3GMSuperResolver.prepare`.

    Attributes:
        lr: the low-resolution image (h, w).
        mu: μ, the LR image brought to the HR grid by sinc interpolation, divided by ``norm``.
        norm: what μ was divided by (its 99.8th percentile).
        sinc: the sinc-interpolated baseline (H, W), in the input's scale.
        bicubic: the bicubic baseline (H, W), in the input's scale.
        reference: the HR reference (H, W) when the LR image was simulated, else None.
        simulate: how the LR image came about: "none", "kspace" or "blur".
    """

    lr: torch.Tensor
    mu: torch.Tensor
    norm: float
    sinc: torch.Tensor
    bicubic: torch.Tensor
    reference: torch.Tensor | None
    simulate: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PreparedLowResolution:
        """The prepared slice held in a preprocessed case's dictionary (keys named as the attributes)."""
        return cls(*(data[name] for name in cls.__dataclass_fields__))


class D3GMSuperResolver(PosteriorRestorer):
    """Turns an MR slice into its ``scale`` times finer version with D³GM.

    The case is a dictionary with "image" (a real 2-D slice, as from
    :func:`~monai_d3gm.io.load_mri_slice`). With ``simulate="none"`` the image *is* the
    low-resolution input (the real use); with "kspace" or "blur" it is a high-resolution reference, degraded here
    (k-space truncation, or Gaussian blur of ``sigma`` HR pixels and area down-sampling) so the result can be scored
    against it, as are the bicubic and sinc baselines.

    Args:
        network: the score network (1 image channel).
        inferer: the D³GM inferer (its scheduler must match the network's training).
        scale: the super-resolution factor (the network was trained for one factor).
        simulate: "none", "kspace" or "blur" (see above); a case's own "simulate" key wins.
        sigma: blur of the "blur" degradation, in HR pixels.
        data_consistency: "none" or "lowpass" (:class:`LowpassConsistency`, for k-space-truncated inputs).
        num_inference_steps: network evaluations per sample.
        sampler: "sde", "ode" or "posterior".
        num_samples: posterior samples; their mean is the output and their standard deviation the uncertainty map.
        seed: seed of the sampler's noise.
        device: where to run.
    """

    error = MRIInputError

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: D3GMInferer,
        scale: int = 4,
        simulate: str = "none",
        sigma: float = 1.5,
        data_consistency: str = "none",
        num_inference_steps: int = 3,
        sampler: str = "posterior",
        num_samples: int = 1,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if simulate not in SIMULATE_MODES:
            raise MRIInputError(f"simulate must be one of {SIMULATE_MODES}, got {simulate!r}.")
        if data_consistency not in DC_MODES:
            raise MRIInputError(f"data_consistency must be one of {DC_MODES}, got {data_consistency!r}.")
        super().__init__(network, inferer, num_inference_steps, sampler, num_samples, seed, device)
        if int(scale) != scale or scale < 2:
            raise MRIInputError(f"scale must be an integer >= 2, got {scale!r}.")
        self.scale = int(scale)
        self.simulate = simulate
        self.sigma = sigma
        self.data_consistency = data_consistency
        self.consistency = SuperResolutionDataConsistency(data_consistency, self.scale)

    def prepare(self, case: dict[str, Any]) -> PreparedLowResolution:
        """The LR image, μ (normalised), the baselines and the reference of a case, without sampling
        (:func:`prepare_low_resolution`; a case's own "simulate" key wins over the resolver's)."""
        return prepare_low_resolution(case, self.scale, case.get("simulate", self.simulate), self.sigma)

    @torch.no_grad()
    def __call__(self, case: dict[str, Any]) -> dict[str, Any]:
        """Super-resolve a case.

        Returns:
            a dictionary with "output" (HR, the input's intensity scale), "sinc" and "bicubic" (the baselines), "lr",
            "reference" (or None), "std" (spread of the samples, or None), "simulate" and "metrics" ({"d3gm",
            "bicubic", "sinc"} PSNR/SSIM when a reference exists).
        """
        prepared = self.prepare(case)
        return super_resolution_result(prepared, self._samples(prepared))

    @torch.no_grad()
    def resolve_subsets(self, case: dict[str, Any], sample_counts: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Super-resolve a case once with ``num_samples`` samples and give, for each n of ``sample_counts``, the result
        of the first n of them: what ``num_samples=n`` with the same seed returns (the samples are drawn one after the
        other), for calibrating the spread of several sample counts in one run.

        Raises:
            MRIInputError: a count above ``num_samples``.
        """
        if max(sample_counts) > self.num_samples:
            raise MRIInputError(f"sample counts {list(sample_counts)} need num_samples >= {max(sample_counts)}.")
        prepared = self.prepare(case)
        samples = self._samples(prepared, verbose=False)
        return {int(n): super_resolution_result(prepared, samples[:n]) for n in sample_counts}

    def _samples(self, prepared: PreparedLowResolution, **kwargs: Any) -> torch.Tensor:
        """The posterior samples (num_samples, 1, H, W) of a prepared slice."""
        mu = prepared.mu[None, None].to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        return self.posterior_samples(mu, generator, self.consistency.build(mu), **kwargs)[0]


class SuperResolutionDataConsistency:
    """Builds a slice's data consistency: "lowpass" (:class:`~monai_d3gm.physics.consistency.LowpassConsistency`,
    for k-space-truncated inputs) or "none". Called as the evaluator's
    :class:`~monai_d3gm.engines.RestorationPrepareBatch` factory, ``factory(case, generator, device)``.

    Args:
        mode: "none" or "lowpass".
        scale: the super-resolution factor.
        input_key: μ in the network's layout (1, H, W).
    """

    def __init__(self, mode: str = "none", scale: int = 4, input_key: str = "inputs") -> None:
        if mode not in DC_MODES:
            raise MRIInputError(f"data_consistency must be one of {DC_MODES}, got {mode!r}.")
        self.mode, self.scale, self.input_key = mode, int(scale), input_key

    def build(self, mu: torch.Tensor) -> LowpassConsistency | None:
        """Data consistency with μ (B, 1, H, W), on μ's device."""
        return LowpassConsistency(mu, self.scale) if self.mode == "lowpass" else None

    def __call__(self, case: Mapping[str, Any], generator: Any, device: torch.device) -> LowpassConsistency | None:
        return self.build(torch.as_tensor(case[self.input_key])[None].to(device))


def super_resolution_result(prepared: PreparedLowResolution, samples: torch.Tensor) -> dict[str, Any]:
    """A slice's super-resolution from its posterior samples (N, 1, H, W), in the input's intensity scale.

    Returns:
        the dictionary :meth:`D3GMSuperResolver.__call__` describes.
    """
    stack = samples[:, 0].cpu().clamp(min=0) * prepared.norm
    result = {
        "output": stack.mean(0),
        "sinc": prepared.sinc,
        "bicubic": prepared.bicubic,
        "lr": prepared.lr,
        "reference": prepared.reference,
        "std": stack.std(0) if stack.shape[0] > 1 else None,
        "simulate": prepared.simulate,
        "metrics": {},
    }
    if prepared.reference is not None:
        result["metrics"] = {
            name: magnitude_metrics(result[key], prepared.reference)
            for name, key in (("d3gm", "output"), ("bicubic", "bicubic"), ("sinc", "sinc"))
        }
    return result


def prepare_low_resolution(case: Mapping[str, Any], scale: int, simulate: str, sigma: float) -> PreparedLowResolution:
    """The LR image, μ (normalised), the baselines and the reference of a case.

    Args:
        case: a dictionary with "image" (a real 2-D slice, as from :func:`~monai_d3gm.io.load_mri_slice`).
        scale: the super-resolution factor.
        simulate: "none" (the image is the LR input), or "kspace" / "blur" (the image is the HR reference, degraded
            with :func:`~.transforms.array.low_resolution`, as training degrades it).
        sigma: blur of the "blur" degradation, in HR pixels.
    """
    if "image" not in case:
        raise MRIInputError(
            f"{case.get('path', 'the case')}: super-resolution takes an image (NIfTI or DICOM), not k-space; "
            "use the MRI reconstruction bundle for k-space inputs."
        )
    image = real_slice(case["image"], case.get("path", "the case"))
    if not np.any(image.numpy() if isinstance(image, torch.Tensor) else image):
        index = case.get("slice_index")
        raise MRIInputError(
            f"{case.get('path', 'the case')}: {'slice ' + str(index) if index is not None else 'the image'} holds "
            "only zeros (a padding slice?); choose a slice with data (slice_index), or super-resolve the whole "
            "volume (whole_volume), which passes empty slices through as zeros."
        )
    if simulate not in SIMULATE_MODES:
        raise MRIInputError(f"simulate must be one of {SIMULATE_MODES}, got {simulate!r}.")
    reference = None
    if simulate == "none":
        lr = image
    else:
        if min(image.shape) < 4 * scale:
            raise MRIInputError(f"the image {tuple(image.shape)} is too small to simulate a x{scale} LR image.")
        reference = crop_to_multiple(image, scale)
        lr = low_resolution(reference, scale, simulate, sigma)  # as SimulateLowResolution in training
    mu = sinc_upsample(lr, scale)
    norm = float(np.percentile(mu.numpy(), NORMALISE_PERCENTILE))
    if not np.isfinite(norm) or norm <= 0:
        raise MRIInputError(f"{case.get('path', 'the case')}: the image is empty (its 99.8th percentile is {norm}).")
    bicubic = bicubic_upsample(lr, scale).clamp(min=0)
    return PreparedLowResolution(lr, mu / norm, norm, mu.clamp(min=0), bicubic, reference, simulate)
