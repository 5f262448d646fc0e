# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Cartesian undersampling masks (fastMRI semantics), fixed 1-D mask files and 2-D Poisson-disc masks.

Geometry (the fastMRI / CDiffMR convention, also MONAI's ``RandomKspaceMask``): a 2-D k-space array is (H, W) with
the **phase-encoding direction along W** (the last dimension, columns) and the readout / frequency-encoding direction
along H (rows). Each acquired phase-encoding step is one whole column of k-space, so

* ``direction="phase"`` (the usual Cartesian acceleration) keeps whole **columns**: the mask varies along W and is
  constant along H, ``mask[:, j]`` is all ones or all zeros;
* ``direction="frequency"`` is the transposed choice: it keeps whole **rows**, the mask varies along H.

The k-space centre (DC) is at index n // 2 (see :mod:`.fft`). All masks are float32 0/1 tensors of shape (H, W) that
broadcast against (B, H, W) single-coil and (B, C, H, W) multi-coil k-space.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import MRIInputError
from ..utils import finite_number
from .fft import tensor_input

__all__ = [
    "CartesianMask",
    "RandomCartesianMask",
    "load_mask",
    "poisson_mask",
    "acceleration_of",
    "center_fraction_of",
    "parse_mask_name",
    "mask_line_axis",
]

_KINDS = ("random", "equispaced")
_DIRECTIONS = ("phase", "frequency")


def mask_line_axis(direction: str) -> int:
    """The axis of an (H, W) array along which a ``direction`` mask varies: -1 (W) for "phase", -2 (H) for
    "frequency"."""
    if not isinstance(direction, str) or direction not in _DIRECTIONS:
        raise MRIInputError(
            f"direction must be 'phase' (keep whole columns, the mask varies along W) or 'frequency' (keep whole rows, "
            f"the mask varies along H), got {direction!r}."
        )
    return -1 if direction == "phase" else -2


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    try:
        sizes = [operator.index(s) for s in shape]
    except TypeError:
        sizes = []
    if len(sizes) != 2 or any(s < 1 for s in sizes):
        raise MRIInputError(
            f"mask shape must be (H, W) with two positive integer sizes, got {shape!r}; pass kspace.shape[-2:]."
        )
    return sizes[0], sizes[1]


def _check_seed(seed: object, name: str = "seed") -> int | None:
    """None or an integer seed in [0, 2**32) (the range of numpy's ``RandomState``)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise MRIInputError(f"{name} must be None or an integer in [0, 2**32), got {seed!r}.")
    return int(seed)


def _expand_lines(line: np.ndarray, shape: tuple[int, int], direction: str) -> torch.Tensor:
    """A 1-D 0/1 line pattern -> float32 (H, W) mask that keeps whole lines along ``direction``."""
    h, w = shape
    line_t = torch.as_tensor(np.asarray(line, dtype=np.float32))
    if mask_line_axis(direction) == -1:
        return line_t[None, :].expand(h, w).contiguous()
    return line_t[:, None].expand(h, w).contiguous()


class CartesianMask:
    """Callable generator of 1-D Cartesian undersampling masks with a fully sampled centre (fastMRI semantics).

    Along the sampled direction with n lines:

    * a fully sampled centre of ``n_center = round(n * center_fraction)`` lines starting at
      ``(n - n_center + 1) // 2`` (so it contains the DC line n // 2);
    * ``kind="random"`` (fastMRI ``RandomMaskFunc``): each other line is kept independently with probability
      ``(n / acceleration - n_center) / (n - n_center)``, so the *expected* number of lines is n / acceleration;
    * ``kind="equispaced"`` (fastMRI / MONAI ``EquispacedKspaceMask``): every ``a``-th line from a random offset in
      ``[0, round(a))``, with the adjusted spacing ``a = acceleration (n_center - n) / (n_center acceleration - n)``
      that accounts for the centre, so the total is close to n / acceleration.

    Randomness comes from a local ``numpy.random.RandomState`` (never the global state): the seed given to the call,
    else the one given to the constructor, else fresh OS entropy. The same seed gives the same mask.

    Args:
        kind: "random" or "equispaced".
        acceleration: the undersampling factor R >= 1 (n / number of kept lines).
        center_fraction: fraction of the n lines in the fully sampled centre, in [0, 1).
        direction: "phase" (keep whole columns, the mask varies along W) or "frequency" (keep whole rows).
        seed: default seed of the generator.

    Example:
        >>> mask = CartesianMask("random", acceleration=4, center_fraction=0.08, seed=0)((320, 320))
        >>> mask.shape, mask.dtype
        (torch.Size([320, 320]), torch.float32)
    """

    def __init__(
        self,
        kind: str = "random",
        acceleration: float = 4,
        center_fraction: float = 0.08,
        direction: str = "phase",
        seed: int | None = None,
    ) -> None:
        if not isinstance(kind, str) or kind not in _KINDS:
            raise MRIInputError(f"kind must be one of {_KINDS}, got {kind!r}.")
        acceleration = finite_number(acceleration, "acceleration", MRIInputError)
        center_fraction = finite_number(center_fraction, "center_fraction", MRIInputError)
        if not acceleration >= 1:
            raise MRIInputError(f"acceleration must be >= 1 (1 = fully sampled), got {acceleration}.")
        if not 0 <= center_fraction < 1:
            raise MRIInputError(f"center_fraction must lie in [0, 1), got {center_fraction}.")
        if center_fraction * acceleration >= 1 and acceleration > 1:
            raise MRIInputError(
                f"center_fraction * acceleration = {center_fraction} * {acceleration} >= 1: the fully sampled centre "
                "alone exceeds the sampling budget n / acceleration; lower center_fraction or the acceleration."
            )
        mask_line_axis(direction)
        self.kind = kind
        self.acceleration = acceleration
        self.center_fraction = center_fraction
        self.direction = direction
        self.seed = _check_seed(seed)

    def lines(self, n: int, seed: int | None = None) -> np.ndarray:
        """The 1-D pattern of n lines, a float32 0/1 numpy vector (see the class docstring)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise MRIInputError(f"the number of k-space lines n must be a positive integer, got {n!r}.")
        n = int(n)
        if self.acceleration > n:
            raise MRIInputError(
                f"acceleration {self.acceleration:g} exceeds the {n} k-space lines: fewer than one line would be kept; "
                f"use an acceleration <= {n} for this k-space size."
            )
        rng = np.random.RandomState(self.seed if seed is None else _check_seed(seed))
        n_center = int(round(n * self.center_fraction))
        if self.acceleration > 1 and n_center * self.acceleration >= n:
            raise MRIInputError(
                f"{n_center} centre lines (round({n} * {self.center_fraction})) already reach {n} / "
                f"{self.acceleration} lines; lower center_fraction or the acceleration for this k-space size."
            )
        mask = np.zeros(n, dtype=bool)
        if self.acceleration == 1:
            mask[:] = True
        elif self.kind == "random":
            prob = (n / self.acceleration - n_center) / (n - n_center)
            mask = rng.uniform(size=n) < prob
        else:
            adjusted = self.acceleration * (n_center - n) / (n_center * self.acceleration - n)
            offset = rng.randint(0, max(int(round(adjusted)), 1))
            mask[np.around(np.arange(offset, n - 1, adjusted)).astype(np.int64)] = True
        pad = (n - n_center + 1) // 2
        mask[pad : pad + n_center] = True
        return mask.astype(np.float32)

    def __call__(self, shape: Sequence[int], seed: int | None = None) -> torch.Tensor:
        """Draw a mask.

        Args:
            shape: the k-space shape (H, W).
            seed: seed of this draw; defaults to the constructor's ``seed``.

        Returns:
            float32 0/1 mask of shape (H, W), whole lines along ``direction``.
        """
        h, w = _check_shape(shape)
        n = w if mask_line_axis(self.direction) == -1 else h
        return _expand_lines(self.lines(n, seed), (h, w), self.direction)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, acceleration={self.acceleration:g}, "
            f"center_fraction={self.center_fraction:g}, direction={self.direction!r}, seed={self.seed})"
        )


