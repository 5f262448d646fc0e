# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Classical multi-coil MRI reconstruction baselines on real data, and the cost of one data-consistency step.

Table 1, on the real 8-coil brain (``../shared/data/espirit-brain-8ch-kspace/full.cfl``, 230x180, fully sampled),
retrospectively undersampled along W (``direction="phase"``, whole columns) with fixed fastMRI-style random masks
(4x with centre fraction 0.08, 8x with 0.04, seed 0):

* zero-filled: RSS of the zero-filled coil images;
* SENSE: CG on the normal equations (AᴴA + λI) x = Aᴴy from x = 0, λ = 1e-3, 10 iterations (early stopping
  regularises: more iterations amplify noise at these accelerations), ESPIRiT maps calibrated on the undersampled
  data's own fully sampled centre (``espirit_maps``);
* L1-wavelet: ``sigpy.mri.app.L1WaveletRecon`` with the same maps, λ = 0.005 on k-space normalised so that the
  zero-filled RSS image has maximum 1;
* BART ``pics -S -l1 -r 0.005`` with the same maps and normalised k-space, when ``bart`` is on PATH.

Metrics: PSNR and SSIM (torchmetrics, data_range 1) of the magnitude over the whole image. The reference is the RSS
image of the fully sampled k-space divided by its maximum; each reconstruction's magnitude is scaled onto it by the
least-squares factor s = ⟨|x|, ref⟩ / ⟨|x|, |x|⟩ (reconstructions differ in global scale: RSS vs SENSE combination,
BART's -S). Seconds: wall time of the reconstruction (the ESPIRiT time is in the notes).

Table 2: the cost of one data-consistency call at 320x320, batch 1 (HardDataConsistency single-coil, and
SenseDataConsistency 8-coil with its default 5 CG iterations, both at t > 0 so with the SDE-matched noise), as a
fraction of one forward of ``ScoreUNet(image_channels=2, channels=(32, 64, 64))`` (target <= 10 %).

    python benchmarks/classical.py            # full
    python benchmarks/classical.py --quick    # fewer iterations / repeats
    python benchmarks/classical.py --json out.json
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from monai_d3gm.inferers import network_input
from monai_d3gm.io.bart import kspace_from_cfl, read_cfl, write_cfl
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler
from monai_d3gm.physics.consistency import HardDataConsistency, SenseDataConsistency
from monai_d3gm.physics.fft import complex_to_channels, fft2c, ifft2c
from monai_d3gm.physics.masks import CartesianMask, acceleration_of
from monai_d3gm.physics.sense import (
    SenseOperator,
    calibration_region,
    conjugate_gradient,
    espirit_maps,
    root_sum_of_squares,
)

from _common import environment, interleaved_medians, print_table, save_json

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "espirit-brain-8ch-kspace" / "full"
PROTOCOLS = [(4, 0.08), (8, 0.04)]
SEED = 0
SENSE_LAM, SENSE_ITERS = 1e-3, 10
L1_LAMDA = 0.005


def metrics(image: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """PSNR / SSIM of |image| against ``ref`` (max 1) after the least-squares scale."""
    mag = image.abs().float()
    mag = mag * (mag * ref).sum() / (mag * mag).sum().clamp_min(1e-12)
    a, b = mag[None, None], ref[None, None]
    psnr = float(peak_signal_noise_ratio(a, b, data_range=1.0))
    ssim = float(structural_similarity_index_measure(a, b, data_range=1.0))
    return psnr, ssim


def foreground_ssim(image: torch.Tensor, ref: torch.Tensor, threshold: float = 0.1, dilate: int = 5) -> float:
    """SSIM inside the anatomy: the mean of the SSIM map over ``ref > threshold * max``, dilated by ``dilate`` pixels
    (the whole-image SSIM is dominated by how a method treats the background's noise floor)."""
    mag = image.abs().float()
    mag = mag * (mag * ref).sum() / (mag * mag).sum().clamp_min(1e-12)
    _, full = structural_similarity_index_measure(mag[None, None], ref[None, None], data_range=1.0,
                                                  return_full_image=True)  # fmt: skip
    inside = (ref > threshold * ref.max()).float()[None, None]
    inside = torch.nn.functional.max_pool2d(inside, 2 * dilate + 1, stride=1, padding=dilate)[0, 0] > 0
    return float(full[0, 0][inside].mean())


def bart_pics(kspace: np.ndarray, maps: np.ndarray, iters: int) -> np.ndarray:
    """``bart pics -S -l1 -r L1_LAMDA``: k-space (C, H, W), maps (C, H, W) -> image (H, W)."""
    with tempfile.TemporaryDirectory() as tmp:
        ksp, mps, out = (str(Path(tmp) / n) for n in ("ksp", "maps", "out"))
        write_cfl(ksp, np.moveaxis(kspace, 0, -1)[None])  # BART dims [1, H, W, C]
        write_cfl(mps, np.moveaxis(maps, 0, -1)[None])
        cmd = ["bart", "pics", "-S", "-l1", "-r", str(L1_LAMDA), "-i", str(iters), ksp, mps, out]
        subprocess.run(cmd, check=True, capture_output=True)
        return read_cfl(out).reshape(kspace.shape[-2:])


def reconstruction_table(quick: bool) -> list[list[object]]:
    full = torch.as_tensor(kspace_from_cfl(DATA))
    ref = root_sum_of_squares(ifft2c(full), dim=0)
    ref = ref / ref.max()
    shape = tuple(full.shape[-2:])
    l1_iters = 30 if quick else 100
    has_bart = shutil.which("bart") is not None
    rows: list[list[object]] = []
    for acc, cf in PROTOCOLS:
        mask = CartesianMask("random", acc, cf, direction="phase", seed=SEED)(shape)
        kspace = full * mask
        zero_filled = ifft2c(kspace)
        kspace = kspace / root_sum_of_squares(zero_filled, dim=0).max()  # zero-filled RSS max = 1
        label = f"{acc}x (R={acceleration_of(mask):.2f})"

        start = time.perf_counter()
        zf = root_sum_of_squares(ifft2c(kspace), dim=0)
        rows.append(["zero-filled", label, *metrics(zf, ref), time.perf_counter() - start, "RSS"])

        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            maps = espirit_maps(kspace)
        maps_s = time.perf_counter() - start
        square = calibration_region(mask)[0]
        maps_note = f"{'low-res fallback' if caught else 'ESPIRiT'} maps, calib {square} ({maps_s:.1f} s)"

        start = time.perf_counter()
        op = SenseOperator(maps, mask)
        x = conjugate_gradient(
            lambda v, op=op: op.normal(v) + SENSE_LAM * v, op.adjoint(kspace[None]), iterations=SENSE_ITERS
        )[0]
        rows.append(["SENSE (CG)", label, *metrics(x, ref), time.perf_counter() - start, maps_note])

        from sigpy.mri.app import L1WaveletRecon

        start = time.perf_counter()
        x = L1WaveletRecon(kspace.numpy(), maps.numpy(), lamda=L1_LAMDA, max_iter=l1_iters, show_pbar=False).run()
        x = torch.as_tensor(np.asarray(x))
        rows.append(["sigpy L1-wavelet", label, *metrics(x, ref), time.perf_counter() - start, f"{l1_iters} iter"])

        if has_bart:
            start = time.perf_counter()
            x = torch.as_tensor(bart_pics(kspace.numpy(), maps.numpy(), l1_iters))
            rows.append(["BART pics -l1", label, *metrics(x, ref), time.perf_counter() - start, f"{l1_iters} iter"])
        else:
            rows.append(["BART pics -l1", label, "-", "-", "-", "skipped: bart not installed"])
    return rows


def dc_cost_table(quick: bool, device: torch.device) -> tuple[list[list[object]], dict[str, float]]:
    size, coils = 320, 8
    torch.manual_seed(0)
    net = ScoreUNet(image_channels=2, channels=(32, 64, 64)).to(device).eval()
    mask = CartesianMask("random", 8, 0.04, seed=SEED)((size, size)).to(device)
    image = torch.randn(1, size, size, dtype=torch.complex64, device=device)
    sens = torch.randn(coils, size, size, dtype=torch.complex64, device=device)
    maps = sens / root_sum_of_squares(sens, dim=0)
    std = float(D3GMScheduler().marginal_std(50))  # the noise level data consistency gets at t = 50
    gen = torch.Generator(device=device).manual_seed(0)
    hard = HardDataConsistency(fft2c(image) * mask, mask, generator=gen)
    sense = SenseDataConsistency(SenseOperator(maps, mask)(image), mask, maps, generator=gen)
    sample = complex_to_channels(image[:, None])
    x_in = network_input(sample, sample)
    t = torch.full((1,), 50, dtype=torch.long, device=device)
    fns = {
        "ScoreUNet forward": lambda: net(x_in, t),
        "HardDataConsistency (1 coil)": lambda: hard(sample, 50, std),
        f"SenseDataConsistency ({coils} coils, {sense.iterations} CG)": lambda: sense(sample, 50, std),
    }
    with torch.no_grad():
        interleaved_medians(fns, 1, device)  # warm-up
        medians = interleaved_medians(fns, 3 if quick else 10, device)
    base = medians["ScoreUNet forward"]
    rows = [[name, 1000 * sec, sec / base] for name, sec in medians.items()]
    return rows, medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    parser.add_argument("--json", type=str, default=None, help="also save the results here")
    parser.add_argument("--device", type=str, default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(environment())
    payload: dict[str, object] = {"environment": environment(), "quick": args.quick}

    if not DATA.with_suffix(".cfl").exists():
        print(f"skipped the reconstruction table: real data {DATA}.cfl is absent (../shared/data beside the repo)")
    else:
        rows = reconstruction_table(args.quick)
        header = ["method", "acceleration", "PSNR dB", "SSIM", "seconds", "notes"]
        print_table(
            f"Classical reconstruction, real 8-coil brain 230x180, random 1-D masks along W (seed {SEED}); magnitude "
            "vs fully sampled RSS, least-squares scaled",
            header,
            rows,
        )
        payload["reconstruction"] = [dict(zip(header, r)) for r in rows]

    rows, medians = dc_cost_table(args.quick, device)
    print_table(
        f"Data-consistency cost per call at 320x320, batch 1, t > 0 ({device.type}); fraction of one "
        "ScoreUNet(2ch, (32,64,64)) forward (target <= 0.10)",
        ["step", "ms", "fraction of forward"],
        rows,
    )
    payload["dc_cost_seconds"] = medians
    save_json(args.json, payload)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
