# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Choose the MRI bundle's sampler and number of steps on validation data that no table reports.

Validation cases: axial slices of the MNI152 2009a T1 template shipped in nilearn (not a training volume, and not
one of ``benchmarks/mri_reconstruction.py``'s test cases), with simulated 8-coil and 1-coil k-space (smooth phase)
at 4x and 8x (fixed random masks, seed 0). Every sampler ("ode", "posterior", "sde") runs at several step counts
with data consistency, and the ODE also without. PSNR / SSIM as in the benchmark (least-squares scaled magnitude).

    python benchmarks/mri_sampler_sweep.py [--weights bundles/mri_reconstruction_d3gm/models/model.pt] [--tau 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from classical import metrics
from mri_reconstruction import BUNDLE, load_network

from monai_d3gm.apps.reconstruction.inference import demo_case
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.transforms import EstimateCoilMaps
from monai_d3gm.physics.fft import ifft2c
from monai_d3gm.physics.masks import CartesianMask
from monai_d3gm.physics.sense import root_sum_of_squares

from _common import print_table

SLICES = (110,)
STEPS = (1, 3, 5, 10, 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(BUNDLE / "models" / "model.pt"))
    parser.add_argument("--tau", type=float, default=2.0)
    parser.add_argument("--mu_iterations", type=int, default=0, help="μ's CG-SENSE iterations of --weights")
    args = parser.parse_args()
    net, inferer = load_network(Path(args.weights), tau=args.tau)
    estimate_maps = EstimateCoilMaps()
    configs = [("ode", "none")] + [(s, "hard") for s in ("ode", "posterior", "sde")]
    scores: dict[tuple, list] = {}
    for coils in (8, 1):
        for acc, cf in ((4, 0.08), (8, 0.04)):
            for z in SLICES:
                full = torch.as_tensor(demo_case(num_coils=coils, slice_index=z)["kspace"])
                ref = root_sum_of_squares(ifft2c(full), dim=0)
                ref = ref / ref.max()
                mask = CartesianMask("random", acc, cf, seed=0)(tuple(full.shape[-2:]))
                k = full * mask
                case = {"kspace": k.numpy(), "mask": mask.numpy()}
                if coils > 1:
                    case["maps"] = estimate_maps(k).numpy()
                for sampler, dc in configs:
                    for steps in STEPS:
                        rec = D3GMReconstructor(
                            net,
                            inferer,
                            data_consistency=dc,
                            num_inference_steps=steps,
                            sampler=sampler,
                            mu_iterations=args.mu_iterations,
                        )
                        x = rec(case)["reconstruction"]
                        scores.setdefault((f"{sampler}, DC {dc}", steps, f"{coils}-coil {acc}x"), []).append(
                            metrics(x, ref)
                        )
            print(f"done: {coils}-coil {acc}x", flush=True)
    columns = sorted({c for _, _, c in scores}, reverse=True)
    rows = []
    for sampler, dc in configs:
        for steps in STEPS:
            name = f"{sampler}, DC {dc}"
            cells = [np.mean(scores[(name, steps, c)], axis=0) for c in columns]
            rows.append([name, steps, *[f"{p:.2f} / {s:.3f}" for p, s in cells],
                         f"{np.mean([p for p, _ in cells]):.2f}"])  # fmt: skip
    print_table(f"validation (MNI152 slices {SLICES}), PSNR / SSIM", ["sampler", "steps", *columns, "mean PSNR"], rows)


if __name__ == "__main__":
    main()
