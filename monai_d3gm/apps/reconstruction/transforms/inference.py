# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Dictionary transforms that turn a loaded MRI slice (:func:`monai_d3gm.io.load_mri_slice`) into the sampler's
inputs: the inference half of the chain whose physics (:class:`.SimulateKspaced`, :class:`.SenseAdjointd`,
:class:`.NormalizeByMaxd`) ``train.json`` also runs. The bundle's ``inference.json`` and
:class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor` run the same chain::

    Compose([
        LoadMRISliced("input", allow_missing_keys=True),      # a file; the demo case comes loaded
        CheckMRISliced(),                                      # k-space or image, refused early when unusable
        SimulateKspaced("image", num_coils=1, phase="none", allow_missing_keys=True),
        UndersampleAcquisitiond("kspace", mask=CartesianMask("random", 4, 0.08)),  # or the acquired mask
        CoilMapsd("kspace"),                                    # the file's coil maps, or ESPIRiT's
        AlignPhaseEncodingd(["kspace", "mask", "maps"]),        # phase encoding along W, as trained
        SenseAdjointd("kspace", output_keys="mu", mask_key="mask"),
        NormalizeByMaxd(["mu", "kspace"], reference_key="mu"),
        CopyItemsd("mu", names="inputs"), ComplexToChannelsd("inputs"),
    ])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import CopyItemsd, MapTransform

from ....errors import MRIInputError
from ....metrics import real_slice
from ....physics.fft import ifft2c
from ....physics.sense import root_sum_of_squares, sampling_mask_of
from ....transforms.utils import checked_copy, init_keys
from .array import AbsorbBackgroundPhase, EstimateCoilMaps, UndersampleKspace, as_kspace
from .dictionary import ComplexToChannelsd, NormalizeByMaxd, SenseAdjointd, SimulateKspaced

__all__ = [
    "FULLY_SAMPLED",
    "MIN_SIDE",
    "AlignPhaseEncodingd",
    "CheckMRISliced",
    "CoilMapsd",
    "UndersampleAcquisitiond",
    "phase_encoding_along_h",
    "reconstruction_preprocessing",
]

#: k-space with at least this fraction of its samples non-zero counts as fully sampled
FULLY_SAMPLED = 0.9
#: the smallest slice side reconstructed: the calibration region, the network's down-sampling and SSIM's 11-pixel
#: window all need more than a handful of pixels
MIN_SIDE = 8


def phase_encoding_along_h(mask: torch.Tensor) -> bool:
    """Whether a sampling mask is 1-D with whole rows (it varies along H only): phase encoding along H.

    Masks of whole columns (phase encoding along W, the direction the network is trained on), 2-D masks (Poisson
    disc, which have no phase-encoding line) and full sampling give False.
    """
    m = torch.as_tensor(mask).bool()
    whole_rows = bool((m == m[:, :1]).all())
    whole_columns = bool((m == m[:1, :]).all())
    return whole_rows and not whole_columns


def _where(data: Mapping[Hashable, Any]) -> str:
    return str(data.get("path", "the case"))


class CheckMRISliced(MapTransform):
    """Refuse an unusable slice early and put it in the form the chain expects.

    k-space (``kspace_key``) becomes a complex (C, H, W) tensor; an image-domain slice (``image_key``) a real (H, W)
    tensor, which is also the reference. A slice smaller than :data:`MIN_SIDE`, one of zeros only (a padding slice)
    or a case with neither key raises :class:`~monai_d3gm.errors.MRIInputError`, naming the file and the fix.
    """

    def __init__(self, kspace_key: str = "kspace", image_key: str = "image", reference_key: str = "reference"):
        init_keys(self, [kspace_key, image_key], allow_missing_keys=True)
        self.kspace_key, self.image_key, self.reference_key = kspace_key, image_key, reference_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        where = _where(d)
        if self.kspace_key in d:
            d[self.kspace_key] = slice_data = as_kspace(d[self.kspace_key], name=f"{where}: kspace")
        elif self.image_key in d:
            d[self.image_key] = slice_data = real_slice(d[self.image_key], where)
            d[self.reference_key] = slice_data
        else:
            raise MRIInputError(f"the case has neither {self.kspace_key!r} nor {self.image_key!r} (keys: {sorted(d)}).")
        if slice_data.ndim < 2 or min(slice_data.shape[-2:]) < MIN_SIDE:
            raise MRIInputError(
                f"{where}: the slice is {tuple(slice_data.shape[-2:])} pixels; reconstruction needs at least "
                f"{MIN_SIDE}x{MIN_SIDE} (is the input a thumbnail, or sliced along the wrong axis?)."
            )
        if not bool(slice_data.any()):
            index = d.get("slice_index")
            raise MRIInputError(
                f"{where}: {'slice ' + str(index) if index is not None else 'the input'} holds only zeros (a padding "
                "slice?); choose a slice with data (slice_index), or reconstruct the whole volume (whole_volume), "
                "which passes empty slices through as zeros."
            )
        return d


class UndersampleAcquisitiond(MapTransform):
    """The acquisition D³GM reconstructs: fully sampled k-space undersampled with ``mask``, or the acquired samples.

    * Fully sampled k-space (and k-space simulated from an image) is undersampled with ``mask(shape,
      seed=mask_seed)``; the reference is the root sum of squares of the full data (an image input keeps its image).
    * With ``mask=None``, or a mask stored in the case (``mask_key``), the acquired samples are reconstructed; k-space
      with less than :data:`FULLY_SAMPLED` of its samples is taken as acquired too, with a warning. The case's
      reference is kept when it has the mask's shape.

    Args:
        keys: the k-space key (replaced by the undersampled k-space).
        mask: mask generator (e.g. ``CartesianMask``), or None for the acquired mask.
        mask_seed: seed of the mask generator (fixed masks make runs comparable).
        mask_key: where the (H, W) mask is read (the acquired one) and written.
        reference_key: the reference image.
        image_key: present when the k-space was simulated from an image (which stays the reference).
    """

    def __init__(
        self,
        keys: KeysCollection = "kspace",
        mask: Callable[..., torch.Tensor] | None = None,
        mask_seed: int = 0,
        mask_key: str = "mask",
        reference_key: str = "reference",
        image_key: str = "image",
    ) -> None:
        init_keys(self, keys)
        self.mask, self.mask_seed = mask, mask_seed
        self.mask_key, self.reference_key, self.image_key = mask_key, reference_key, image_key

    def _fixed_mask(self, shape: tuple[int, int], seed: int | None = None) -> torch.Tensor:
        return self.mask(shape, seed=self.mask_seed)

    def _undersampled_mask(self, data: Mapping[Hashable, Any], full: torch.Tensor) -> torch.Tensor | None:
        """The sampling mask of k-space given as fully sampled that is not (with a warning), else None."""
        sampled = float(sampling_mask_of(full).float().mean())
        if sampled >= FULLY_SAMPLED:
            return None
        warnings.warn(
            f"{data.get('path', 'the k-space')}: only {sampled:.0%} of k-space is sampled, so the data is already "
            "undersampled; reconstructing from its acquired samples instead of applying the mask (set "
            "use_acquired_mask to silence this).",
            stacklevel=2,
        )
        return sampling_mask_of(full).float()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            full = d[key]
            if self.mask is None and self.image_key in d:
                raise MRIInputError("an image-domain input needs a mask to simulate the undersampling; set mask.")
            acquired = d.get(self.mask_key)
            if self.mask is not None and acquired is None and self.image_key not in d:
                acquired = self._undersampled_mask(d, full)
            if self.mask is not None and acquired is None:
                d[key], d[self.mask_key] = UndersampleKspace(self._fixed_mask)(full)
                if self.image_key not in d:
                    d[self.reference_key] = root_sum_of_squares(ifft2c(full), dim=0)
                continue
            d[key], d[self.mask_key] = UndersampleKspace(None)(full, mask=acquired)
            reference = d.get(self.reference_key)
            same_shape = reference is not None and tuple(np.shape(reference)) == tuple(d[self.mask_key].shape)
            d[self.reference_key] = torch.as_tensor(np.asarray(reference)) if same_shape else None
        return d


class CoilMapsd(MapTransform):
    """``data[maps_key]``: the case's own coil maps with the background phase of the k-space absorbed
    (:class:`.AbsorbBackgroundPhase`), or ESPIRiT's estimate from the calibration region (:class:`.EstimateCoilMaps`;
    for one coil, the phase map of its calibration region).

    Args:
        keys: the (undersampled) k-space key.
        maps_key: where the case's maps are read (None or absent: estimate them) and the maps written.
        calib_width: ESPIRiT calibration width for multi-coil data.
    """

    def __init__(self, keys: KeysCollection = "kspace", maps_key: str = "maps", calib_width: int = 24) -> None:
        init_keys(self, keys)
        self.maps_key = maps_key
        self.estimate = EstimateCoilMaps(calib_width=calib_width)
        self.absorb = AbsorbBackgroundPhase()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            given = d.get(self.maps_key)
            d[self.maps_key] = self.estimate(d[key]) if given is None else self.absorb(d[key], np.asarray(given))
        return d


class AlignPhaseEncodingd(MapTransform):
    """Transpose a slice whose 1-D mask has whole rows (phase encoding along H), because the network learned aliasing
    along W; ``data[flag_key]`` records it, so the result is transposed back.

    Args:
        keys: the (…, H, W) tensors to transpose together (None values are left as they are).
        mask_key: the sampling mask.
        flag_key: where whether the slice was transposed is written.
    """

    def __init__(
        self,
        keys: KeysCollection = ("kspace", "mask", "maps"),
        mask_key: str = "mask",
        flag_key: str = "transposed",
    ) -> None:
        init_keys(self, keys, allow_missing_keys=True)
        self.mask_key, self.flag_key = mask_key, flag_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = checked_copy(self, data, required=[self.mask_key])
        d[self.flag_key] = phase_encoding_along_h(d[self.mask_key])
        if d[self.flag_key]:
            for key in self.key_iterator(d):
                d[key] = None if d[key] is None else d[key].transpose(-2, -1)
        return d


def reconstruction_preprocessing(
    mask: Callable[..., torch.Tensor] | None,
    mask_seed: int = 0,
    calib_width: int = 24,
    mu_iterations: int = 0,
) -> list[Callable]:
    """The chain of the module docstring after loading (the defaults of
    :class:`~monai_d3gm.apps.reconstruction.D3GMReconstructor`; the bundle's ``inference.json`` spells it out)."""
    return [
        CheckMRISliced(),
        SimulateKspaced("image", num_coils=1, phase="none", allow_missing_keys=True),
        UndersampleAcquisitiond("kspace", mask=mask, mask_seed=mask_seed),
        CoilMapsd("kspace", calib_width=calib_width),
        AlignPhaseEncodingd(["kspace", "mask", "maps"]),
        SenseAdjointd("kspace", output_keys="mu", mask_key="mask", iterations=mu_iterations),
        NormalizeByMaxd(["mu", "kspace"], reference_key="mu"),
        CopyItemsd("mu", names="inputs"),
        ComplexToChannelsd("inputs"),
    ]