class RandomCartesianMask:
    """Mask generator that draws the kind, the acceleration and the centre fraction of a :class:`CartesianMask` per
    call: the training distribution of 1-D masks.

    The acceleration R is uniform in ``accelerations`` (low, high); the centre fraction is ``center_budget / R``,
    which gives fastMRI's pairs (4x with 0.08, 8x with 0.04 for the default 0.32); the kind is uniform among
    ``kinds``. The same seed gives the same mask.

    Args:
        kinds: mask kinds to draw from ("random", "equispaced").
        accelerations: (low, high) range of R, low >= 1.
        center_budget: R times the centre fraction, in (0, 1).
        direction: "phase" or "frequency" (see :class:`CartesianMask`).
        seed: default seed.
    """

    def __init__(
        self,
        kinds: Sequence[str] = _KINDS,
        accelerations: Sequence[float] = (4.0, 12.0),
        center_budget: float = 0.32,
        direction: str = "phase",
        seed: int | None = None,
    ) -> None:
        self.kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not self.kinds or any(k not in _KINDS for k in self.kinds):
            raise MRIInputError(f"kinds must be a non-empty list of {_KINDS}, got {kinds!r}.")
        low, high = (finite_number(a, "accelerations", MRIInputError) for a in accelerations)
        if not 1 <= low <= high:
            raise MRIInputError(f"accelerations must be a (low, high) pair, 1 <= low <= high, got {accelerations!r}.")
        self.accelerations = (low, high)
        self.center_budget = finite_number(center_budget, "center_budget", MRIInputError)
        if not 0 < self.center_budget < 1:
            raise MRIInputError(f"center_budget (R x centre fraction) must lie in (0, 1), got {center_budget}.")
        mask_line_axis(direction)
        self.direction = direction
        self.seed = _check_seed(seed)

    def draw(self, seed: int | None = None) -> tuple[CartesianMask, int]:
        """The :class:`CartesianMask` of this seed and the seed of its lines."""
        rng = np.random.RandomState(self.seed if seed is None else _check_seed(seed))
        kind = self.kinds[rng.randint(len(self.kinds))]
        acceleration = float(rng.uniform(*self.accelerations))
        mask = CartesianMask(kind, acceleration, self.center_budget / acceleration, direction=self.direction)
        return mask, int(rng.randint(0, 2**31 - 1))

    def __call__(self, shape: Sequence[int], seed: int | None = None) -> torch.Tensor:
        """Draw a mask of ``shape`` (H, W), float32 0/1."""
        mask, lines_seed = self.draw(seed)
        return mask(shape, seed=lines_seed)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kinds={self.kinds}, accelerations={self.accelerations}, "
            f"center_budget={self.center_budget:g}, direction={self.direction!r}, seed={self.seed})"
        )


