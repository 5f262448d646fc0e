# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""MRI reconstruction benchmark: D³GM against classical and learned baselines on held-out real data.

Cases (no person of them is in the bundle's training split, ``configs/data_split.json``):

* **8-coil brain**: the real fully sampled 8-coil k-space of ``espirit-brain-8ch-kspace/full`` (230x180),
  undersampled along W with fixed fastMRI-style random masks (4x with centre fraction 0.08, 8x with 0.04, seed 0).
  Reference: RSS of the fully sampled coil images. Coil maps: ESPIRiT on the undersampled data's own calibration
  centre (with the background phase absorbed), shared by every method that uses maps; their time is counted in each
  such method's seconds.
* **1-coil FLAIR**: ``--slices`` axial slices of the held-out real FLAIR volume (``niivue-brain-t1-flair``),
  each scaled to its 99.8th percentile, with a smooth random phase (seeded) and single-coil k-space, same masks.
  Reference: the magnitude image. (Its person, cstar-01, is in the split's benchmark part.)
* **8-coil unseen scanners (sim.)** (``--sets unseen-scanner``): one central slice each of TCGA-FG-6692 T1 and T2
  (Siemens clinical 2-D) and of the Utah T1 with skull, sites nothing in training shares; 8 random loop coils, smooth
  phase and complex noise at the real 8-coil scan's level (0.8 % of the image maximum per real part), the training
  simulation with fixed seeds. Reference: the RSS of the noisy fully sampled coil images.
* **1-coil spine+knee (sim.)** (``--sets non-brain``): spine people IVD-25, VB2-12, VB1-12 and the OsiriX knee, single
  coil, same phase and noise; beside it the NEMA WG04 shoulder (``1-coil shoulder (sim.)``, a person in no split,
  block-averaged to 256²).

Methods: zero-filled (RSS), SENSE (CG, 10 iterations, λ 1e-3; multi-coil only), sigpy L1-wavelet (λ 0.005, 100
iterations), BART ``pics -l1`` (when installed; on multi-coil cases also with the bundle's coil combination: the RSS
of its coil images with the measured samples put back, so that the comparison with D³GM's default is like for like),
MONAI's e2e-VarNet trained on the same data for the same wall-clock
budget (``benchmarks/train_varnet.py``; the shipped ``benchmarks/models/varnet.pt`` predates the person-level split
and was trained on the bundle's former two volumes), IR-SDE (τ = 1, same network: ``--irsde``, skipped when its
weights do not fit the bundle's network) and D³GM (τ = 2, the bundle's weights) without and with data consistency,
at 20, 10 and 1 ODE steps and with the bundle's default sampler (posterior, 3 steps). Multi-coil D³GM and IR-SDE rows
are the coil-combined SENSE images, except the bundle default's row, which uses the bundle's coil combination
(``coil_combination`` of ``inference.json``); a SENSE-combined row of the default stands beside it.

Metrics: PSNR/SSIM (torchmetrics, data range 1) of the magnitude after the least-squares scale onto the reference
(max 1), and SSIM inside the anatomy (the SSIM map's mean over the reference above 10 % of its maximum, dilated by 5
pixels); numbers of several slices are means. Seconds: wall time per slice on this machine.

    python benchmarks/mri_reconstruction.py                   # the full table (~25 min on 2 CPU cores)
    python benchmarks/mri_reconstruction.py --quick           # 1 FLAIR slice, fewer iterations
    python benchmarks/mri_reconstruction.py --json out.json --figure out.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from classical import L1_LAMDA, SENSE_ITERS, SENSE_LAM, bart_pics, foreground_ssim, metrics
from train_varnet import build_varnet, varnet_inputs

from monai_d3gm.apps.reconstruction.dataset import split_volumes, volume_slices
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.transforms import EstimateCoilMaps, SimulateKspace
from monai_d3gm.apps.reconstruction.validation import held_out_cases, simulated_kspace
from monai_d3gm.io import read_dicom_series
from monai_d3gm.io.bart import kspace_from_cfl
from monai_d3gm.physics.fft import fft2c, ifft2c
from monai_d3gm.physics.masks import CartesianMask
from monai_d3gm.physics.sense import (
    SenseOperator,
    conjugate_gradient,
    consistent_coil_rss,
    root_sum_of_squares,
)
from monai_d3gm.visualize import save_comparison

from _common import environment, load_bundle_network, print_table, save_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BUNDLE = ROOT / "bundles" / "mri_reconstruction_d3gm"
SPLIT = BUNDLE / "configs" / "data_split.json"
SETS = ("brain", "unseen-scanner", "non-brain")
PROTOCOLS = [(4, 0.08), (8, 0.04)]
SEED = 0
DEFAULT = "D³GM + DC, posterior 3 steps (bundle default)"
FIGURE = ("zero-filled", "sigpy L1-wavelet", "BART pics -l1", "MONAI e2e-VarNet", "IR-SDE (τ=1) + DC, ODE 1 step",
          DEFAULT)  # fmt: skip


def simulated_cases(
    name: str, persons: list[str], per_volume: int, num_coils: int
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Noisy k-space simulated from benchmark-split volumes of ``persons`` (``configs/data_split.json``) with the
    training transforms: random loop coils, smooth phase, complex noise at the real 8-coil scan's level (0.8 % of the
    image maximum per real part). Reference: the RSS of the fully sampled noisy coil images, as for a real scan."""
    volumes = [v for v in split_volumes(SPLIT, "benchmark", SHARED) if v["person"] in persons]
    out = []
    for case in held_out_cases(volumes, per_volume, num_coils=(num_coils,), relative_std=0.008, seed=SEED):
        full = case["kspace"]
        rss = root_sum_of_squares(ifft2c(full), dim=0)
        out.append((name, full / rss.max(), rss / rss.max()))
    return out


def shoulder_case() -> tuple[str, torch.Tensor, torch.Tensor]:
    """The NEMA WG04 shoulder (1.5 T Philips, T1 SE, one 1024² DICOM file without a suffix; in no split, never
    trained on), block-averaged 4x4 to 256² (0.78 mm), single coil, with the same phase and noise simulation."""
    series = read_dicom_series([SHARED / "nonbrain-mr" / "shoulder-nema-wg04" / "MR2_UNCR"])
    image = torch.nn.functional.avg_pool2d(torch.as_tensor(series.volume[:1]), 4)[0].numpy()
    image = np.clip(image / np.percentile(image, 99.8), 0, None)
    full = simulated_kspace(image, num_coils=1, relative_std=0.008, seed=SEED + 100)  # draws of its own
    rss = root_sum_of_squares(ifft2c(full), dim=0)
    return "1-coil shoulder (sim.)", full / rss.max(), rss / rss.max()


def cases(num_flair: int, sets: list[str]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(dataset name, fully sampled k-space (C, H, W), reference magnitude (max 1))."""
    out = []
    if "unseen-scanner" in sets:  # TCGA (Siemens clinical 2-D, T1 and T2) and Utah: sites nothing in training shares
        out += simulated_cases("8-coil unseen scanners (sim.)", ["TCGA-FG-6692", "utah-01"], 1, 8)
    if "non-brain" in sets:  # spine people and the knee, kept out of training
        out += simulated_cases("1-coil spine+knee (sim.)", ["IVD-25", "VB2-12", "VB1-12", "OsiriX-KNEE"], 1, 1)
        out.append(shoulder_case())
    if "brain" not in sets:
        return out
    full = torch.as_tensor(kspace_from_cfl(SHARED / "espirit-brain-8ch-kspace" / "full"))
    rss = root_sum_of_squares(ifft2c(full), dim=0)
    out = [("8-coil brain", full / rss.max(), rss / rss.max()), *out]
    slices = volume_slices(SHARED / "niivue-brain-t1-flair" / "FLAIR.nii.gz")
    picks = np.linspace(0, len(slices) - 1, num_flair + 2).round().astype(int)[1:-1]
    sim = SimulateKspace(num_coils=1, phase="smooth")
    sim.set_random_state(SEED)
    for i in picks:
        image = np.ascontiguousarray(slices[i])
        k, _ = sim(image)
        out.append(("1-coil FLAIR", k, torch.as_tensor(image)))
    return out


def bundle_dc() -> dict[str, float | str]:
    """The multi-coil settings of the bundle's inference.json: sense_lam, sense_iterations, coil_combination and how μ
    is built (mu_iterations)."""
    import json

    config = json.loads((BUNDLE / "configs" / "inference.json").read_text())
    keys = ("sense_lam", "sense_iterations", "coil_combination", "mu_iterations")
    return {key: config[key] for key in keys if key in config}


def rss_of_consistent_coils(image: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor):
    """A coil-combined image (H, W) as the RSS of its coil images with the measured samples put back, the bundle's
    ``coil_combination="rss"``, for classical methods; a complex scale fitted on the measured samples first takes
    out another program's FFT and scaling conventions (BART's centred FFT flips the sign on some grids)."""
    predicted = fft2c(maps * image)
    sampled = mask.bool().expand_as(kspace)
    scale = (predicted[sampled].conj() * kspace[sampled]).sum() / (predicted[sampled].abs() ** 2).sum()
    return consistent_coil_rss(scale * image, maps, kspace, mask)


def load_network(weights: Path, tau: float) -> tuple[torch.nn.Module, object]:
    return load_bundle_network(BUNDLE, weights, tau=tau)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=4, help="held-out FLAIR slices")
    parser.add_argument("--quick", action="store_true", help="1 FLAIR slice, 30 L1 iterations")
    parser.add_argument("--d3gm", default=str(BUNDLE / "models" / "model.pt"))
    parser.add_argument(
        "--mu_iterations",
        type=int,
        default=None,
        help="CG-SENSE iterations of μ that the --d3gm weights trained with (default: inference.json's)",
    )
    parser.add_argument("--irsde", default=str(ROOT / "benchmarks" / "models" / "irsde.pt"))
    parser.add_argument("--varnet", default=str(ROOT / "benchmarks" / "models" / "varnet.pt"))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS, help="which case sets to run")
    parser.add_argument(
        "--methods", default=None, help="run only methods whose name contains one of these words, comma-separated"
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--figure", default=None, help="PNG of every method on the 8-coil brain at 4x")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the benchmark needs the real data in {SHARED}")
    torch.manual_seed(SEED)
    l1_iters = 30 if args.quick else 100
    data = cases(1 if args.quick else args.slices, args.sets)

    d3gm, d3gm_inferer = load_network(Path(args.d3gm), tau=2.0)
    mu_iterations = bundle_dc().get("mu_iterations", 0) if args.mu_iterations is None else args.mu_iterations
    learned: dict[str, tuple] = {"D³GM": (d3gm, d3gm_inferer, mu_iterations)}
    if Path(args.irsde).is_file():
        try:  # trained at equal budget with the SENSE adjoint as μ
            learned["IR-SDE (τ=1)"] = (*load_network(Path(args.irsde), tau=1.0), 0)
        except RuntimeError as e:  # weights of another architecture than the bundle's network
            print(f"IR-SDE row skipped: {args.irsde} does not fit the bundle's network ({str(e).splitlines()[0]})")
    varnet = None
    if Path(args.varnet).is_file():
        varnet = build_varnet()
        varnet.load_state_dict(torch.load(args.varnet, map_location="cpu", weights_only=True))
        varnet.eval()

    def diffusion(name: str, dc: str, steps: int, sampler: str = "ode", **settings) -> Callable:
        """A diffusion row; the coil-combined SENSE image unless ``settings`` say otherwise (the bundle default's
        row passes the bundle's combination)."""
        net, inferer, mu_iterations = learned[name]
        settings = {"coil_combination": "sense", **settings, "mu_iterations": mu_iterations}
        rec = D3GMReconstructor(
            net,
            inferer,
            mask=None,
            data_consistency=dc,
            num_inference_steps=steps,
            sampler=sampler,
            seed=SEED,
            **{**bundle_dc(), **settings},
        )

        def run(kspace, mask, maps):
            case = {"kspace": kspace.numpy(), "mask": mask.numpy(), "maps": maps.numpy()}
            return rec(case)["reconstruction"]

        return run

    def zero_filled(kspace, mask, maps):
        return root_sum_of_squares(ifft2c(kspace), dim=0)

    def sense(kspace, mask, maps):
        if kspace.shape[0] == 1:
            return None
        op = SenseOperator(maps, mask)
        normal = lambda v: op.normal(v) + SENSE_LAM * v  # noqa: E731
        return conjugate_gradient(normal, op.adjoint(kspace[None]), iterations=SENSE_ITERS)[0]

    def l1_wavelet(kspace, mask, maps):
        from sigpy.mri.app import L1WaveletRecon

        app = L1WaveletRecon(kspace.numpy(), maps.numpy(), lamda=L1_LAMDA, max_iter=l1_iters, show_pbar=False)
        return torch.as_tensor(np.asarray(app.run()))

    def bart(kspace, mask, maps):
        return torch.as_tensor(bart_pics(kspace.numpy(), maps.numpy(), l1_iters))

    def bart_rss(kspace, mask, maps):  # BART runs again, so that the row's seconds are its own
        if kspace.shape[0] == 1:
            return None
        return rss_of_consistent_coils(bart(kspace, mask, maps), kspace, mask, maps)

    @torch.no_grad()
    def run_varnet(kspace, mask, maps):
        k, m = varnet_inputs(kspace[None], mask[0])
        return varnet(k, m)[0]

    methods: dict[str, tuple[Callable, bool]] = {  # name -> (function, uses coil maps)
        "zero-filled": (zero_filled, False),
        "SENSE (CG)": (sense, True),
        "sigpy L1-wavelet": (l1_wavelet, True),
    }
    if shutil.which("bart"):
        methods["BART pics -l1"] = (bart, True)
        methods["BART pics -l1, RSS of consistent coils"] = (bart_rss, True)
    if varnet is not None:
        methods["MONAI e2e-VarNet"] = (run_varnet, False)
    if "IR-SDE (τ=1)" in learned:
        methods["IR-SDE (τ=1) + DC, ODE 1 step"] = (diffusion("IR-SDE (τ=1)", "hard", 1), True)
        methods["IR-SDE (τ=1) + DC, posterior 3 steps"] = (diffusion("IR-SDE (τ=1)", "hard", 3, "posterior"), True)
        methods["IR-SDE (τ=1) + DC, ODE 20 steps"] = (diffusion("IR-SDE (τ=1)", "hard", 20), True)
    methods["D³GM, no DC, ODE 20 steps"] = (diffusion("D³GM", "none", 20), True)
    methods["D³GM, no DC, ODE 1 step"] = (diffusion("D³GM", "none", 1), True)
    methods["D³GM + DC, ODE 20 steps"] = (diffusion("D³GM", "hard", 20), True)
    methods["D³GM + DC, ODE 10 steps"] = (diffusion("D³GM", "hard", 10), True)
    methods["D³GM + DC, ODE 1 step"] = (diffusion("D³GM", "hard", 1), True)
    methods["D³GM + DC, posterior 3 steps, SENSE combination"] = (
        diffusion("D³GM", "hard", 3, "posterior", coil_combination="sense"),
        True,
    )
    methods["D³GM + DC, posterior 3 steps (bundle default)"] = (
        diffusion("D³GM", "hard", 3, "posterior", coil_combination=bundle_dc().get("coil_combination", "sense")),
        True,
    )

    if args.methods:
        words: list[str] = []  # comma-separated, but names hold commas too ("D³GM + DC, ODE 1 step"): rejoin those
        for word in args.methods.split(","):
            if words and any(f"{words[-1]},{word}" in name for name in methods):
                words[-1] = f"{words[-1]},{word}"
            else:
                words.append(word)
        words = [w.strip() for w in words]
        methods = {n: m for n, m in methods.items() if n == "zero-filled" or any(w in n for w in words)}
    estimate_maps = EstimateCoilMaps()
    results: dict[str, dict[str, list]] = {m: {} for m in methods}
    panels: dict[str, torch.Tensor] = {}
    columns: list[str] = []
    for acc, cf in PROTOCOLS:
        for dataset, full, ref in data:
            column = f"{dataset} {acc}x"
            if column not in columns:
                columns.append(column)
            mask = CartesianMask("random", acc, cf, direction="phase", seed=SEED)(tuple(full.shape[-2:]))
            kspace = full * mask
            kspace = kspace / root_sum_of_squares(ifft2c(kspace), dim=0).max()  # zero-filled max = 1
            start = time.perf_counter()
            maps = estimate_maps(kspace) if kspace.shape[0] > 1 else None
            maps_s = time.perf_counter() - start
            for name, (fn, uses_maps) in methods.items():
                start = time.perf_counter()
                x = fn(kspace, mask, maps if maps is not None else torch.ones_like(kspace))
                seconds = time.perf_counter() - start + (maps_s if uses_maps else 0.0)
                if x is None:
                    continue
                results[name].setdefault(column, []).append((*metrics(x, ref), seconds, foreground_ssim(x, ref)))
                if dataset == "8-coil brain" and acc == 4 and name in FIGURE:
                    panels[name] = x.abs() * (x.abs() * ref).sum() / (x.abs() ** 2).sum()
            print(f"done: {column}", flush=True)
            if dataset == "8-coil brain" and acc == 4:
                panels["reference"] = ref

    header = ["method", *[f"{c} PSNR / SSIM (SSIM in anatomy)" for c in columns], "s / slice"]
    rows, payload = [], {"environment": environment(), "columns": columns, "results": {}}
    for name, per_column in results.items():
        row, seconds = [name], []
        for c in columns:
            values = per_column.get(c)
            if not values:
                row.append("-")
                continue
            psnr, ssim = float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))
            ssim_fg = float(np.mean([v[3] for v in values]))
            seconds += [v[2] for v in values]
            row.append(f"{psnr:.2f} / {ssim:.3f} ({ssim_fg:.3f})")
            payload["results"].setdefault(name, {})[c] = {"psnr": psnr, "ssim": ssim, "ssim_foreground": ssim_fg,
                                                          "n": len(values)}  # fmt: skip
        row.append(f"{np.mean(seconds):.1f}")
        rows.append(row)
    print_table(f"MRI reconstruction on held-out real data ({environment()})", header, rows)
    save_json(args.json, payload)
    if args.figure:
        ordered = {"reference": panels.pop("reference"), **panels}
        save_comparison(args.figure, ordered, output_key=DEFAULT, error_gain=5.0,
                        title="real 8-coil brain, 4x")  # fmt: skip
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
