# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Calibrated intervals from posterior samples: conformal risk control of the pixel miscoverage.

A restorer's N posterior samples give a pixel-wise mean m and standard deviation s. The interval of a pixel is

    [m - h, m + h],  h = λ_b (s + δ·peak),

where ``peak`` is the 99.8th percentile of the mean image (the scale of the image), δ a small floor (``floor``, in
units of ``peak``) for pixels whose samples agree, and λ_b one scale per bin b of relative intensity m / peak (one bin:
a single global scale). The scales are chosen on calibration images the weights never trained on, by conformal risk
control (Angelopoulos et al., "Conformal Risk Control", ICLR 2024; for images, Angelopoulos et al., ICML 2022): with
the loss of an image L_i(λ) the fraction of its foreground pixels of bin b that the interval misses, λ_b is the
smallest scale with

    n / (n + 1) · mean_i L_i(λ_b) + 1 / (n + 1) <= α,

which guarantees that on a new image of the same distribution the expected fraction of missed foreground pixels is
at most α. Pixels of one image are not exchangeable, images are: this is why the guarantee is on the per-image
fraction, and why it needs at least ``ceil(1/α) - 1`` calibration images (the 1 / (n + 1) term). A library's split
conformal regressor (mapie, puncc) treats each pixel as an exchangeable sample, which this guarantee does not need
and real images do not give, so the few lines of risk control are written out here.

The standard deviation of N samples is itself a noisy estimate whose spread depends on N, so a calibration holds one
set of scales per sample count (:func:`sample_estimates` takes the first n of N_max samples for every n asked), and
per group of images whose spread misjudges the error differently (the MRI acceleration): the guarantee then holds for
each group, not only for their mixture.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import D3GMInputError
from ..io.files import write_json

__all__ = [
    "ALL",
    "CALIBRATION_FORMAT",
    "FOREGROUND_THRESHOLD",
    "IntervalCalibration",
    "IntervalScales",
    "CalibrationImage",
    "calibrate_intervals",
    "calibration_image",
    "foreground_mask",
    "image_peak",
    "risk_control_scale",
    "sample_estimates",
    "weights_digest",
]

CALIBRATION_FORMAT = "monai-d3gm interval calibration"

#: the share of the reference's peak above which a pixel is foreground (anatomy); 0: every pixel (photos)
FOREGROUND_THRESHOLD = 0.1