_NAME = re.compile(r"af(?P<af>[0-9.]+)_cf(?P<cf>[0-9.]+)_pe(?P<pe>[0-9]+)")


def parse_mask_name(path: str | PathLike) -> dict[str, float] | None:
    """(acceleration, center_fraction, length) encoded in a CDiffMR mask file name such as
    ``random_af8_cf0.04_pe320.npy``, as ``{"acceleration": 8.0, "center_fraction": 0.04, "length": 320}``; None when
    the name does not follow that pattern."""
    match = _NAME.search(Path(path).name)
    if match is None:
        return None
    return {
        "acceleration": float(match["af"]),
        "center_fraction": float(match["cf"].rstrip(".")),
        "length": int(match["pe"]),
    }


def load_mask(path: str | PathLike, shape: Sequence[int], direction: str = "phase") -> torch.Tensor:
    """Load a fixed 1-D ``.npy`` line mask (e.g. ``cdiffmr-1d-masks/random/random_af8_cf0.04_pe320.npy``) as (H, W).

    The file holds one value per line (1 = line kept); the line ``j`` of the file becomes column ``j`` of the mask for
    ``direction="phase"`` (row ``j`` for "frequency"), so the file's centre line n // 2 lands on the k-space centre.
    A 2-D file already of shape (H, W) is returned as is.

    Args:
        path: the ``.npy`` file.
        shape: the k-space shape (H, W).
        direction: "phase" (the file's lines are columns, its length must be W) or "frequency" (rows, length H).

    Returns:
        float32 0/1 mask of shape (H, W).

    Raises:
        MRIInputError: unreadable file, values other than 0/1, or a length that does not match the k-space.
    """
    h, w = _check_shape(shape)
    axis = mask_line_axis(direction)
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # EOFError: an empty file
        raise MRIInputError(
            f"cannot read mask file {path}: {err or type(err).__name__}; pass a .npy file holding a 1-D 0/1 vector."
        ) from err
    data = np.asarray(data)
    if data.dtype.kind not in "biuf" or not np.all((data == 0) | (data == 1)):
        raise MRIInputError(f"mask file {path} must hold 0/1 values (1 = line kept), got dtype {data.dtype}.")
    if data.ndim == 2 and data.shape == (h, w):
        return torch.as_tensor(data.astype(np.float32))
    data = data.squeeze()
    if data.ndim != 1:
        raise MRIInputError(
            f"mask file {path} holds an array of shape {data.shape}; expected a 1-D line mask or a 2-D mask of the "
            f"k-space shape {(h, w)}."
        )
    n = w if axis == -1 else h
    if data.shape[0] != n:
        dim = "W (columns)" if axis == -1 else "H (rows)"
        raise MRIInputError(
            f"mask file {path} has {data.shape[0]} lines but the k-space of shape (H, W) = {(h, w)} has {n} lines "
            f"along direction {direction!r} ({dim}); use a mask of length {n} (e.g. a *_pe{n}.npy file or "
            f"CartesianMask(...)(({h}, {w}))), or crop/pad the k-space to {data.shape[0]} lines, or switch direction."
        )
    return _expand_lines(data, (h, w), direction)


