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

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from .errors import MRIInputError

__all__ = [
    "CartesianMask",
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
    if direction not in _DIRECTIONS:
        raise MRIInputError(
            f"direction must be 'phase' (keep whole columns, the mask varies along W) or 'frequency' (keep whole rows, "
            f"the mask varies along H), got {direction!r}."
        )
    return -1 if direction == "phase" else -2


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(s) < 1 for s in shape):
        raise MRIInputError(f"mask shape must be (H, W) with positive sizes, got {tuple(shape)}.")
    return int(shape[0]), int(shape[1])


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
        if kind not in _KINDS:
            raise MRIInputError(f"kind must be one of {_KINDS}, got {kind!r}.")
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
        self.acceleration = float(acceleration)
        self.center_fraction = float(center_fraction)
        self.direction = direction
        self.seed = seed

    def lines(self, n: int, seed: int | None = None) -> np.ndarray:
        """The 1-D pattern of n lines, a float32 0/1 numpy vector (see the class docstring)."""
        rng = np.random.RandomState(self.seed if seed is None else seed)
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
    except (OSError, ValueError) as err:
        raise MRIInputError(f"cannot read mask file {path}: {err}; pass a .npy file holding a 1-D 0/1 vector.") from err
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


def poisson_mask(
    shape: Sequence[int], acceleration: float, calib: Sequence[int] = (24, 24), seed: int | None = 0
) -> torch.Tensor:
    """2-D variable-density Poisson-disc mask (for 3-D Cartesian acquisitions: both axes phase encoded), through
    :func:`sigpy.mri.poisson`, with a fully sampled ``calib`` block at the centre and the corners cropped.

    Args:
        shape: the k-space shape (H, W).
        acceleration: target acceleration (> 1); SigPy reaches it within 0.1.
        calib: size (h, w) of the fully sampled calibration block.
        seed: random seed (SigPy seeds and then restores numpy's global state); None draws one from OS entropy.

    Returns:
        float32 0/1 mask of shape (H, W).
    """
    from sigpy.mri import poisson

    h, w = _check_shape(shape)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31))
    if len(calib) != 2 or not (0 <= calib[0] <= h and 0 <= calib[1] <= w):
        raise MRIInputError(f"calib must be (h, w) within the k-space shape {(h, w)}, got {tuple(calib)}.")
    try:
        mask = poisson((h, w), float(acceleration), calib=tuple(int(c) for c in calib), dtype=np.float32, seed=seed)
    except ValueError as err:
        raise MRIInputError(
            f"cannot make a Poisson-disc mask of shape {(h, w)} at acceleration {acceleration} with calib "
            f"{tuple(calib)}: {err}; use an acceleration > 1 that the shape allows, or a smaller calib block."
        ) from err
    return torch.as_tensor(np.ascontiguousarray(mask != 0, dtype=np.float32))


def acceleration_of(mask: torch.Tensor | np.ndarray) -> float:
    """The acceleration R = (number of k-space entries) / (number of sampled entries) of a 0/1 mask."""
    m = torch.as_tensor(mask)
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
    m = torch.as_tensor(mask) != 0
    if m.ndim < 2:
        raise MRIInputError(f"center_fraction_of expects a mask of shape (..., H, W), got {tuple(m.shape)}.")
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