def image_peak(mean: torch.Tensor) -> float:
    """The scale of an image: the 99.8th percentile of its magnitude (robust to a few bright pixels), or 1 when it is
    all zeros."""
    values = mean.detach().abs().float().flatten()
    if values.numel() > 1_000_000:  # the percentile of a strided subset: the same to well below 1 %
        values = values[:: values.numel() // 1_000_000 + 1]
    peak = float(torch.quantile(values, 0.998)) if values.numel() else 0.0
    return peak if peak > 0 else 1.0


def foreground_mask(
    reference: torch.Tensor, threshold: float = FOREGROUND_THRESHOLD, dilation: int = 2
) -> torch.Tensor:
    """Pixels where the reference exceeds ``threshold`` of its peak (:func:`image_peak`), dilated by ``dilation``
    pixels: the anatomy, without the background noise floor that most of an MR slice is. ``threshold`` 0 gives every
    pixel (photos)."""
    ref = reference.detach().abs().float()
    if threshold <= 0:
        return torch.ones_like(ref, dtype=torch.bool)
    mask = (ref > threshold * image_peak(ref)).float()
    if dilation > 0:
        k = 2 * dilation + 1
        flat = mask.reshape(-1, 1, *mask.shape[-2:])
        flat = torch.nn.functional.max_pool2d(flat, k, stride=1, padding=dilation)
        mask = flat.reshape(mask.shape)
    return mask > 0


@dataclass
class CalibrationImage:
    """What calibration keeps of one image's foreground pixels, in units of the image's peak (the score
    |reference - m| / (s + δ) is formed later, since the floor δ is a setting of the fit).

    Attributes:
        relative: m / peak of the mean of all samples (float32, 1-D): the intensity that picks a pixel's bin.
        error: per sample count n, |reference - m_n| / peak, m_n the mean of the first n samples.
        spread: per sample count n, s_n / peak, s_n their standard deviation.
    """

    relative: np.ndarray
    error: dict[int, np.ndarray]
    spread: dict[int, np.ndarray]


def sample_estimates(
    samples: torch.Tensor, sample_counts: Sequence[int]
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """``{n: (mean, std)}`` of the first n of ``samples`` (N, *spatial) for each n: what drawing n samples with the
    same seed gives (the samples are drawn one after the other). Complex samples are taken as magnitudes."""
    counts = sorted({int(n) for n in sample_counts})
    if not counts or counts[0] < 2:
        raise D3GMInputError(f"sample counts must be >= 2 (a spread needs two samples), got {list(sample_counts)}.")
    if samples.shape[0] < counts[-1]:
        raise D3GMInputError(f"calibrating n = {counts[-1]} needs as many samples, got {samples.shape[0]}.")
    stack = samples.abs().float() if samples.is_complex() else samples.float()
    return {n: (stack[:n].mean(0), stack[:n].std(0)) for n in counts}


def calibration_image(
    reference: torch.Tensor,
    estimates: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
    mask: torch.Tensor | None = None,
    threshold: float = FOREGROUND_THRESHOLD,
) -> CalibrationImage:
    """The calibration record of one image.

    Args:
        reference: the true image (*spatial, or (C, H, W) with channels; complex: its magnitude).
        estimates: per sample count n, the task's output and its spread from n samples (:func:`sample_estimates`,
            or the restorer's "magnitude" and "std" with ``num_samples=n``).
        mask: the pixels scored (default :func:`foreground_mask` of the reference at ``threshold``).
        threshold: the foreground threshold (0: every pixel, as for photos).
    """
    counts = sorted(int(n) for n in estimates)
    if not counts or counts[0] < 2:
        raise D3GMInputError(f"sample counts must be >= 2 (a spread needs two samples), got {counts}.")
    ref = torch.as_tensor(reference)
    ref = ref.abs().float() if ref.is_complex() else ref.float()
    for n in counts:
        for part in estimates[n]:
            if part is None or tuple(part.shape) != tuple(ref.shape):
                got = None if part is None else tuple(part.shape)
                raise D3GMInputError(f"the estimates of n = {n} ({got}) do not match the reference {tuple(ref.shape)}.")
    keep = foreground_mask(ref, threshold) if mask is None else torch.as_tensor(mask).bool()
    if not bool(keep.any()):
        raise D3GMInputError("the calibration image has no foreground pixel; leave empty slices out.")
    mean = torch.as_tensor(estimates[counts[-1]][0]).float()
    peak = image_peak(mean)

    def part(values: torch.Tensor) -> np.ndarray:
        return (torch.as_tensor(values).float()[keep] / peak).numpy().astype(np.float32)

    # inference with n samples centres the interval on their mean, so each n is scored around its own mean
    error = {n: part((ref - torch.as_tensor(estimates[n][0]).float()).abs()) for n in counts}
    spread = {n: part(estimates[n][1]) for n in counts}
    return CalibrationImage(part(mean), error, spread)


def risk_control_scale(scores: Sequence[np.ndarray], alpha: float) -> float:
    """The smallest λ with n/(n+1) · mean_i L_i(λ) + 1/(n+1) <= α, L_i(λ) the fraction of ``scores[i]`` above λ
    (images without pixels lose 0).

    Raises:
        D3GMInputError: fewer images than ``ceil(1/α) - 1`` (no λ can satisfy the bound), or α outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise D3GMInputError(f"alpha (the miscoverage) must be in (0, 1), got {alpha}.")
    n = len(scores)
    target = (alpha * (n + 1) - 1) / max(n, 1)  # the bound on the mean empirical loss
    if target < 0:
        raise D3GMInputError(
            f"{n} calibration images cannot guarantee a miscoverage of {alpha}: conformal risk control needs at "
            f"least {math.ceil(1 / alpha) - 1}. Calibrate on more slices (--slices_per_volume) or ask for a larger "
            "alpha."
        )
    ordered = [np.sort(s) for s in scores]

    def risk(lam: float) -> float:
        losses = [1.0 - np.searchsorted(s, lam, side="right") / s.size if s.size else 0.0 for s in ordered]
        return float(np.mean(losses))

    # the risk is a non-increasing step function of λ; its steps are at the scores, so the answer is one of them
    candidates = np.unique(np.concatenate([s for s in ordered if s.size] or [np.zeros(1)]))
    lo, hi = 0, len(candidates) - 1
    if risk(float(candidates[hi])) > target:
        return float(candidates[hi])  # unreachable: at the largest score every loss is 0
    while lo < hi:
        mid = (lo + hi) // 2
        if risk(float(candidates[mid])) <= target:
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


@dataclass
class IntervalScales:
    """The scales of one sample count: ``scales[b]`` for the relative intensities between the inner bin edges
    ``edges[b - 1]`` and ``edges[b]`` (the first bin open below, the last open above; no edges: one scale)."""

    edges: list[float]
    scales: list[float]
    floor: float

    def __post_init__(self) -> None:
        if len(self.scales) != len(self.edges) + 1 or any(not s >= 0 for s in self.scales):
            raise D3GMInputError(
                f"an interval calibration needs one scale >= 0 per bin ({len(self.edges) + 1}), got {self.scales}."
            )

    def half_width(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """h = λ_b (s + δ·peak) of one image (*spatial)."""
        peak = image_peak(mean)
        relative = (mean.abs().float() / peak).contiguous()
        bins = torch.bucketize(relative, torch.tensor(self.edges, dtype=relative.dtype), right=True)
        scale = torch.tensor(self.scales, dtype=relative.dtype)[bins]
        return scale * (std.float() + self.floor * peak)


def _level(value: float) -> float:
    level = round(float(value), 6)
    if not 0 < level < 1:
        raise D3GMInputError(f"an interval level (its coverage) must be in (0, 1), e.g. 0.9; got {value}.")
    return level


#: the group of a calibration fitted on one population of images
ALL = "all"


@dataclass
class IntervalCalibration:
    """Calibrated intervals: per group of images (e.g. an MRI acceleration, "8x"; one group: "all"), coverage level
    (0.9: miscoverage α = 0.1) and sample count, an :class:`IntervalScales`.

    Args:
        scales: group -> level -> sample count -> its scales.
        weights_sha256: digest of the weights the samples came from (:func:`weights_digest`); a calibration of other
            weights does not hold.
        info: what the calibration ran on (cases, settings, its own coverage), recorded in the file.
        multichannel: the images are (C, H, W) with channels (an RGB photo), one peak for all channels; False: a
            3-D array is a stack of slices, each with its own peak (an MR volume).
        foreground: the pixels the coverage holds on: those above this share of the reference's peak (0: every pixel,
            as for photos).
    """

    scales: dict[str, dict[float, dict[int, IntervalScales]]]
    weights_sha256: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    multichannel: bool = False
    foreground: float = FOREGROUND_THRESHOLD

    def __post_init__(self) -> None:
        self.scales = {
            str(g): {_level(k): {int(n): v for n, v in c.items()} for k, c in levels.items()}
            for g, levels in self.scales.items()
        }
        if not self.scales:
            raise D3GMInputError("an interval calibration needs at least one group of scales.")

    @property
    def groups(self) -> list[str]:
        return sorted(self.scales)

    @property
    def levels(self) -> list[float]:
        """The levels every group holds."""
        return sorted(set.intersection(*(set(levels) for levels in self.scales.values())))

    def sample_counts(self, level: float, group: str | None = None) -> list[int]:
        return sorted(self.scales[self._group(group)].get(_level(level), {}))

    def nearest_group(self, value: float | str) -> str:
        """The group for a condition: a group of that name ("blur"), or for a number (an acceleration of 6.0 among
        groups "4x" and "8x") its own when calibrated, else the nearest in ratio, with a warning that coverage is not
        guaranteed there; a calibration of one group gives that group."""
        if len(self.scales) == 1:
            return next(iter(self.scales))
        if str(value) in self.scales:  # a named group ("blur")
            return str(value)
        try:
            numbers = {g: float(g.rstrip("x")) for g in self.scales}
        except ValueError:
            raise D3GMInputError(f"the calibration groups {self.groups} are not numbers such as '4x'.") from None
        value = float(value)
        nearest = min(numbers, key=lambda g: abs(math.log(max(numbers[g], 1e-6) / max(value, 1e-6))))
        if abs(numbers[nearest] - value) > 0.1 * abs(value):
            warnings.warn(
                f"the interval calibration holds groups {self.groups}; {value:g} uses {nearest}'s scales, whose "
                "coverage is not guaranteed there (recalibrate with it).",
                stacklevel=2,
            )
        return nearest

    def _group(self, group: str | None) -> str:
        if group is None:
            if len(self.scales) == 1:
                return next(iter(self.scales))
            raise D3GMInputError(f"the calibration holds groups {self.groups}; say which one applies.")
        if group not in self.scales:
            raise D3GMInputError(f"the calibration holds groups {self.groups}, not {group!r}.")
        return group

    def scales_for(self, level: float, num_samples: int, group: str | None = None) -> IntervalScales:
        """The scales of one group, level and sample count.

        Raises:
            D3GMInputError: the calibration does not hold them (the message lists what it holds).
        """
        level, group = _level(level), self._group(group)
        if level not in self.scales[group]:
            raise D3GMInputError(
                f"the calibration holds interval levels {sorted(self.scales[group])}, not {level}; ask for one of "
                "them (--interval) or recalibrate with it."
            )
        if num_samples not in self.scales[group][level]:
            raise D3GMInputError(
                f"the calibration holds sample counts {self.sample_counts(level, group)}, not {num_samples}; draw "
                "one of them (--num_samples) or recalibrate with it."
            )
        return self.scales[group][level][num_samples]

    def interval(
        self,
        mean: Any,
        std: Any,
        num_samples: int,
        level: float = 0.9,
        low: float | None = None,
        group: str | None = None,
        high: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lower, upper)`` of an image (*spatial) from the mean and standard deviation of ``num_samples`` samples;
        ``low`` clips the lower bound (0 for magnitudes) and ``high`` the upper (1 for photos). Unless the calibration
        is ``multichannel``, a stack (S, H, W) is taken slice by slice, as calibrated."""
        mean, std = torch.as_tensor(mean).float(), torch.as_tensor(std).float()
        if mean.shape != std.shape:
            raise D3GMInputError(f"mean {tuple(mean.shape)} and std {tuple(std.shape)} differ in shape.")
        scales = self.scales_for(level, int(num_samples), group)
        if mean.ndim == 3 and not self.multichannel:  # a stack of slices: each has its own peak, as calibrated
            half = torch.stack([scales.half_width(m, s) for m, s in zip(mean, std)])
        else:
            half = scales.half_width(mean, std)
        lower, upper = mean - half, mean + half
        return (lower if low is None else lower.clamp(min=low)), (upper if high is None else upper.clamp(max=high))

    @classmethod
    def merge(cls, parts: Sequence[IntervalCalibration]) -> IntervalCalibration:
        """One calibration holding the groups of ``parts`` (each fitted on its own images); their ``info`` goes
        under ``info["groups"]``.

        Raises:
            D3GMInputError: no parts, a group in two parts, or parts of different kinds of image.
        """
        kinds = {(p.multichannel, p.foreground) for p in parts}
        if len(kinds) != 1:
            raise D3GMInputError(f"the calibrations merged must be of one kind of image, got {sorted(kinds)}.")
        scales: dict[str, Any] = {}
        info: dict[str, Any] = {}
        for part in parts:
            for group, levels in part.scales.items():
                if group in scales:
                    raise D3GMInputError(f"group {group!r} is in two of the calibrations merged.")
                scales[group] = levels
                info[group] = part.info
        multichannel, foreground = kinds.pop()
        return cls(scales, info={"groups": info}, multichannel=multichannel, foreground=foreground)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "version": 1,
            "weights_sha256": self.weights_sha256,
            "images": {"multichannel": self.multichannel, "foreground": self.foreground},
            "groups": {
                group: {
                    str(level): {str(n): asdict(s) for n, s in sorted(counts.items())}
                    for level, counts in sorted(levels.items())
                }
                for group, levels in sorted(self.scales.items())
            },
            "info": self.info,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the calibration as JSON (atomically): plain numbers, safe to load from a downloaded bundle."""
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> IntervalCalibration:
        """Read a calibration file written by :meth:`save`.

        Raises:
            D3GMInputError: the file is not a calibration of this format.
        """
        try:
            payload = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise D3GMInputError(
                f"{path}: cannot read the interval calibration ({e}); rerun the bundle's calibrate.json."
            ) from e
        if not isinstance(payload, dict) or payload.get("format") != CALIBRATION_FORMAT:
            raise D3GMInputError(
                f"{path} is not an interval calibration (format {CALIBRATION_FORMAT!r}); rerun the bundle's "
                "calibrate.json."
            )
        try:
            scales = {
                str(group): {
                    float(level): {
                        int(n): IntervalScales(
                            [float(e) for e in v["edges"]], [float(x) for x in v["scales"]], float(v["floor"])
                        )
                        for n, v in counts.items()
                    }
                    for level, counts in levels.items()
                }
                for group, levels in payload["groups"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise D3GMInputError(f"{path}: a malformed interval calibration ({e!r}); rerun calibrate.json.") from e
        images = payload.get("images") or {}  # files before 0.6 hold MR images: slices with a foreground
        kind = bool(images.get("multichannel", False)), float(images.get("foreground", FOREGROUND_THRESHOLD))
        return cls(scales, str(payload.get("weights_sha256", "")), dict(payload.get("info") or {}), *kind)


def weights_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a weights file: a calibration records it and holds only for those weights."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def calibrate_intervals(
    images: Iterable[CalibrationImage],
    levels: Sequence[float] = (0.9,),
    bins: int = 1,
    floor: float = 0.0,
    group: str = ALL,
) -> IntervalCalibration:
    """Scales that make ``[m - h, m + h]`` miss at most a fraction α = 1 - level of an image's foreground pixels in
    expectation (conformal risk control, per intensity bin), for each level and sample count.

    Args:
        images: calibration records (:func:`calibration_image`) of images the weights never trained on.
        levels: the intervals' coverages (0.9: α = 0.1).
        bins: bins of relative intensity, each with its own scale; their edges are the quantiles of the calibration
            pixels' intensities (1: one global scale).
        floor: δ, added to the standard deviation in units of the image's peak.
        group: the name of the images' group (:meth:`IntervalCalibration.merge` joins calibrations of several).
    """
    images = list(images)
    if not images:
        raise D3GMInputError("calibration needs at least one image.")
    if bins < 1 or floor < 0:
        raise D3GMInputError(f"bins must be >= 1 and floor >= 0, got bins={bins}, floor={floor}.")
    counts = sorted(images[0].spread)
    if any(sorted(im.spread) != counts for im in images):
        raise D3GMInputError("every calibration image must hold the same sample counts.")
    relative = np.concatenate([im.relative for im in images])
    edges = np.quantile(relative, np.linspace(0, 1, bins + 1)[1:-1]).tolist() if bins > 1 else []
    which = [np.searchsorted(np.asarray(edges), im.relative, side="right") for im in images]
    result: dict[float, dict[int, IntervalScales]] = {_level(level): {} for level in levels}
    for n in counts:
        scores = [
            [im.error[n][w == b] / (im.spread[n][w == b] + floor + 1e-12) for im, w in zip(images, which)]
            for b in range(bins)
        ]
        for level in result:
            lambdas = [risk_control_scale(per_bin, 1 - level) for per_bin in scores]
            result[level][n] = IntervalScales([float(e) for e in edges], lambdas, float(floor))
    return IntervalCalibration({group: result}, info={"images": len(images), "bins": bins, "floor": floor})
