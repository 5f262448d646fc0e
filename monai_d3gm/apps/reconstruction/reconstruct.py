# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reconstruct one MRI slice with D³GM: from a loaded case (``load_mri_slice``) to images and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ...metrics import magnitude_metrics
from ...noise import ItemNoise, NoiseSource
from ...physics.consistency import HardDataConsistency, SenseDataConsistency, SoftDataConsistency
from ...physics.fft import channels_to_complex, complex_to_channels, ifft2c
from ...physics.sense import consistent_coil_rss, root_sum_of_squares
from ...transforms.utils import run_chain
from ..restorer import PosteriorRestorer
from .transforms import SenseAdjoint, SenseAdjointd
from .transforms.inference import phase_encoding_along_h, reconstruction_preprocessing

__all__ = [
    "D3GMReconstructor",
    "PreparedSlice",
    "ReconstructionDataConsistency",
    "phase_encoding_along_h",
    "reconstruction_result",
]

DC_MODES = ("none", "hard", "soft", "sense")
COIL_COMBINATIONS = ("sense", "rss")


@dataclass
class PreparedSlice:
    """A case made ready for sampling by :meth:`D3GMReconstructor.prepare`, in the network's orientation.

    Attributes:
        kspace: the measured (or undersampled) k-space divided by ``scale``, complex (C, H, W).
        mask: the sampling mask (H, W).
        maps: coil maps (C, H, W), one coil's phase map (1, H, W), or None.
        mu: the degraded image μ, complex (H, W), max |μ| = 1.
        scale: what the data was divided by.
        reference: the magnitude or complex reference image, or None.
        transposed: whether the slice was transposed (phase encoding along H) and is transposed back in the result.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    maps: torch.Tensor | None
    mu: torch.Tensor
    scale: float
    reference: torch.Tensor | None
    transposed: bool = False

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PreparedSlice:
        """The prepared slice held in a preprocessed case's dictionary (keys named as the attributes)."""
        return cls(
            data["kspace"],
            data["mask"],
            data.get("maps"),
            data["mu"],
            float(data["scale"]),
            data.get("reference"),
            bool(data.get("transposed", False)),
        )


