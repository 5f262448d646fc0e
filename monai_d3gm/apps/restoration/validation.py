# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Validation of the photo bundles during training, with the bundle's own sampler: the score that chooses the shipped
weights (:class:`~monai_d3gm.handlers.ValidationSaver`), never the training loss.

The cases are real degraded/clean pairs set aside from training, clean photos with a synthetic degradation drawn
once from a fixed seed, so every validation scores the same images, and optionally the clean photos unchanged: a
restorer must leave a photo without rain or haze alone, and weights that darken it lose there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...errors import ImageInputError
from ...inferers import D3GMInferer
from .io import read_rgb
from .metrics import rgb_metrics
from .pairs import find_images, find_pairs
from .restore import D3GMImageRestorer
from .tiling import TiledRestoration
from .transforms import RandSyntheticDegradation

__all__ = ["PhotoValidator", "photo_validation_cases"]


def photo_validation_cases(
    pair_dirs: Sequence[str | os.PathLike] = (),
    names: Sequence[str] = (),
    clean_dirs: Sequence[str | os.PathLike] = (),
    kind: str = "rain",
    seed: int = 0,
    unchanged: bool = False,
    draws: int = 1,
) -> list[dict[str, Any]]:
    """``[{"name", "input", "reference"}]`` ((3, H, W) float32 in [0, 1]): the pairs of ``pair_dirs`` named in
    ``names``, every photo of ``clean_dirs`` with a synthetic ``kind`` degradation (photo ``i`` of ``P`` draws it with
    seed ``seed + i``, its further ``draws`` with ``seed + i + k P``, named ``synthetic_<stem>_<k>``), and with
    ``unchanged`` each of those photos again as its own input (named ``clean_<stem>``).

    Raises:
        ImageInputError: a name that is not a pair of ``pair_dirs``, or no case at all.
    """
    pairs = {p["name"]: p for d in pair_dirs for p in find_pairs(d)}
    unknown = sorted(set(names) - set(pairs))
    if unknown:
        raise ImageInputError(f"validation pairs {unknown} are not pairs of {list(pair_dirs)}; known: {sorted(pairs)}.")
    cases = [
        {"name": n, "input": read_rgb(pairs[n]["input"]), "reference": read_rgb(pairs[n]["target"])} for n in names
    ]
    degrade = RandSyntheticDegradation(kind, prob=1.0)
    photos = [path for folder in clean_dirs for path in find_images(folder)]
    for i, path in enumerate(photos):
        clean = read_rgb(path)
        for k in range(draws):
            degrade.set_random_state(seed + i + k * len(photos))
            name = f"synthetic_{path.stem}" + (f"_{k}" if k else "")
            cases.append({"name": name, "input": degrade(clean), "reference": clean})
        if unchanged:
            cases.append({"name": f"clean_{path.stem}", "input": clean, "reference": clean})
    if not cases:
        raise ImageInputError("no validation case: name validation pairs or give folders of clean photos.")
    return cases


PSNR_CAP = 50.0
"""dB: a validation PSNR above it counts as 50 (an unchanged clean input scores infinity)."""


class PhotoValidator:
    """``validator(network) -> {"psnr", "ssim", "input_psnr", "input_ssim", ...}``: the means over ``cases`` of the
    bundle's restoration (uint8 RGB metrics, PSNR capped at :data:`PSNR_CAP`) and of the inputs. When some cases are
    clean photos given unchanged (:func:`photo_validation_cases` ``unchanged``), ``psnr_degraded`` and ``psnr_clean``
    split the mean PSNR between the degraded and the clean inputs.

    Args:
        cases: :func:`photo_validation_cases`.
        inferer: the D³GM inferer of the training config.
        sampler, num_inference_steps: the bundle's sampler.
        tile_size: restore in tiles of this size (None: whole photos, as small validation photos allow).
        seed: the sampler's noise seed.
    """

    def __init__(
        self,
        cases: Sequence[dict[str, Any]],
        inferer: D3GMInferer,
        sampler: str = "posterior",
        num_inference_steps: int = 3,
        tile_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.cases = list(cases)
        self.inferer = inferer
        self.sampler, self.num_inference_steps = sampler, num_inference_steps
        self.tile_size, self.seed = tile_size, seed
        inputs = [rgb_metrics(c["input"], c["reference"]) for c in self.cases]
        self.clean = [not m["psnr"] < float("inf") for m in inputs]  # the input is its reference
        self.input_scores = self._means(inputs)

    @torch.no_grad()
    def __call__(self, network: torch.nn.Module) -> dict[str, float]:
        device = next(network.parameters()).device
        tiling = TiledRestoration(self.tile_size, progress=False)
        restorer = D3GMImageRestorer(network, self.inferer, tiling, self.num_inference_steps, self.sampler,
                                     seed=self.seed, device=device)  # fmt: skip
        was_training = network.training
        scores = [rgb_metrics(restorer(c["input"])["output"], c["reference"]) for c in self.cases]
        network.train(was_training)
        result = self._means(scores)
        if any(self.clean):
            for name, group in (("degraded", False), ("clean", True)):
                psnr = [min(m["psnr"], PSNR_CAP) for m, c in zip(scores, self.clean) if c == group]
                result[f"psnr_{name}"] = float(np.mean(psnr)) if psnr else float("nan")
        return {**result, **{f"input_{k}": v for k, v in self.input_scores.items()}}

    @staticmethod
    def _means(scores: Sequence[dict[str, Any]]) -> dict[str, float]:
        return {
            "psnr": float(np.mean([min(m["psnr"], PSNR_CAP) for m in scores])),
            "ssim": float(np.mean([m["ssim"] for m in scores])),
        }
