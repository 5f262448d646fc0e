# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Choose the bundle's multi-coil data consistency (SENSE proximal weight λ and CG iterations) and sampler steps on the
validation people, never on benchmark cases.

The validation split's slices (``configs/data_split.json``) get simulated noisy 8-coil k-space (random loop coils,
0.8 % noise) and are reconstructed by the bundle's reconstructor at 4x and 8x, as during training's validation.

    python benchmarks/mri_dc_sweep.py [--weights model.pt] [--slices 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mri_reconstruction import BUNDLE, SEED, SHARED, SPLIT, load_network

from monai_d3gm.apps.reconstruction.dataset import split_volumes
from monai_d3gm.apps.reconstruction.validation import ReconstructionValidator, held_out_cases

from _common import print_table

SETTINGS = [(1.0, 5), (0.1, 5), (0.03, 10), (0.01, 10), (0.001, 10)]
SAMPLERS = [("posterior", 3), ("posterior", 1), ("ode", 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(BUNDLE / "models" / "model.pt"))
    parser.add_argument("--slices", type=int, default=1, help="slices per validation volume")
    parser.add_argument("--mu_iterations", type=int, default=0, help="μ's CG-SENSE iterations of --weights")
    args = parser.parse_args()
    net, inferer = load_network(Path(args.weights), tau=2.0)
    cases = held_out_cases(split_volumes(SPLIT, "validation", SHARED), args.slices, num_coils=(8,), seed=SEED)
    rows = []
    for lam, iterations in SETTINGS:
        for sampler, steps in SAMPLERS:
            validate = ReconstructionValidator(
                cases,
                inferer,
                sampler=sampler,
                num_inference_steps=steps,
                sense_lam=lam,
                sense_iterations=iterations,
                mu_iterations=args.mu_iterations,
            )
            m = validate(net)
            rows.append([lam, iterations, f"{sampler} {steps}", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}",
                         f"{m['zero_filled_psnr']:.2f}"])  # fmt: skip
            print(rows[-1], flush=True)
    print_table(
        f"validation people, simulated noisy 8-coil k-space, 4x and 8x ({len(cases)} slices)",
        ["SENSE λ", "CG iterations", "sampler", "PSNR", "SSIM", "zero-filled PSNR"],
        rows,
    )


if __name__ == "__main__":
    main()