class D3GMReconstructor(PosteriorRestorer):
    """Turns a loaded case into a D³GM reconstruction.

    The case is the dictionary of :func:`monai_d3gm.io.load_mri_slice`:

    * image-domain inputs ("image": NIfTI, DICOM) are simulated as fully sampled single-coil k-space, undersampled
      with ``mask`` and compared with the image;
    * fully sampled k-space is undersampled with ``mask`` and compared with the RSS of the full data;
    * undersampled k-space (``mask=None``) is reconstructed from its acquired samples (no reference unless the file
      holds one of the same size).

    Multi-coil cases may carry their own coil maps ("maps", (C, H, W)); otherwise ESPIRiT estimates them. Single-coil
    k-space gets the phase map of its calibration region as its "coil" (:class:`.transforms.EstimateCoilMaps`), so
    that the network sees the nearly real image it learned whatever the acquisition's global and background phase.

    Args:
        network: the score network (2 image channels: real, imaginary).
        inferer: the D³GM inferer (its scheduler must match the network's training).
        mask: mask generator (e.g. ``CartesianMask``) applied to fully sampled data; None uses the acquired mask.
        mask_seed: seed of the mask generator (fixed masks make runs comparable).
        data_consistency: "none" (the paper's sampler), "hard" (single-coil replacement), "soft", or "sense"
            (multi-coil CG); multi-coil data always uses "sense" unless "none".
        num_inference_steps: network evaluations per sample.
        sampler: "sde", "ode" or "posterior".
        num_samples: posterior samples; their mean is the reconstruction and their standard deviation the
            uncertainty map.
        seed: seed of the sampler's noise.
        calib_width: ESPIRiT calibration width for multi-coil data.
        sense_lam: λ of the multi-coil (SENSE) data consistency, the proximal weight of the network's image against
            the measurements (:class:`~monai_d3gm.physics.consistency.SenseDataConsistency`; smaller trusts the data
            more).
        sense_iterations: its conjugate-gradient iterations per step.
        coil_combination: how a multi-coil result becomes one image. "sense": the coil-combined image of the sampler,
            zero outside the coil maps' support. "rss": the root sum of squares of its coil images with each coil's
            measured samples put back (:func:`~monai_d3gm.physics.sense.consistent_coil_rss`), combined as a scanner
            combines coils and as fastMRI's references are: the background keeps the acquired share of the measured
            noise (and the residual of the fit there) instead of zeros. The complex result then has that magnitude and
            the coil-combined image's phase (phase 0 outside the support), "zero_filled" is the RSS of the zero-filled
            coil images, and several samples average their RSS images. Putting the measurements back is data
            consistency, so ``data_consistency="none"`` keeps the SENSE combination. Single-coil data ignores it.
        mu_iterations: how μ is built from multi-coil k-space: 0, the SENSE adjoint (the paper's μ); n > 0, n CG-SENSE
            iterations (:class:`.transforms.SenseAdjoint`). Must be what the network was trained with
            (``train.json``'s ``mu_iterations``). Single-coil μ is the same either way.
        device: where to run.
        preprocessing: the transforms (or a ``Compose``) that turn a loaded case into the prepared slice; default
            :func:`~.transforms.inference.reconstruction_preprocessing` of ``mask``, ``mask_seed``, ``calib_width``
            and ``mu_iterations`` (the bundle passes the chain its ``inference.json`` spells out; ``mask``,
            ``mask_seed`` and ``calib_width`` then belong to the chain, and ``mu_iterations`` is read from its
            ``SenseAdjointd``). They run one by one, so a refused input raises its own error.
    """

    error = MRIInputError

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: D3GMInferer,
        mask: Callable[..., torch.Tensor] | None = None,
        mask_seed: int = 0,
        data_consistency: str = "hard",
        num_inference_steps: int = 20,
        sampler: str = "ode",
        num_samples: int = 1,
        seed: int = 0,
        calib_width: int = 24,
        sense_lam: float = 1.0,
        sense_iterations: int = 5,
        coil_combination: str = "sense",
        mu_iterations: int = 0,
        device: str | torch.device = "cpu",
        preprocessing: Sequence[Callable] | None = None,
    ) -> None:
        self.consistency = ReconstructionDataConsistency(data_consistency, sense_lam, sense_iterations)
        if coil_combination not in COIL_COMBINATIONS:
            raise MRIInputError(f"coil_combination must be one of {COIL_COMBINATIONS}, got {coil_combination!r}.")
        if preprocessing is not None and mask is not None:
            raise MRIInputError(
                "the mask belongs to the preprocessing chain (UndersampleAcquisitiond) when a chain is given; pass it "
                "there, not to the reconstructor as well."
            )
        super().__init__(network, inferer, num_inference_steps, sampler, num_samples, seed, device)
        self.data_consistency = data_consistency
        self.coil_combination = coil_combination
        if preprocessing is None:
            self.preprocessing = reconstruction_preprocessing(mask, mask_seed, calib_width, mu_iterations)
        else:
            self.preprocessing = list(getattr(preprocessing, "transforms", preprocessing))
        # the zero-filled image of a CG-SENSE μ is the adjoint's: the result needs the iterations μ was built with
        adjoints = [t for t in self.preprocessing if isinstance(t, SenseAdjointd)]
        self.mu_iterations = adjoints[0].adjoint.iterations if adjoints else mu_iterations

    def prepare(self, case: dict[str, Any]) -> PreparedSlice:
        """k-space, mask, coil maps, μ (normalised) and the reference of a case, without sampling: the
        ``preprocessing`` chain (:mod:`.transforms.inference`)."""
        return PreparedSlice.of(run_chain(self.preprocessing, case))

    @torch.no_grad()
    def __call__(self, case: dict[str, Any]) -> dict[str, Any]:
        """Reconstruct a case.

        Returns:
            a dictionary with "reconstruction" (complex (H, W), in the input's scale), "magnitude", "zero_filled"
            (the magnitude of the zero-filled, SENSE-adjoint image, or with ``coil_combination="rss"`` the RSS of the
            zero-filled coil images), "reference" (magnitude or None), "std" (magnitude of the samples' spread, or
            None), "mask", "acceleration" and "metrics" ({"d3gm": {psnr, ssim}, "zero_filled": {...}} when a
            reference exists).
        """
        return self.reconstruct_batch([self.prepare(case)], seeds=[self.seed])[0]

    @torch.no_grad()
    def reconstruct_batch(
        self,
        batch: list[PreparedSlice],
        seeds: Sequence[int],
        verbose: bool | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Reconstruct prepared slices (:meth:`prepare`, all of one shape) in one batch of the network.

        Args:
            batch: prepared slices.
            seeds: one noise seed per slice (:class:`~monai_d3gm.networks.schedulers.ItemNoise`): a slice's result
                does not depend on the other slices of its batch; equal seeds share one noise realisation.
            verbose: the sampler's progress bar (default: the inferer's setting).
            callback: called after every reverse step (:meth:`~monai_d3gm.inferers.D3GMInferer.sample`), e.g. to
                follow x̂0 along the chain.

        Returns:
            one result per slice, as :meth:`__call__` returns it.
        """
        stacks = self._samples(batch, seeds, verbose=verbose, callback=callback)
        return [self._result(p, stack) for p, stack in zip(batch, stacks)]

    @torch.no_grad()
    def reconstruct_subsets(
        self, batch: list[PreparedSlice], seeds: Sequence[int], sample_counts: Sequence[int]
    ) -> list[dict[int, dict[str, Any]]]:
        """Reconstruct prepared slices once with ``num_samples`` samples and give, for each n of ``sample_counts``,
        the result of the first n of them: what ``num_samples=n`` with the same seed returns (the samples are drawn
        one after the other), for calibrating the spread of several sample counts in one run.

        Raises:
            MRIInputError: a count above ``num_samples``.
        """
        if max(sample_counts) > self.num_samples:
            raise MRIInputError(f"sample counts {list(sample_counts)} need num_samples >= {max(sample_counts)}.")
        stacks = self._samples(batch, seeds, verbose=False)
        return [{int(n): self._result(p, stack[:n]) for n in sample_counts} for p, stack in zip(batch, stacks)]

    def _samples(self, batch: list[PreparedSlice], seeds: Sequence[int], **kwargs: Any) -> torch.Tensor:
        """The posterior samples (B, N, 2, H, W) of prepared slices of one shape."""
        shapes = {tuple(p.mu.shape) for p in batch}
        if len(shapes) != 1:
            raise MRIInputError(f"slices restored in one batch must share one shape, got {sorted(shapes)}.")
        mu = complex_to_channels(torch.stack([p.mu for p in batch])[:, None]).to(self.device)
        noise = ItemNoise(seeds)
        dc = self.consistency.stacked(batch, noise, self.device)
        return self.posterior_samples(mu, noise, dc, **kwargs)

    def _result(self, prepared: PreparedSlice, stack: torch.Tensor) -> dict[str, Any]:
        return reconstruction_result(
            prepared, stack, self.coil_combination, self.data_consistency != "none", self.mu_iterations
        )


class ReconstructionDataConsistency:
    """Builds a slice's data consistency from its prepared k-space, mask and coil maps.

    Multi-coil data gets CG-SENSE (:class:`~monai_d3gm.physics.consistency.SenseDataConsistency`); one coil gets
    k-space replacement ("hard") or its soft variant, with its phase map. Called as the evaluator's
    :class:`~monai_d3gm.engines.RestorationPrepareBatch` factory, ``factory(case, generator, device)``.

    Args:
        mode: "none", "hard", "soft" or "sense" (multi-coil data always uses "sense" unless "none").
        sense_lam: λ of the multi-coil data consistency (smaller trusts the data more).
        sense_iterations: its conjugate-gradient iterations per step.
    """

    def __init__(self, mode: str = "hard", sense_lam: float = 1.0, sense_iterations: int = 5) -> None:
        if mode not in DC_MODES:
            raise MRIInputError(f"data_consistency must be one of {DC_MODES}, got {mode!r}.")
        self.mode = mode
        self.sense_lam = sense_lam
        self.sense_iterations = sense_iterations

    def build(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None, noise: NoiseSource
    ) -> Callable | None:
        """Data consistency of a batch: k-space (B, C, H, W), masks (B, H, W), maps (B, C, H, W) or None."""
        if self.mode == "none":
            return None
        if maps is not None and maps.shape[1] > 1:
            return SenseDataConsistency(
                kspace, mask, maps, iterations=self.sense_iterations, lam=self.sense_lam, generator=noise
            )
        phase = None if maps is None else maps[:, 0]  # one coil: its phase map
        if self.mode == "soft":
            return SoftDataConsistency(kspace, mask, generator=noise, phase=phase)
        return HardDataConsistency(kspace, mask, generator=noise, phase=phase)

    def stacked(self, batch: Sequence[PreparedSlice], noise: NoiseSource, device: torch.device) -> Callable | None:
        """Data consistency of prepared slices of one shape, on ``device``."""
        kspace = torch.stack([p.kspace for p in batch]).to(device)
        mask = torch.stack([torch.as_tensor(p.mask) for p in batch]).to(device)
        maps = None if batch[0].maps is None else torch.stack([p.maps for p in batch]).to(device)
        return self.build(kspace, mask, maps, noise)

    def __call__(self, case: Mapping[str, Any], noise: NoiseSource, device: torch.device) -> Callable | None:
        return self.stacked([PreparedSlice.of(case)], noise, device)


def reconstruction_result(
    prepared: PreparedSlice,
    samples: torch.Tensor,
    coil_combination: str = "sense",
    consistent: bool = True,
    mu_iterations: int = 0,
) -> dict[str, Any]:
    """A slice's reconstruction from its posterior samples, in the input's scale and orientation.

    Args:
        prepared: the slice.
        samples: (N, 2, H, W) samples in the network's (real, imaginary) channels.
        coil_combination: "sense" or "rss" (see :class:`D3GMReconstructor`).
        consistent: whether data consistency ran (the RSS combination puts the measurements back only then).
        mu_iterations: the iterations μ was built with (the zero-filled image is then the adjoint's).

    Returns:
        the dictionary :meth:`D3GMReconstructor.__call__` describes.
    """
    stack = channels_to_complex(samples)[:, 0]  # (N, H, W)
    maps = prepared.maps
    zero_filled = prepared.mu.abs()
    if maps is not None and maps.shape[0] == 1:
        # one coil: the phase map goes back on, so the result is the image of the acquisition (F of it agrees
        # with the measured k-space)
        stack = stack * maps[0].to(stack.device)
    elif maps is not None:
        # pixels outside the coil maps' support (ESPIRiT's crop) do not enter the SENSE model: no measurement
        # constrains them, so, as in SENSE, they are zero rather than whatever the network left there
        stack = stack * (maps.abs().sum(0) > 0).to(stack.device)
        if coil_combination == "rss" and consistent:
            # at the normalised scale (squares of k-space near 1e20 overflow float32), before the scale goes back
            kspace = prepared.kspace.to(stack.device)
            rss = consistent_coil_rss(stack, maps.to(stack.device), kspace, prepared.mask)
            stack = torch.polar(rss, stack.angle())  # angle 0 where the SENSE image is 0
            zero_filled = root_sum_of_squares(ifft2c(kspace), dim=0)  # the input, combined alike
        elif mu_iterations:  # μ is the CG-SENSE image; the zero-filled image is the adjoint's
            zero_filled = SenseAdjoint()(prepared.kspace, maps).abs()
    stack = stack * prepared.scale
    mu_abs, mask = zero_filled * prepared.scale, prepared.mask
    if prepared.transposed:
        stack, mu_abs, mask = stack.transpose(-2, -1), mu_abs.transpose(-2, -1), mask.transpose(-2, -1)
    recon = stack.mean(0)
    result = {
        "reconstruction": recon,
        "magnitude": recon.abs(),
        "zero_filled": mu_abs,
        "reference": None if prepared.reference is None else prepared.reference.abs().float(),
        "std": stack.abs().std(0) if stack.shape[0] > 1 else None,
        "mask": mask,
        "acceleration": float(mask.numel() / max(float(mask.sum()), 1.0)),
        "metrics": {},
    }
    if result["reference"] is not None:
        result["metrics"] = {
            "d3gm": magnitude_metrics(result["magnitude"], result["reference"]),
            "zero_filled": magnitude_metrics(result["zero_filled"], result["reference"]),
        }
    return result