def _distance_from_calibration(n: int, calib: int) -> np.ndarray:
    """Per index along one axis: the distance from the calibration band, 0 inside it, 1 at the farthest index."""
    d = np.maximum(np.abs(np.arange(n) - n / 2) - calib / 2, 0.0)
    return d / d.max() if d.max() > 0 else d


def _poisson(shape: tuple[int, int], accel: float, calib: tuple[int, int], seed: int, tol: float = 0.1) -> np.ndarray:
    """A variable-density Poisson-disc mask drawn by SigPy's Numba kernel, its density found by a bounded bisection.

    The minimum distance between samples grows linearly with the (normalised) distance from the calibration block,
    ``1 + growth * r``; a larger growth samples less. The growth is bisected in [0, max(H, W)] until the mask's
    acceleration is within ``tol`` of ``accel`` (the draws match :func:`sigpy.mri.poisson` with ``crop_corner=True``).
    :func:`sigpy.mri.poisson` itself loops for ever when no growth gets within ``tol`` (an acceleration the grid
    cannot reach, e.g. 16 x 16 at 12); here the search ends after :data:`_POISSON_SEARCH_STEPS` halvings.

    Raises:
        ValueError: no growth reaches the acceleration.
    """
    from sigpy.mri.samp import _poisson as draw  # one Poisson-disc draw for given per-pixel radii

    h, w = shape
    r = np.hypot(*np.meshgrid(_distance_from_calibration(h, calib[0]), _distance_from_calibration(w, calib[1]),
                              indexing="ij"))  # fmt: skip
    low, high, reached = 0.0, float(max(h, w)), math.inf
    for _ in range(_POISSON_SEARCH_STEPS):
        growth = (low + high) / 2
        if not low < growth < high:  # the interval cannot be halved any more
            break
        spacing = 1 + r * growth
        radius_w, radius_h = np.maximum(spacing * w / max(h, w), 1), np.maximum(spacing * h / max(h, w), 1)
        mask = draw(w, h, 30, radius_w, radius_h, calib, seed) * (r < 1)  # the corners beyond r = 1 are cropped
        reached = h * w / mask.sum() if mask.sum() else math.inf
        if abs(reached - accel) < tol:
            return mask
        low, high = (growth, high) if reached < accel else (low, growth)
    raise ValueError(f"no density reaches acceleration {accel} within {tol} (the nearest draw gave {reached:.3g})")


