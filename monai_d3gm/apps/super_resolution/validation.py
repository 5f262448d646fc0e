# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Validation of the super-resolution bundle during training, with the bundle's own sampler: the score that chooses
the shipped weights (:class:`~monai_d3gm.handlers.ValidationSaver`), never the training loss.

:func:`held_out_slices` takes evenly spaced central slices of held-out volumes (people the training never saw);
:class:`SuperResolutionValidator` degrades them as the bundle's ``--simulate`` does and super-resolves them exactly as
the bundle does (:class:`.restore.D3GMSuperResolver`), with sinc interpolation's scores alongside: a model must beat
the interpolated input it starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ...errors import MRIInputError
from ...inferers import D3GMInferer
from ..reconstruction.dataset import spread_slices
from .restore import D3GMSuperResolver

__all__ = ["SuperResolutionValidator", "held_out_slices"]


def held_out_slices(volumes: Sequence[Mapping[str, Any]], slices_per_volume: int = 2) -> list[dict[str, Any]]:
    """``[{"image": (H, W) float32, "name"}]``: evenly spaced slices inside the central 60 % of each volume, along its
    first listed axis (entries ``{"path", "axes", "person"}`` of :func:`~..reconstruction.dataset.bundle_volumes`).

    Raises:
        MRIInputError: no volume, or a volume without usable slices.
    """
    if not volumes:
        raise MRIInputError("no validation volume: list some in the split file's 'validation' part.")
    cases = []
    for v, volume in enumerate(volumes):
        picked = dict(spread_slices(volume, slices_per_volume))  # a short volume may pick a slice twice
        cases += [{"image": image, "name": f"{volume.get('person', v)}#{i}"} for i, image in picked.items()]
    return cases


class SuperResolutionValidator:
    """``validator(network) -> {"psnr", "ssim", "sinc_psnr", "sinc_ssim", "psnr_<degradation>", ...}``: means over the
    cases and degradations of the bundle's super-resolution and of sinc interpolation (the bundle's metrics).

    Args:
        cases: :func:`held_out_slices`.
        inferer: the D³GM inferer of the training config.
        scale: the super-resolution factor.
        degradations: how the HR slices are degraded ("kspace", "blur"); with several, ``psnr_<degradation>`` gives
            each one's mean.
        sigma: blur of "blur", in HR pixels.
        sampler, num_inference_steps, data_consistency: the bundle's.
        seed: the sampler's noise seed.
    """

    def __init__(
        self,
        cases: Sequence[Mapping[str, Any]],
        inferer: D3GMInferer,
        scale: int = 4,
        degradations: Sequence[str] = ("kspace",),
        sigma: float = 1.5,
        sampler: str = "posterior",
        num_inference_steps: int = 3,
        data_consistency: str = "none",
        seed: int = 0,
    ) -> None:
        self.cases = list(cases)
        self.inferer, self.scale, self.degradations, self.sigma = inferer, int(scale), list(degradations), sigma
        self.sampler, self.num_inference_steps, self.data_consistency = sampler, num_inference_steps, data_consistency
        self.seed = seed

    @torch.no_grad()
    def __call__(self, network: torch.nn.Module) -> dict[str, float]:
        was_training = network.training
        device = next(network.parameters()).device
        scores: dict[str, list[float]] = {}
        for degradation in self.degradations:
            resolver = D3GMSuperResolver(network, self.inferer, self.scale, degradation, self.sigma,
                                         self.data_consistency, self.num_inference_steps, self.sampler,
                                         seed=self.seed, device=device)  # fmt: skip
            for case in self.cases:
                metrics = resolver({"image": case["image"]})["metrics"]
                for key, name in (("", "d3gm"), ("sinc_", "sinc")):
                    scores.setdefault(f"{key}psnr", []).append(metrics[name]["psnr"])
                    scores.setdefault(f"{key}ssim", []).append(metrics[name]["ssim"])
                if len(self.degradations) > 1:
                    scores.setdefault(f"psnr_{degradation}", []).append(metrics["d3gm"]["psnr"])
        network.train(was_training)
        return {k: float(np.mean(v)) for k, v in scores.items()}
