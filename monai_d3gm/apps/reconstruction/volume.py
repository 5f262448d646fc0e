# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reconstruct a whole multi-slice input (a NIfTI volume, a DICOM series, a multi-slice fastMRI or ISMRMRD file)
slice by slice, in batches of bounded size, with one progress bar for the volume.

Working memory is one batch: the slices of a batch are read, prepared, sampled together and written into the output
volume before the next batch is read, so it does not grow with the number of slices (the output volume itself is one
float32 array the size of the image). Each slice draws its noise from its own seeded generator
(:class:`~monai_d3gm.networks.schedulers.ItemNoise`), so the batch size changes the speed, not the result.

Through-plane consistency: with ``noise="shared"`` every slice uses the same noise realisation instead of
independent ones. Neighbouring slices of a volume are nearly the same image, so with shared noise the sampler's
stochastic part no longer differs from slice to slice, which removes slice-to-slice flicker of the sampled texture.
``benchmarks/mri_volume.py`` measures whether it helps (PSNR/SSIM of the slices and of a through-plane reformat).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from tqdm import tqdm

from ...errors import MRIInputError
from ...io import MRIVolume
from ...io.geometry import slice_ranges

__all__ = ["NOISE_MODES", "VolumeReconstruction"]

NOISE_MODES = ("independent", "shared")


class VolumeReconstruction:
    """Reconstruct the slices of an :class:`~monai_d3gm.io.MRIVolume` in batches.

    Args:
        reconstructor: a :class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor`.
        batch_size: slices per network batch (bounds the working memory); lowered, with a warning, when the
            inferer's memory guard finds that it does not fit.
        noise: "independent" (slice i draws from seed + i) or "shared" (every slice draws from seed).
        progress: one tqdm bar over the volume's slices.
    """

    def __init__(self, reconstructor, batch_size: int = 4, noise: str = "independent", progress: bool = True) -> None:
        if batch_size < 1:
            raise MRIInputError(f"batch_size must be >= 1, got {batch_size}.")
        if noise not in NOISE_MODES:
            raise MRIInputError(f"noise must be one of {NOISE_MODES}, got {noise!r}.")
        self.reconstructor = reconstructor
        self.batch_size = int(batch_size)
        self.noise = noise
        self.progress = progress

    def seed_of(self, slice_index: int) -> int:
        """The noise seed of a slice."""
        return self.reconstructor.seed + (slice_index if self.noise == "independent" else 0)

    def __call__(self, volume: MRIVolume, slices: range | None = None) -> dict[str, Any]:
        """Reconstruct ``slices`` (default all) of ``volume``.

        Slices whose input holds only zeros (the padding slices at the ends of many exported volumes) are not
        reconstructed: they stay zeros in the output, get no metrics, and one warning lists them.

        Returns:
            a dictionary with "magnitude", "zero_filled" and, when present, "reference" and "std": float32 arrays
            (S, H, W) in slice order; "slices" (the slice indices); "empty" (the indices of all-zero slices);
            "metrics" (per reconstructed slice, as the reconstructor gives them); "middle" (the full result of the
            reconstructed slice nearest the middle, for figures).

        Raises:
            MRIInputError: every chosen slice holds only zeros.
        """
        indices = list(range(len(volume)) if slices is None else slices)
        position = {i: k for k, i in enumerate(indices)}
        arrays: dict[str, np.ndarray] = {}
        per_slice: list[dict[str, Any]] = []
        empty: list[int] = []
        centre = indices[len(indices) // 2]
        middle, middle_index = None, None
        to_read = iter(indices)
        bar = tqdm(total=len(indices), desc=f"D3GM volume {volume.path.name}", unit="slice", disable=not self.progress)
        batch, pending = self.batch_size, []  # pending: (index, prepared slice) not sampled yet
        try:
            while True:
                while len(pending) < batch and (i := next(to_read, None)) is not None:
                    case = volume[i]
                    if _holds_only_zeros(case):
                        empty.append(i)
                        bar.update(1)
                        continue
                    pending.append((i, self.reconstructor.prepare(case)))
                if not pending:
                    break
                fit = self._fitting_batch([prepared for _, prepared in pending])
                if fit < min(batch, len(pending)):  # the guard cut the batch (not the volume's end)
                    warnings.warn(
                        f"batch_size {batch} does not fit in memory for slices of shape "
                        f"{tuple(pending[0][1].mu.shape)}; using batches of {fit} (the result does not depend on "
                        "the batch size).",
                        stacklevel=2,
                    )
                    batch = fit
                current, pending = pending[:fit], pending[fit:]
                results = self.reconstructor.reconstruct_batch(
                    [prepared for _, prepared in current], seeds=[self.seed_of(i) for i, _ in current], verbose=False
                )
                for (i, _), result in zip(current, results):
                    self._store(arrays, position[i], len(indices), result)
                    per_slice.append(result["metrics"])
                    if middle_index is None or abs(i - centre) < abs(middle_index - centre):
                        middle, middle_index = result, i
                del current, results
                bar.update(fit)
        finally:
            bar.close()
        if middle is None:
            raise MRIInputError(
                f"{volume.path}: every chosen slice ({len(indices)}) holds only zeros; there is nothing to "
                "reconstruct. "
                "Choose slices with data (--slices start:stop)."
            )
        if empty:
            warnings.warn(
                f"{volume.path.name}: {len(empty)} slice(s) hold only zeros ({slice_ranges(empty)}); they are written "
                "as zeros, not reconstructed, and have no metrics.",
                stacklevel=2,
            )
        return {**arrays, "slices": indices, "empty": empty, "metrics": per_slice, "middle": middle}

    def _fitting_batch(self, prepared: list[dict[str, Any]]) -> int:
        """How many of the ``prepared`` slices one batch can sample within the inferer's memory guard."""
        guard = self.reconstructor.inferer.memory_guard
        if guard is None:
            return len(prepared)
        item_shape = (2, *prepared[0].mu.shape[-2:])  # (real, imaginary) channels
        network, device = self.reconstructor.network, self.reconstructor.device
        return guard.max_batch(network, item_shape, len(prepared), device)

    @staticmethod
    def _store(arrays: dict[str, np.ndarray], position: int, total: int, result: dict[str, Any]) -> None:
        for key in ("magnitude", "zero_filled", "reference", "std"):
            image = result.get(key)
            if image is None:
                continue
            image = image.numpy().astype(np.float32)
            if key not in arrays:
                arrays[key] = np.zeros((total, *image.shape), dtype=np.float32)
            if arrays[key].shape[1:] != image.shape:
                expected = arrays[key].shape[1:]
                raise MRIInputError(
                    f"slice {position} has {key} of shape {image.shape} but earlier slices have {expected}; a volume "
                    "must have one slice shape."
                )
            arrays[key][position] = image


def _holds_only_zeros(case: dict[str, Any]) -> bool:
    """Whether a slice's input (its k-space, or its image) is all zeros: a padding slice."""
    data = case.get("kspace", case.get("image"))
    return data is not None and not np.any(np.asarray(data))
