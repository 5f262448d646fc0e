# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Validation with the bundle's own sampler: held-out slices, simulated noisy k-space, the reconstructor's metrics.

:func:`held_out_cases` turns held-out volumes into fully sampled, noisy single- and multi-coil k-space with the
training transforms (fixed seeds, so every validation sees the same cases); :class:`ReconstructionValidator`
reconstructs them exactly as the inference bundle does (:class:`.reconstruct.D3GMReconstructor`: fixed masks, ESPIRiT
coil maps estimated from the undersampled data, the bundle's sampler, steps and data consistency) and returns the
mean PSNR/SSIM against the fully sampled noisy reference, with zero-filling's alongside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ...inferers import D3GMInferer
from ...physics.masks import CartesianMask
from .dataset import spread_slices
from .reconstruct import D3GMReconstructor
from .transforms import AddKspaceNoise, SimulateKspace

__all__ = ["simulated_kspace", "held_out_cases", "ReconstructionValidator"]


def held_out_cases(
    volumes: Sequence[Mapping[str, Any]],
    slices_per_volume: int = 2,
    num_coils: Sequence[int] = (1, 8),
    relative_std: float = 0.008,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fully sampled noisy k-space of evenly spaced central slices of held-out volumes.

    Args:
        volumes: entries ``{"path", "axes"}`` (:func:`.dataset.split_volumes`); the first axis is used.
        slices_per_volume: slices taken from each volume (evenly spaced inside its central 60 %).
        num_coils: coil counts, used in turn (random loop-coil arrays of fixed seeds).
        relative_std: k-space noise per real part relative to the image maximum (0.008: the real 8-coil brain).
        seed: base seed of the phase, coils and noise.

    Returns:
        ``{"kspace": (C, H, W) complex64, "name": str}`` cases for :meth:`.reconstruct.D3GMReconstructor.prepare`.
    """
    cases = []
    for v, volume in enumerate(volumes):
        for k, (i, image) in enumerate(spread_slices(volume, slices_per_volume)):
            index = v * slices_per_volume + k
            kspace = simulated_kspace(image, int(num_coils[index % len(num_coils)]), relative_std, seed + index)
            name = f"{volume.get('person', v)}#{i} {kspace.shape[0]}ch"
            cases.append({"kspace": kspace, "name": name})
    return cases


def simulated_kspace(image: np.ndarray, num_coils: int, relative_std: float = 0.008, seed: int = 0) -> torch.Tensor:
    """Noisy fully sampled k-space (C, H, W) of a magnitude image: smooth phase, a random loop-coil array and complex
    noise ``relative_std`` of the image maximum per real part, all drawn from ``seed`` (the training simulation)."""
    simulate = SimulateKspace(num_coils=num_coils, coil_geometry="random")
    simulate.set_random_state(seed)
    noise = AddKspaceNoise(relative_std)
    noise.set_random_state(seed)
    kspace, _ = simulate(np.ascontiguousarray(image))
    return noise(kspace)[0]


class ReconstructionValidator:
    """Mean PSNR/SSIM of a network on validation cases, reconstructed as the inference bundle does.

    Args:
        cases: :func:`held_out_cases`.
        inferer: the D³GM inferer (scheduler of the training).
        protocols: (acceleration, centre fraction) pairs of the fixed random 1-D masks (seed ``mask_seed``).
        sampler: the bundle's sampler.
        num_inference_steps: its steps; ``extra_steps`` adds columns for other step counts (e.g. 20, to watch the
            chain's drift).
        data_consistency: the bundle's data consistency.
        mask_seed: seed of the masks.
        seed: seed of the sampler's noise.
        reconstructor_args: further arguments of the reconstructor (e.g. ``sense_lam``), as the bundle sets them.
    """

    def __init__(
        self,
        cases: Sequence[Mapping[str, Any]],
        inferer: D3GMInferer,
        protocols: Sequence[Sequence[float]] = ((4, 0.08), (8, 0.04)),
        sampler: str = "posterior",
        num_inference_steps: int = 3,
        data_consistency: str = "hard",
        extra_steps: Sequence[int] = (),
        mask_seed: int = 0,
        seed: int = 0,
        **reconstructor_args: Any,
    ) -> None:
        self.cases = list(cases)
        self.reconstructor_args = reconstructor_args
        self.inferer = inferer
        self.protocols = [(float(a), float(c)) for a, c in protocols]
        self.sampler = sampler
        self.steps = [int(num_inference_steps), *[int(s) for s in extra_steps]]
        self.data_consistency = data_consistency
        self.mask_seed = mask_seed
        self.seed = seed
        self._prepared: dict[tuple[int, int], dict[str, Any]] = {}

    def reconstructor(
        self, network: torch.nn.Module, protocol: int, steps: int | None = None, num_samples: int = 1
    ) -> D3GMReconstructor:
        """The reconstructor of one protocol, as the bundle builds it (``steps`` default: the bundle's)."""
        acceleration, center_fraction = self.protocols[protocol]
        return D3GMReconstructor(
            network,
            self.inferer,
            mask=CartesianMask("random", acceleration, center_fraction),
            mask_seed=self.mask_seed,
            data_consistency=self.data_consistency,
            num_inference_steps=self.steps[0] if steps is None else steps,
            sampler=self.sampler,
            num_samples=num_samples,
            seed=self.seed,
            device=next(network.parameters()).device,
            **self.reconstructor_args,
        )

    @torch.no_grad()
    def __call__(self, network: torch.nn.Module) -> dict[str, float]:
        """Reconstruct every case with every protocol; returns the means ("psnr", "ssim" for the bundle's steps,
        "psnr_<steps>" for the extra steps, "zero_filled_psnr", "zero_filled_ssim")."""
        was_training = network.training
        sums: dict[str, list[float]] = {}
        for p in range(len(self.protocols)):
            for s, steps in enumerate(self.steps):
                rec = self.reconstructor(network, p, steps)
                for c, case in enumerate(self.cases):
                    if (p, c) not in self._prepared:
                        self._prepared[(p, c)] = rec.prepare(case)
                    result = rec.reconstruct_batch([self._prepared[(p, c)]], seeds=[self.seed], verbose=False)[0]
                    metrics = result["metrics"]
                    suffix = "" if s == 0 else f"_{steps}"
                    sums.setdefault(f"psnr{suffix}", []).append(metrics["d3gm"]["psnr"])
                    sums.setdefault(f"ssim{suffix}", []).append(metrics["d3gm"]["ssim"])
                    if s == 0:
                        sums.setdefault("zero_filled_psnr", []).append(metrics["zero_filled"]["psnr"])
                        sums.setdefault("zero_filled_ssim", []).append(metrics["zero_filled"]["ssim"])
        network.train(was_training)
        return {k: float(np.mean(v)) for k, v in sums.items()}
