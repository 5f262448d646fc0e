# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Coil sensitivity maps (ESPIRiT through SigPy, with a low-resolution fallback) and the SENSE operator A = M F S.

Shapes: images are complex (B, H, W), multi-coil k-space and coil images are complex (B, C, H, W), coil maps are
complex (C, H, W) (shared by the batch) or (B, C, H, W). k-space is centred (DC at (H // 2, W // 2)) and the FFT is
orthonormal (:mod:`.fft`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import MRIInputError
from .fft import fft2c, ifft2c, tensor_input

__all__ = [
    "SenseOperator",
    "absorb_background_phase",
    "lowres_coil_images",
    "espirit_maps",
    "lowres_maps",
    "calibration_region",
    "root_sum_of_squares",
    "consistent_coil_rss",
    "sampling_mask_of",
    "conjugate_gradient",
]


def root_sum_of_squares(coil_images: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root sum of squares sqrt(Σ_c |x_c|²) over the coil dimension (real or complex input).

    Args:
        coil_images: coil images, e.g. complex (B, C, H, W).
        dim: the coil dimension.

    Returns:
        real magnitude image with ``dim`` removed, e.g. (B, H, W) float32.
    """
    return torch.linalg.vector_norm(coil_images, dim=dim)


def consistent_coil_rss(
    image: torch.Tensor, maps: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """The RSS of a reconstruction's coil images with the measured samples put back in each coil.

    ``sqrt(Σ_c |F^H(M ⊙ y_c + (1 - M) ⊙ F(S_c x))|²)``: the coil images the maps predict from ``x``, made consistent
    with every coil's own measurements, then combined by root sum of squares as a scanner (and fastMRI's reference)
    combines fully sampled coil images. Inside the maps' support (Σ_c |S_c|² = 1) it is ``|x|`` up to the
    correction on the measured samples. Outside it, where the SENSE image is zero, it holds the zero-filled residual
    of the measurements: the acquired share of the measured noise (which the fully sampled reference's background
    also holds) and whatever of the data the image does not explain.

    Args:
        image: coil-combined images, complex (..., H, W), in the scale of ``kspace``.
        maps: coil maps, complex (C, H, W).
        kspace: the measured k-space, complex (C, H, W), zero where not sampled.
        mask: the sampling pattern (H, W), non-zero where sampled.

    Returns:
        real magnitude images (..., H, W).
    """
    sampled = torch.as_tensor(mask, device=kspace.device).ne(0)
    coils = fft2c(maps * image.unsqueeze(-3))
    return root_sum_of_squares(ifft2c(torch.where(sampled, kspace, coils)), dim=-3)


def sampling_mask_of(kspace: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The sampling pattern of zero-filled k-space: True where any coil holds a non-zero sample.

    Args:
        kspace: (C, H, W) or (H, W), complex.

    Returns:
        bool (H, W).
    """
    k = torch.as_tensor(kspace)
    return k.ne(0).reshape(-1, *k.shape[-2:]).any(dim=0)


def _centred(n: int, width: int) -> slice:
    """The centred block of ``width`` indices in ``n`` (SigPy's ``resize`` crop: starts at n // 2 - width // 2)."""
    start = n // 2 - width // 2
    return slice(start, start + width)


def calibration_region(mask: torch.Tensor | np.ndarray) -> tuple[int, tuple[int, int]]:
    """Size of the fully sampled calibration region at the k-space centre.

    Args:
        mask: sampling pattern (H, W) (non-zero = sampled), e.g. ``sampling_mask_of(kspace)``.

    Returns:
        ``(square, (h, w))``: the width of the largest centred fully sampled square (what SigPy's ESPIRiT calibrates
        on) and the largest centred fully sampled rectangle grown from it, first along H then along W (for a 1-D
        phase-encoding mask with n centre columns: ``(n, (H, n))``).
    """
    m = np.asarray(torch.as_tensor(mask).ne(0).cpu())
    if m.ndim != 2:
        raise MRIInputError(f"calibration_region expects an (H, W) mask, got shape {m.shape}.")
    h, w = m.shape

    def full(rows: int, cols: int) -> bool:
        return bool(m[_centred(h, rows), _centred(w, cols)].all())

    square = 0
    while square < min(h, w) and full(square + 1, square + 1):
        square += 1
    rows, cols = square, square
    if square:
        while rows < h and full(rows + 1, cols):
            rows += 1
        while cols < w and full(rows, cols + 1):
            cols += 1
    return square, (rows, cols)


def lowres_coil_images(kspace: torch.Tensor, calib_shape: Sequence[int]) -> torch.Tensor:
    """Coil images (C, H, W) of the Hann-windowed centred ``calib_shape`` block of k-space (a smooth low-res view)."""
    _, h, w = kspace.shape
    rows, cols = (max(1, min(int(s), n)) for s, n in zip(calib_shape, (h, w)))
    real = kspace.real.dtype
    win_h = torch.hann_window(rows + 2, periodic=False, dtype=real, device=kspace.device)[1:-1]
    win_w = torch.hann_window(cols + 2, periodic=False, dtype=real, device=kspace.device)[1:-1]
    centre = torch.zeros_like(kspace)
    sl_h, sl_w = _centred(h, rows), _centred(w, cols)
    centre[:, sl_h, sl_w] = kspace[:, sl_h, sl_w] * (win_h[:, None] * win_w[None, :])
    return ifft2c(centre)


def absorb_background_phase(
    kspace: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor | np.ndarray | None = None
) -> torch.Tensor:
    """Coil maps that carry the image's smooth background phase, so that the SENSE image is nearly real.

    Coil maps are defined up to a smooth phase: ``y_c = F(S_c x) = F((S_c e^{iφ}) (x e^{-iφ}))``. ESPIRiT fixes it
    to the first coil's phase, which wraps several times across the field of view, while the networks are trained on
    images with a smooth phase of at most π. Taking φ as the phase of the SENSE image of the Hann-windowed fully
    sampled centre square (a low-resolution image) and returning ``S e^{iφ}`` moves that phase out of the image; data
    consistency with the returned maps is exactly as valid as with ``S``. Where the low-resolution image is below
    about 1e-3 of its peak (no signal) φ goes to the image's mean phase. With one coil and ``S = 1`` the result is
    the image's phase map.

    Args:
        kspace: centred multi-coil k-space (C, H, W), zero where not sampled.
        maps: coil maps (C, H, W).
        mask: sampling pattern (H, W) (default: the non-zero samples).

    Returns:
        complex maps (C, H, W) with the same magnitudes as ``maps``.
    """
    k = torch.as_tensor(kspace)
    s = torch.as_tensor(maps).to(k.dtype)
    pattern = sampling_mask_of(k) if mask is None else torch.as_tensor(mask).ne(0)
    square, _ = calibration_region(pattern.reshape(k.shape[-2:]))
    if square < 3:  # no low-resolution image: the image's magnitude-weighted mean phase only
        image = (s.conj() * ifft2c(k)).sum(0)
        mean = (image * image.abs()).sum()
        return s * (torch.sgn(mean) if bool(mean.abs() > 0) else 1.0)
    low = (s.conj() * lowres_coil_images(k, (square, square))).sum(0)
    # where there is no signal the phase is round-off or noise: a floor of 1e-3 of the peak along the image's mean
    # phase sets it to that mean there, whatever the data's scale and global phase, and leaves the object's phase
    phase = torch.sgn(low + 1e-3 * low.abs().max() * torch.sgn(low.sum()))
    return s * torch.where(phase.abs() > 0, phase, torch.ones_like(phase))[None]


def lowres_maps(kspace: torch.Tensor, calib_shape: Sequence[int], threshold: float = 0.05) -> torch.Tensor:
    """Low-resolution coil maps: coil images of the Hann-windowed calibration region, divided by their RSS.

    The simple estimate used when the calibration region is too small for ESPIRiT. Pixels whose low-resolution RSS is
    below ``threshold`` times its maximum (background) get zero maps, like ESPIRiT's crop.

    Args:
        kspace: centred multi-coil k-space, complex (C, H, W).
        calib_shape: (h, w) of the fully sampled centre to use.
        threshold: relative RSS level below which maps are set to zero.

    Returns:
        complex (C, H, W) maps with Σ_c |S_c|² = 1 inside the object.
    """
    images = lowres_coil_images(kspace, calib_shape)
    real = kspace.real.dtype
    rss = root_sum_of_squares(images, dim=0)
    support = rss > threshold * rss.max()
    return torch.where(support, images / rss.clamp_min(torch.finfo(real).tiny), torch.zeros_like(images))


def _sigpy_device(device: torch.device):
    import sigpy as sp

    if device.type == "cuda":
        try:
            import cupy  # noqa: F401

            return sp.Device(device.index or 0)
        except ImportError:
            pass
    return sp.Device(-1)


def espirit_maps(
    kspace: torch.Tensor | np.ndarray,
    calib_width: int = 24,
    thresh: float = 0.02,
    crop: float = 0.95,
    device: torch.device | str | None = None,
    mask: torch.Tensor | np.ndarray | None = None,
    kernel_width: int = 6,
    min_calib: int = 7,
    max_iter: int = 100,
) -> torch.Tensor:
    """ESPIRiT coil sensitivity maps through :class:`sigpy.mri.app.EspiritCalib`, with a low-resolution fallback.

    The fully sampled calibration region is detected from ``mask`` (default: where any coil has a non-zero sample),
    and ESPIRiT calibrates on the centred square of ``width = min(calib_width, detected width)`` with a kernel of
    ``min(kernel_width, (width - 1) // 2)``: a kernel wider than about half the calibration width leaves too few
    calibration rows, and ESPIRiT's eigenvalue crop then rejects almost every pixel (8-coil brain, 8 calibration
    lines: 0 % of the pixels kept with a 6x6 kernel, 76 % with 3x3). When the square is narrower than ``min_calib``
    (7: the 3x3 kernel's limit; with 5-6 lines ESPIRiT keeps < 25 % of the pixels), this warns and falls back to
    :func:`lowres_maps` on the whole fully sampled centre rectangle (e.g. all H rows x the centre columns of a 1-D
    mask).

    SigPy runs on the CPU (on the GPU when the target device is CUDA and CuPy is installed).

    Args:
        kspace: centred multi-coil k-space (C, H, W) or a batch (B, C, H, W), complex; zero-filled where not sampled.
        calib_width: the largest calibration width to use.
        thresh: ESPIRiT's threshold on the calibration matrix's singular values (relative).
        crop: ESPIRiT's eigenvalue threshold below which maps are set to zero.
        device: device of the returned maps (default: the input's device, CPU for numpy input).
        mask: sampling pattern (H, W) to detect the calibration region from (non-zero = sampled).
        kernel_width: the largest ESPIRiT kernel width.
        min_calib: narrowest calibration square that ESPIRiT is run on.
        max_iter: power iterations of ESPIRiT's eigen-decomposition.

    Returns:
        complex64 maps (C, H, W), or (B, C, H, W) for a batch, with Σ_c |S_c|² = 1 where non-zero.
    """
    k = tensor_input(kspace, "kspace")
    out_device = torch.device(device) if device is not None else k.device
    if not k.is_complex() or k.ndim not in (3, 4) or 0 in k.shape:
        raise MRIInputError(
            f"espirit_maps expects non-empty complex multi-coil k-space (C, H, W) or (B, C, H, W), got dtype "
            f"{k.dtype} and shape {tuple(k.shape)}; for single-coil data use SenseOperator.single_coil(mask)."
        )
    if not bool(torch.isfinite(k).all()):
        raise MRIInputError("espirit_maps: the k-space contains NaN or Inf values; clean the data first.")
    if k.ndim == 4:
        return torch.stack(
            [
                espirit_maps(kb, calib_width, thresh, crop, out_device, mask, kernel_width, min_calib, max_iter)
                for kb in k
            ]
        )
    k = k.to(torch.complex64)
    pattern = sampling_mask_of(k) if mask is None else torch.as_tensor(mask).ne(0)
    if pattern.shape[-2:] != k.shape[-2:] or pattern.reshape(-1, *k.shape[-2:]).shape[0] != 1:
        raise MRIInputError(
            f"espirit_maps: mask of shape {tuple(pattern.shape)} does not match the k-space grid "
            f"{tuple(k.shape[-2:])}; pass the (H, W) sampling mask of this k-space."
        )
    square, rect = calibration_region(pattern.reshape(k.shape[-2:]))
    width = min(int(calib_width), square)
    if width < min_calib:
        warnings.warn(
            f"espirit_maps: the fully sampled k-space centre is only {square}x{square} (rectangle "
            f"{rect[0]}x{rect[1]}), narrower than min_calib={min_calib} lines that ESPIRiT needs; falling back to "
            f"low-resolution maps (coil images of the Hann-windowed {rect[0]}x{rect[1]} centre divided by their "
            "RSS). Acquire (or keep) more calibration lines for ESPIRiT maps.",
            stacklevel=2,
        )
        return lowres_maps(k.to(out_device), rect)
    from sigpy.mri.app import EspiritCalib

    sp_device = _sigpy_device(out_device)
    ksp = k.detach().cpu().numpy()
    if sp_device.id >= 0:
        ksp = sp_device.xp.asarray(ksp)
    maps = EspiritCalib(
        ksp,
        calib_width=width,
        thresh=thresh,
        kernel_width=max(1, min(int(kernel_width), (width - 1) // 2)),
        crop=crop,
        max_iter=max_iter,
        device=sp_device,
        show_pbar=False,
    ).run()
    if sp_device.id >= 0:
        maps = maps.get()
    return torch.as_tensor(np.asarray(maps, dtype=np.complex64)).to(out_device)


def _batch_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Re⟨a, b⟩ per batch element (sum over all but the first dimension), real (B,)."""
    return (a.conj() * b).real.reshape(a.shape[0], -1).sum(dim=1)


def conjugate_gradient(
    normal_op: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor | None = None,
    iterations: int = 10,
    tol: float | None = None,
) -> torch.Tensor:
    """Batched conjugate gradient for N x = b with a Hermitian positive (semi-)definite N, on complex tensors.

    Each batch element has its own step sizes (MONAI's ``ConjugateGradient`` shares one over the whole batch, and
    divides by zero when started at the solution). An element whose residual has reached round-off,
    ||r|| <= 10 eps ||b|| (eps of the dtype), is frozen: on a nearly singular N (e.g. AᴴA + λI with a tiny λ)
    further steps would amplify the round-off along the near-null directions by 1/λ.

    Args:
        normal_op: x -> N x, batched over the first dimension (e.g. ``lambda x: A.normal(x) + lam * x``).
        rhs: b, shape (B, ...).
        x0: the starting point (warm start); zeros by default.
        iterations: number of CG iterations (one ``normal_op`` each; a warm start ``x0`` costs one more).
        tol: also freeze elements once ||b - N x|| <= tol ||b||, and stop when all are frozen (checking that
            synchronises a GPU each iteration); None runs all ``iterations``.

    Returns:
        x, shaped like ``rhs``.
    """
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    r = rhs - normal_op(x) if x0 is not None else rhs.clone()
    p = r.clone()
    rs = _batch_dot(r, r)
    shape = (-1, *([1] * (rhs.ndim - 1)))
    rel = 10 * torch.finfo(rs.dtype).eps if tol is None else max(float(tol), 10 * torch.finfo(rs.dtype).eps)
    floor = rel**2 * _batch_dot(rhs, rhs)
    zero = torch.zeros_like(rs)
    for _ in range(int(iterations)):
        active = rs > floor
        if tol is not None and not bool(active.any()):
            break
        q = normal_op(p)
        pq = _batch_dot(p, q)
        alpha = torch.where(active & (pq > 0), rs / pq.clamp_min(torch.finfo(pq.dtype).tiny), zero)
        x = x + alpha.reshape(shape) * p
        r = r - alpha.reshape(shape) * q
        rs_new = _batch_dot(r, r)
        beta = torch.where(active, rs_new / rs.clamp_min(torch.finfo(rs.dtype).tiny), zero)
        p = r + beta.reshape(shape) * p
        rs = torch.where(active, rs_new, rs)
    return x


def _as_mask4d(mask: torch.Tensor | np.ndarray) -> torch.Tensor:
    """(H, W) -> (1, 1, H, W); (B, H, W) -> (B, 1, H, W); (B, 1 | C, H, W) as is."""
    m = tensor_input(mask, "mask")
    if m.is_complex():
        raise MRIInputError(f"the sampling mask must be real (0/1 or weights), got dtype {m.dtype}.")
    if m.ndim >= 2 and (m.shape[-2] == 0 or m.shape[-1] == 0):
        raise MRIInputError(f"the sampling mask must have a non-empty (H, W) grid, got shape {tuple(m.shape)}.")
    if m.is_floating_point() and not bool(torch.isfinite(m).all()):
        raise MRIInputError(f"the sampling mask of shape {tuple(m.shape)} contains NaN or Inf; use 0/1 (or weights).")
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[:, None]
    elif m.ndim != 4:
        raise MRIInputError(
            f"the sampling mask must have shape (H, W), (B, H, W) or (B, 1 | C, H, W), got {tuple(m.shape)}."
        )
    return m if m.is_floating_point() else m.float()


class SenseOperator:
    """The SENSE forward model A = M F S and its adjoint, batched, on any device.

    * ``forward(x)``: x (B, H, W) complex image -> (B, C, H, W) k-space, ``M ⊙ fft2c(S_c ⊙ x)``;
    * ``adjoint(y)``: (B, C, H, W) -> (B, H, W), ``Σ_c conj(S_c) ⊙ ifft2c(M ⊙ y_c)``;
    * ``normal(x)``: AᴴA x.

    With ``maps=None`` (or :meth:`single_coil`) it is the single-coil model with S = 1 (C = 1), A = M F.

    Args:
        maps: coil maps, complex (C, H, W) or (B, C, H, W); None for single-coil.
        mask: sampling mask (real, 0/1 or weights), shape (H, W), (B, H, W), (B, 1, H, W) or per-coil (B, C, H, W).
    """

    def __init__(self, maps: torch.Tensor | None, mask: torch.Tensor | np.ndarray) -> None:
        self.mask = _as_mask4d(mask)
        if maps is None and self.mask.shape[1] != 1:
            raise MRIInputError(
                f"a per-coil mask {tuple(self.mask.shape)} needs coil maps; single-coil data (maps=None) takes an "
                "(H, W), (B, H, W) or (B, 1, H, W) mask."
            )
        if maps is not None:
            maps = tensor_input(maps, "maps")
            if not maps.is_complex() or maps.ndim not in (3, 4) or maps.shape[-3] == 0:
                raise MRIInputError(
                    f"coil maps must be complex (C, H, W) or (B, C, H, W) with C >= 1, got dtype {maps.dtype} and "
                    f"shape {tuple(maps.shape)}; use maps=None for single-coil data."
                )
            if not bool(torch.isfinite(maps).all()):
                raise MRIInputError(
                    f"coil maps of shape {tuple(maps.shape)} contain NaN or Inf values; re-estimate them "
                    "(espirit_maps) from finite k-space."
                )
            maps = maps[None] if maps.ndim == 3 else maps
            if self.mask.shape[0] != 1 and maps.shape[0] not in (1, self.mask.shape[0]):
                raise MRIInputError(
                    f"coil maps of shape {tuple(maps.shape)} and mask of shape {tuple(self.mask.shape)} disagree on "
                    "the batch size; give one of them per batch element, or share one (batch 1)."
                )
            if maps.shape[-2:] != self.mask.shape[-2:]:
                raise MRIInputError(
                    f"coil maps of shape {tuple(maps.shape)} and mask of shape {tuple(self.mask.shape)} disagree on "
                    "the (H, W) grid; compute maps and mask for the same k-space."
                )
            if self.mask.shape[1] not in (1, maps.shape[1]):
                raise MRIInputError(
                    f"a per-coil mask {tuple(self.mask.shape)} must have the {maps.shape[1]} coils of the maps."
                )
        self.maps = maps

    @classmethod
    def single_coil(cls, mask: torch.Tensor | np.ndarray) -> SenseOperator:
        """The single-coil operator A = M F (maps of ones, C = 1)."""
        return cls(None, mask)

    @property
    def num_coils(self) -> int:
        return 1 if self.maps is None else int(self.maps.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """The (H, W) grid."""
        return int(self.mask.shape[-2]), int(self.mask.shape[-1])

    def to(self, device: torch.device | str) -> SenseOperator:
        """This operator with its maps and mask on ``device``."""
        self.mask = self.mask.to(device)
        self.maps = None if self.maps is None else self.maps.to(device)
        self._shifted = None
        return self

    def _parts(self, like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        mask = self.mask.to(device=like.device, dtype=like.real.dtype)
        maps = None if self.maps is None else self.maps.to(device=like.device, dtype=like.dtype)
        return maps, mask

    def _check(self, x: torch.Tensor, ndim: int, name: str) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_complex() or x.ndim != ndim or x.shape[-2:] != self.shape:
            want = "(B, H, W)" if ndim == 3 else "(B, C, H, W)"
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise MRIInputError(
                f"SenseOperator.{name} expects a complex {want} tensor with (H, W) = {self.shape}, got {got}."
            )
        if ndim == 4 and x.shape[1] != self.num_coils:
            raise MRIInputError(
                f"SenseOperator.{name}: k-space has {x.shape[1]} coils but the maps have {self.num_coils}; use the "
                "maps of this acquisition (or SenseOperator.single_coil for C = 1)."
            )
        batches = {int(self.mask.shape[0]), 1 if self.maps is None else int(self.maps.shape[0])} - {1}
        if batches - {int(x.shape[0])}:
            raise MRIInputError(
                f"SenseOperator.{name}: the input has batch size {x.shape[0]} but the maps/mask have "
                f"{sorted(batches)}; give maps and mask of batch 1 (shared) or of the input's batch."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A x: complex image (B, H, W) -> masked k-space (B, C, H, W)."""
        self._check(x, 3, "forward")
        maps, mask = self._parts(x)
        coil_images = x[:, None] if maps is None else maps * x[:, None]
        return mask * fft2c(coil_images)

    __call__ = forward

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Aᴴ y: k-space (B, C, H, W) -> image (B, H, W)."""
        self._check(y, 4, "adjoint")
        maps, mask = self._parts(y)
        coil_images = ifft2c(mask * y)
        if maps is None:
            return coil_images.sum(dim=1)
        return (maps.conj() * coil_images).sum(dim=1)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """AᴴA x, shape (B, H, W).

        Same result as ``adjoint(forward(x))``, 2-4x faster:

        * no per-coil FFT shifts: with P = fftshift and P' = ifftshift, AᴴA x = P Σ_c (P' conj S_c) ⊙
          ifft((P' M²) ⊙ fft((P' S_c) ⊙ P' x)), so only the single-coil image is shifted (shifted maps and mask are
          cached);
        * for a mask of whole lines (constant along H or along W, e.g. :class:`.masks.CartesianMask`) the FFT along
          the fully sampled axis cancels with its inverse (it commutes with M), so 1-D FFTs along the undersampled
          axis suffice.
        """
        self._check(x, 3, "normal")
        maps, maps_conj, mask2, dims = self._shifted_parts(x)
        v = torch.fft.ifftshift(x, dim=dims)[:, None]
        if maps is not None:
            v = maps * v
        # the two orthonormal scalings combine into the inverse FFT's default 1/n; in-place products save allocations
        v = torch.fft.ifftn(torch.fft.fftn(v, dim=dims).mul_(mask2), dim=dims)
        v = v[:, 0] if maps_conj is None else v.mul_(maps_conj).sum(dim=1)  # Σ_c conj(S_c) v_c
        return torch.fft.fftshift(v, dim=dims)

    def _shifted_parts(
        self, like: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor, tuple[int, ...]]:
        """(P' S, conj(P' S), P' M², FFT dims) on ``like``'s device and dtype, cached."""
        key = (like.device, like.dtype)
        cache = getattr(self, "_shifted", None)
        if cache is None or cache[0] != key:
            maps, mask = self._parts(like)
            if bool((mask == mask[..., :1, :]).all()):
                dims: tuple[int, ...] = (-1,)  # whole columns: the mask varies along W only
            elif bool((mask == mask[..., :, :1]).all()):
                dims = (-2,)  # whole rows
            else:
                dims = (-2, -1)
            shifted = None if maps is None else torch.fft.ifftshift(maps, dim=dims)
            conj = None if shifted is None else shifted.conj().resolve_conj()
            cache = (key, shifted, conj, torch.fft.ifftshift(mask * mask, dim=dims), dims)
            self._shifted = cache
        return cache[1], cache[2], cache[3], cache[4]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(coils={self.num_coils}, shape={self.shape}, mask={tuple(self.mask.shape)})"