#: halvings of the growth interval in :func:`_poisson`: enough to exhaust float64 resolution
_POISSON_SEARCH_STEPS = 128


def poisson_mask(
    shape: Sequence[int], acceleration: float, calib: Sequence[int] = (24, 24), seed: int | None = 0
) -> torch.Tensor:
    """2-D variable-density Poisson-disc mask (for 3-D Cartesian acquisitions: both axes phase encoded), through
    :func:`sigpy.mri.poisson`'s sampler, with a fully sampled ``calib`` block at the centre and the corners cropped.

    Args:
        shape: the k-space shape (H, W).
        acceleration: target acceleration (> 1); the mask reaches it within 0.1, or this raises.
        calib: size (h, w) of the fully sampled calibration block.
        seed: random seed in [0, 2**32) (it seeds SigPy's Numba sampler, not numpy's global state); None draws one
            from OS entropy.

    Returns:
        float32 0/1 mask of shape (H, W).

    Raises:
        MRIInputError: a bad shape, acceleration, calib or seed, or an acceleration that the shape cannot reach.
    """
    h, w = _check_shape(shape)
    acceleration = finite_number(acceleration, "acceleration", MRIInputError)
    seed = _check_seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
    try:
        calib_hw = tuple(operator.index(c) for c in calib)
    except TypeError:
        calib_hw = ()
    if len(calib_hw) != 2 or not (0 <= calib_hw[0] <= h and 0 <= calib_hw[1] <= w):
        raise MRIInputError(f"calib must be two integers (h, w) within the k-space shape {(h, w)}, got {calib!r}.")
    if acceleration <= 1:
        raise MRIInputError(f"a Poisson-disc mask needs an acceleration > 1, got {acceleration}.")
    try:
        mask = _poisson((h, w), acceleration, calib_hw, seed)
    except ValueError as err:
        raise MRIInputError(
            f"cannot make a Poisson-disc mask of shape {(h, w)} at acceleration {acceleration} with calib "
            f"{calib_hw}: {err}; use an acceleration > 1 that the shape allows, or a smaller calib block."
        ) from err
    return torch.as_tensor(np.ascontiguousarray(mask != 0, dtype=np.float32))


def acceleration_of(mask: torch.Tensor | np.ndarray) -> float:
    """The acceleration R = (number of k-space entries) / (number of sampled entries) of a 0/1 mask."""
    m = tensor_input(mask, "mask")
    sampled = int((m != 0).sum())
    if sampled == 0:
        raise MRIInputError(f"the mask of shape {tuple(m.shape)} samples nothing; its acceleration is undefined.")
    return m.numel() / sampled


def center_fraction_of(mask: torch.Tensor | np.ndarray, direction: str = "phase") -> float:
    """Fraction of lines in the contiguous fully sampled run through the centre line n // 2.

    A line (a column for "phase", a row for "frequency") counts as sampled when all its entries are. The run can be
    longer than the requested centre when randomly picked lines touch it.

    Args:
        mask: 0/1 mask, shape (..., H, W) (leading dimensions must agree on the lines).
        direction: "phase" or "frequency".

    Returns:
        run length / n, in [0, 1].
    """
    m = tensor_input(mask, "mask") != 0
    if m.ndim < 2 or m.shape[-2] == 0 or m.shape[-1] == 0:
        raise MRIInputError(f"center_fraction_of expects a non-empty mask of shape (..., H, W), got {tuple(m.shape)}.")
    axis = mask_line_axis(direction)
    other = -2 if axis == -1 else -1
    lines = m.all(dim=other)
    lines = lines.reshape(-1, lines.shape[-1]).all(dim=0).tolist()
    n, c = len(lines), len(lines) // 2
    if not lines[c]:
        return 0.0
    lo, hi = c, c
    while lo > 0 and lines[lo - 1]:
        lo -= 1
    while hi < n - 1 and lines[hi + 1]:
        hi += 1
    return (hi - lo + 1) / n
