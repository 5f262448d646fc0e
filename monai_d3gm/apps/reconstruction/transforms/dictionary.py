# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Dictionary transforms chaining an MRI slice into D³GM's inputs.

A typical chain (image-domain input, simulated single- or multi-coil acquisition)::

    Compose([
        SimulateKspaced("image", num_coils=8),                 # image -> kspace (C, H, W)
        UndersampleKspaced("kspace", mask=CartesianMask("random", 8, 0.04), full_key="kspace_full"),
        EstimateCoilMapsd("kspace"),                            # maps from the calibration region
        SenseAdjointd(["kspace", "kspace_full"], output_keys=["mu", "target"]),
        NormalizeByMaxd(["mu", "target", "kspace"], reference_key="mu"),
        ComplexToChannelsd(["mu", "target"]),                    # (2, H, W) real, the network's space
    ])

For acquired undersampled k-space use ``UndersampleKspaced("kspace", mask=None)``: the acquired mask is taken.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from ..io import load_mri_slice
from .array import (
    ChannelsToComplex,
    ComplexToChannels,
    EstimateCoilMaps,
    NormalizeByMax,
    SenseAdjoint,
    SimulateKspace,
    UndersampleKspace,
)

__all__ = [
    "LoadMRISliced",
    "SimulateKspaced",
    "UndersampleKspaced",
    "EstimateCoilMapsd",
    "SenseAdjointd",
    "NormalizeByMaxd",
    "ComplexToChannelsd",
    "ChannelsToComplexd",
    "ScaleBackd",
]


class LoadMRISliced(MapTransform):
    """Replace ``data[key]`` (a path) by one 2-D slice of that MRI input and merge the result into the dictionary.

    See :func:`monai_d3gm.apps.reconstruction.io.load_mri_slice` for the formats and the keys it adds ("kspace",
    "mask", "reference" for raw data; "image", "affine" for NIfTI and DICOM).
    """

    def __init__(
        self, keys: KeysCollection = "path", slice_index: int | None = None, allow_missing_keys: bool = False
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.slice_index = slice_index

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            d.update(load_mri_slice(d[key], slice_index=d.get("slice_index", self.slice_index)))
        return d


class SimulateKspaced(Randomizable, MapTransform):
    """Dictionary :class:`SimulateKspace`: ``data[key]`` (an image slice) → ``data[kspace_key]``, ``data[maps_key]``."""

    def __init__(
        self,
        keys: KeysCollection = "image",
        kspace_key: str = "kspace",
        maps_key: str = "maps_true",
        num_coils: int = 1,
        phase: str = "smooth",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.kspace_key, self.maps_key = kspace_key, maps_key
        self.simulate = SimulateKspace(num_coils=num_coils, phase=phase)

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.simulate.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.simulate.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.kspace_key], d[self.maps_key] = self.simulate(d[key])
        return d


class UndersampleKspaced(Randomizable, MapTransform):
    """Dictionary :class:`UndersampleKspace`; keeps the fully sampled k-space under ``full_key`` when given.

    Args:
        keys: the k-space key.
        mask: mask generator, fixed mask, or None for the acquired mask (or ``data[mask_key]`` when present).
        mask_key: where the (H, W) mask is written (and read, when ``mask`` is None and it is present).
        full_key: if set, the k-space before masking is kept there (the reference of a simulated acquisition).
    """

    def __init__(
        self,
        keys: KeysCollection = "kspace",
        mask=None,
        mask_key: str = "mask",
        full_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.undersample = UndersampleKspace(mask)
        self.mask_key, self.full_key = mask_key, full_key

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.undersample.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.undersample.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            given = d.get(self.mask_key) if self.undersample.mask is None else None
            if self.full_key is not None:
                d[self.full_key] = d[key]
            d[key], d[self.mask_key] = self.undersample(d[key], mask=given)
        return d


class EstimateCoilMapsd(MapTransform):
    """Dictionary :class:`EstimateCoilMaps`: ``data[key]`` (k-space) → ``data[maps_key]``."""

    def __init__(
        self, keys: KeysCollection = "kspace", maps_key: str = "maps", allow_missing_keys: bool = False, **kwargs
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.maps_key = maps_key
        self.estimate = EstimateCoilMaps(**kwargs)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.maps_key] = self.estimate(d[key])
        return d


class SenseAdjointd(MapTransform):
    """Dictionary :class:`SenseAdjoint`: k-space keys → complex images under ``output_keys`` (μ, the reference)."""

    def __init__(
        self,
        keys: KeysCollection = "kspace",
        output_keys: str | Sequence[str] = "mu",
        maps_key: str | None = "maps",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.output_keys = [output_keys] if isinstance(output_keys, str) else list(output_keys)
        if len(self.output_keys) != len(self.keys):
            raise ValueError(f"output_keys {self.output_keys} must pair with keys {list(self.keys)}.")
        self.maps_key = maps_key
        self.adjoint = SenseAdjoint()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        maps = d.get(self.maps_key) if self.maps_key is not None else None
        for key, out in self.key_iterator(d, self.output_keys):
            d[out] = self.adjoint(d[key], maps)
        return d


class NormalizeByMaxd(MapTransform):
    """Divide every key by max |data[reference_key]| and store that scale under ``scale_key``."""

    def __init__(
        self,
        keys: KeysCollection,
        reference_key: str = "mu",
        scale_key: str = "scale",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.reference_key, self.scale_key = reference_key, scale_key
        self.normalize = NormalizeByMax()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        _, scale = self.normalize(d[self.reference_key])
        for key in self.key_iterator(d):
            d[key] = torch.as_tensor(d[key]) / scale
        d[self.scale_key] = scale
        return d


class ComplexToChannelsd(MapTransform):
    """Dictionary :class:`ComplexToChannels`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.convert = ComplexToChannels()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.convert(d[key])
        return d


class ChannelsToComplexd(MapTransform):
    """Dictionary :class:`ChannelsToComplex`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.convert = ChannelsToComplex()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.convert(d[key])
        return d


class ScaleBackd(MapTransform):
    """Multiply keys (e.g. the prediction) by ``data[scale_key]``, undoing :class:`NormalizeByMaxd`."""

    def __init__(self, keys: KeysCollection, scale_key: str = "scale", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.scale_key = scale_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        scale = d[self.scale_key]
        for key in self.key_iterator(d):
            d[key] = torch.as_tensor(d[key]) * torch.as_tensor(scale)
        return d
