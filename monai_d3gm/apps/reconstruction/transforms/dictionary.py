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

from ....errors import MRIInputError
from ....physics.fft import tensor_input
from ....transforms.utils import checked_copy, init_keys
from .array import (
    AbsorbBackgroundPhase,
    AddKspaceNoise,
    ChannelsToComplex,
    ComplexToChannels,
    EstimateCoilMaps,
    NormalizeByMax,
    SenseAdjoint,
    SimulateKspace,
    UndersampleKspace,
    _check_finite_output,
)

__all__ = [
    "init_keys",
    "checked_copy",
    "SimulateKspaced",
    "AddKspaceNoised",
    "UndersampleKspaced",
    "EstimateCoilMapsd",
    "AbsorbBackgroundPhased",
    "SenseAdjointd",
    "NormalizeByMaxd",
    "ComplexToChannelsd",
    "ChannelsToComplexd",
    "ScaleBackd",
]


class SimulateKspaced(Randomizable, MapTransform):
    """Dictionary :class:`SimulateKspace`: ``data[key]`` (an image slice) → ``data[kspace_key]``, ``data[maps_key]``."""

    def __init__(
        self,
        keys: KeysCollection = "image",
        kspace_key: str = "kspace",
        maps_key: str = "maps_true",
        num_coils: int | Sequence[int] = 1,
        phase: str = "smooth",
        coil_geometry: str = "birdcage",
        allow_missing_keys: bool = False,
    ) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.kspace_key, self.maps_key = kspace_key, maps_key
        self.simulate = SimulateKspace(num_coils=num_coils, phase=phase, coil_geometry=coil_geometry)

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.simulate.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.simulate.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[self.kspace_key], d[self.maps_key] = self.simulate(d[key])
        return d


class AddKspaceNoised(Randomizable, MapTransform):
    """Dictionary :class:`AddKspaceNoise`: noisy k-space replaces ``data[key]``; σ goes to ``data[std_key]``."""

    def __init__(
        self,
        keys: KeysCollection = "kspace",
        relative_std: float | Sequence[float] = (0.002, 0.025),
        prob: float = 1.0,
        std_key: str = "noise_std",
        allow_missing_keys: bool = False,
    ) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.add_noise = AddKspaceNoise(relative_std, prob)
        self.std_key = std_key

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.add_noise.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.add_noise.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[key], d[self.std_key] = self.add_noise(d[key])
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
        init_keys(self, keys, allow_missing_keys)
        self.undersample = UndersampleKspace(mask)
        self.mask_key, self.full_key = mask_key, full_key

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.undersample.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.undersample.randomize()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
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
        init_keys(self, keys, allow_missing_keys)
        self.maps_key = maps_key
        self.estimate = EstimateCoilMaps(**kwargs)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[self.maps_key] = self.estimate(d[key])
        return d


class AbsorbBackgroundPhased(MapTransform):
    """Dictionary :class:`AbsorbBackgroundPhase`: ``data[maps_key]`` (None or absent for one coil) ← maps with the
    background phase of ``data[key]`` (the undersampled k-space) absorbed."""

    def __init__(self, keys: KeysCollection = "kspace", maps_key: str = "maps", allow_missing_keys: bool = False):
        init_keys(self, keys, allow_missing_keys)
        self.maps_key = maps_key
        self.absorb = AbsorbBackgroundPhase()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[self.maps_key] = self.absorb(d[key], d.get(self.maps_key))
        return d


class SenseAdjointd(MapTransform):
    """Dictionary :class:`SenseAdjoint`: k-space keys → complex images under ``output_keys`` (μ, the reference).

    ``iterations`` > 0 gives the CG-SENSE image (:class:`SenseAdjoint`), with the sampling mask ``data[mask_key]``
    or, without ``mask_key``, the sampling mask of each key's k-space (where any coil holds a sample); a fully sampled
    reference keeps its adjoint.
    """

    def __init__(
        self,
        keys: KeysCollection = "kspace",
        output_keys: str | Sequence[str] = "mu",
        maps_key: str | None = "maps",
        iterations: int = 0,
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.mask_key = mask_key
        self.output_keys = [output_keys] if isinstance(output_keys, str) else list(output_keys)
        if len(self.output_keys) != len(self.keys):
            raise MRIInputError(f"output_keys {self.output_keys} must pair with keys {list(self.keys)}.")
        self.maps_key = maps_key
        self.adjoint = SenseAdjoint(iterations)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data, required=[self.mask_key] if self.mask_key is not None else [])
        maps = d.get(self.maps_key) if self.maps_key is not None else None
        mask = d[self.mask_key] if self.mask_key is not None else None
        for key, out in self.key_iterator(d, self.output_keys):
            d[out] = self.adjoint(d[key], maps, mask)
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
        init_keys(self, keys, allow_missing_keys)
        self.reference_key, self.scale_key = reference_key, scale_key
        self.normalize = NormalizeByMax()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data, required=[self.reference_key])
        _, scale = self.normalize(d[self.reference_key])
        for key in self.key_iterator(d):
            value = tensor_input(d[key], f"data[{key!r}]")
            d[key] = _check_finite_output(value / scale, value, f"dividing data[{key!r}] by {scale:.3g}")
        d[self.scale_key] = scale
        return d


class ComplexToChannelsd(MapTransform):
    """Dictionary :class:`ComplexToChannels`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.convert = ComplexToChannels()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[key] = self.convert(d[key])
        return d


class ChannelsToComplexd(MapTransform):
    """Dictionary :class:`ChannelsToComplex`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.convert = ChannelsToComplex()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data)
        for key in self.key_iterator(d):
            d[key] = self.convert(d[key])
        return d


class ScaleBackd(MapTransform):
    """Multiply keys (e.g. the prediction) by ``data[scale_key]``, undoing :class:`NormalizeByMaxd`."""

    def __init__(self, keys: KeysCollection, scale_key: str = "scale", allow_missing_keys: bool = False) -> None:
        init_keys(self, keys, allow_missing_keys)
        self.scale_key = scale_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = checked_copy(self, data, required=[self.scale_key])
        scale = tensor_input(d[self.scale_key], f"data[{self.scale_key!r}] (the scale)")
        if scale.numel() != 1 or scale.is_complex() or not bool(torch.isfinite(scale).all()):
            raise MRIInputError(
                f"ScaleBackd: data[{self.scale_key!r}] must be one finite real number (the scale NormalizeByMaxd "
                f"stored), got {scale.dtype} of shape {tuple(scale.shape)}; apply it per item (after decollate)."
            )
        for key in self.key_iterator(d):
            value = tensor_input(d[key], f"data[{key!r}]")
            d[key] = _check_finite_output(value * scale.reshape(()), value, f"scaling data[{key!r}] back")
        return d
