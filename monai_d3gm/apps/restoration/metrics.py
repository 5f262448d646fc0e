# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""IR-SDE's test protocol for photos: PSNR and SSIM on uint8 RGB, LPIPS (AlexNet) when its weights are available."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ...errors import D3GMInputError
from .io import to_uint8

__all__ = ["rgb_metrics", "lpips_status"]

_ALEXNET = "alexnet-owt-7be5be79.pth"


def lpips_status() -> str | None:
    """None when LPIPS (AlexNet) can run offline here; otherwise the reason it cannot."""
    if importlib.util.find_spec("torchvision") is None or importlib.util.find_spec("lpips") is None:
        return "LPIPS needs the lpips and torchvision packages (not installed)"
    cached = Path(torch.hub.get_dir()) / "checkpoints" / _ALEXNET
    if not cached.is_file():
        return f"LPIPS needs torchvision's AlexNet weights ({cached}), which are downloaded on first use; not present"
    return None


def _lpips(a: torch.Tensor, b: torch.Tensor) -> float:
    import lpips  # optional; lpips_status() checked it and its weights

    net = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        return float(net(a * 2 - 1, b * 2 - 1).mean())


def rgb_metrics(image, reference) -> dict[str, float | None]:
    """PSNR (dB) and SSIM of two ``(3, H, W)`` images in [0, 1] after uint8 quantisation (data range 255), and LPIPS
    (None when unavailable, see :func:`lpips_status`)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    a = torch.from_numpy(to_uint8(np.asarray(image)).astype(np.float32)).permute(2, 0, 1)[None]
    b = torch.from_numpy(to_uint8(np.asarray(reference)).astype(np.float32)).permute(2, 0, 1)[None]
    if a.shape != b.shape:
        raise D3GMInputError(f"image {tuple(a.shape[1:])} and reference {tuple(b.shape[1:])} differ in size.")
    out: dict[str, float | None] = {
        "psnr": float(peak_signal_noise_ratio(a, b, data_range=255.0)),
        "ssim": float(structural_similarity_index_measure(a, b, data_range=255.0)),
        "lpips": None,
    }
    if lpips_status() is None:
        out["lpips"] = _lpips(a / 255.0, b / 255.0)
    return out
