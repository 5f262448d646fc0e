# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Whole-volume MRI reconstruction: throughput (slices per second) and peak memory for batch sizes 1, 4, 8; memory
against the number of slices; and whether shared noise across slices (through-plane consistency) helps.

The volume is NiiVue's FLAIR (held out from training), 4x random Cartesian undersampling of simulated single-coil
k-space, the bundle's shipped weights and default sampler. Each throughput/memory cell runs in a fresh subprocess,
so its peak RSS (``ru_maxrss``) is its own; "peak growth" is the peak minus the RSS after the network and the volume
are loaded, i.e. the memory of the reconstruction itself. The rounds alternate the batch sizes and the fastest
round is kept (a shared, noisy machine).

Through-plane consistency compares "independent" and "shared" noise on the same slices: mean slice PSNR/SSIM, the
SSIM of the through-plane (sagittal) reformat, and the slice-to-slice flicker of the error,
mean |e(z+1) − e(z)| / mean |e(z)| with e = output − reference (lower is smoother along z).

    python benchmarks/mri_volume.py [--volume FLAIR.nii.gz] [--slices 54:70] [--rounds 2] [--json volume.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import environment, print_table, save_json

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "mri_reconstruction_d3gm"
DEFAULT_VOLUME = ROOT.parent / "shared" / "data" / "niivue-brain-t1-flair" / "FLAIR.nii.gz"


def reconstructor(**updates):
    import torch  # noqa: F401  (the config's expressions use it)
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(BUNDLE / "configs" / "inference.json")
    parser.update({"bundle_root": str(BUNDLE), "progress": False, "device": "$torch.device('cpu')", **updates})
    parser.get_parsed_content("initialize")
    return parser.get_parsed_content("reconstructor")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args) -> None:
    """One measured run (in its own process): prints a JSON line."""
    from monai_d3gm.apps.reconstruction.volume import VolumeReconstruction
    from monai_d3gm.io import MRIVolume
    from monai_d3gm.io.geometry import volume_slice_range

    recon = reconstructor(sampler=args.sampler, num_inference_steps=args.steps)
    volume = MRIVolume(args.volume)
    chosen = volume_slice_range(args.slices, len(volume))
    recon(volume[chosen[0]])  # warm-up (allocator, one slice)
    base = rss_mb()
    run = VolumeReconstruction(recon, batch_size=args.batch_size, noise=args.noise, progress=False)
    start = time.perf_counter()
    result = run(volume, chosen)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "slices": len(chosen), "base_mb": base, "peak_mb": rss_mb()}
    if args.arrays:
        np.savez(args.arrays, **{k: result[k] for k in ("magnitude", "zero_filled", "reference")})
    print("RESULT " + json.dumps(out), flush=True)


def measure(volume: Path, slices: str, batch_size: int, noise: str = "independent", sampler: str = "posterior",
            steps: int = 3, arrays: str | None = None) -> dict:  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", "--volume", str(volume), "--slices", slices,
           "--batch_size", str(batch_size), "--noise", noise, "--sampler", sampler, "--steps", str(steps)]  # fmt: skip
    if arrays:
        cmd += ["--arrays", arrays]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def consistency(arrays: str, key: str = "magnitude") -> dict[str, float]:
    import torch
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    data = np.load(arrays)
    out, ref = data[key], data["reference"]  # (S, H, W)
    scale = float(ref.max())
    a, b = torch.from_numpy(out / scale), torch.from_numpy(ref / scale)
    slice_psnr = float(np.mean([peak_signal_noise_ratio(x, y, data_range=1.0) for x, y in zip(a, b)]))
    slice_ssim = float(structural_similarity_index_measure(a[:, None], b[:, None], data_range=1.0))
    column = out.shape[2] // 2  # the sagittal reformat: slices x rows at the middle column
    reformat_ssim = float(
        structural_similarity_index_measure(a[None, None, :, :, column], b[None, None, :, :, column], data_range=1.0)
    )
    error = (out - ref) / scale
    flicker = float(np.abs(np.diff(error, axis=0)).mean() / max(np.abs(error).mean(), 1e-12))
    return {"psnr": slice_psnr, "ssim": slice_ssim, "reformat_ssim": reformat_ssim, "flicker": flicker}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=DEFAULT_VOLUME)
    parser.add_argument("--slices", default="54:70", help="start:stop slices (axial) of the volume")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch_size", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--noise", default="independent", help=argparse.SUPPRESS)
    parser.add_argument("--sampler", default="posterior", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--arrays", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.volume.exists():
        sys.exit(f"{args.volume} is missing: pass --volume with a NIfTI volume or DICOM series.")
    print(environment())
    report: dict = {"volume": str(args.volume), "slices": args.slices}

    best: dict[int, dict] = {}
    for _ in range(args.rounds):
        for b in args.batch_sizes:
            m = measure(args.volume, args.slices, b)
            if b not in best or m["seconds"] < best[b]["seconds"]:
                best[b] = m
    rows = [[b, m["slices"], round(m["seconds"], 2), round(m["slices"] / m["seconds"], 3),
             round(best[args.batch_sizes[0]]["seconds"] / m["seconds"], 2), round(m["peak_mb"]),
             round(m["peak_mb"] - m["base_mb"])] for b, m in best.items()]  # fmt: skip
    print_table(
        f"Throughput, {args.volume.name} slices {args.slices}, posterior sampler 3 steps, hard DC, CPU",
        ["batch", "slices", "seconds", "slices/s", "speed-up", "peak RSS MB", "peak growth MB"],
        rows,
    )
    report["throughput"] = {str(b): m for b, m in best.items()}

    start, stop = (int(x) for x in args.slices.split(":"))
    sizes = {n: f"{start}:{start + n}" for n in (4, 16) if start + n <= stop or n == 4}
    memory = {n: measure(args.volume, spec, 4) for n, spec in sizes.items()}
    print_table(
        "Peak memory against the number of slices (batch 4)",
        ["slices", "peak RSS MB", "peak growth MB"],
        [[n, round(m["peak_mb"]), round(m["peak_mb"] - m["base_mb"])] for n, m in memory.items()],
    )
    report["memory_vs_slices"] = {str(n): m for n, m in memory.items()}

    rows, study = [], {}
    tmp = Path("/tmp") if Path("/tmp").is_dir() else Path.cwd()
    for sampler, steps in (("posterior", 3), ("sde", 20)):
        for noise in ("independent", "shared"):
            arrays = str(tmp / f"mri_volume_{sampler}_{noise}.npz")
            measure(args.volume, args.slices, 8, noise=noise, sampler=sampler, steps=steps, arrays=arrays)
            if not rows:
                c = consistency(arrays, "zero_filled")
                study["zero-filled"] = c
                rows.append(["zero-filled", "-", round(c["psnr"], 2), round(c["ssim"], 4),
                             round(c["reformat_ssim"], 4), round(c["flicker"], 3)])  # fmt: skip
            c = consistency(arrays)
            study[f"{sampler}-{steps}/{noise}"] = c
            rows.append([f"{sampler} {steps}", noise, round(c["psnr"], 2), round(c["ssim"], 4),
                         round(c["reformat_ssim"], 4), round(c["flicker"], 3)])  # fmt: skip
    print_table(
        "Through-plane consistency: independent vs shared noise across slices",
        ["sampler", "noise", "slice PSNR", "slice SSIM", "reformat SSIM", "flicker"],
        rows,
    )
    report["through_plane"] = study
    save_json(args.json, report)


if __name__ == "__main__":
    main()
