# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Does the single-coil result depend on the acquisition's phase? D³GM over zero-filling for random phase draws.

The spine and knee benchmark people (IVD-25, VB2-12, VB1-12, the OsiriX knee; ``configs/data_split.json``), one central
slice each, are simulated as single-coil k-space ``--draws`` times with the training simulation (smooth phase, random
global phase, complex noise at 0.8 % of the image maximum; draw k uses seed k), undersampled with the benchmark's
fixed masks (4x with centre 0.08, 8x with 0.04) and reconstructed with the bundle's weights and default sampler, with
the single-coil phase map (``EstimateCoilMaps``, bundle 0.4.1) and without it (the map of ones, as up to 0.4.0).

    python benchmarks/mri_phase_robustness.py [--draws 4]
"""

from __future__ import annotations

import argparse

import numpy as np
from classical import metrics
from mri_reconstruction import BUNDLE, PROTOCOLS, SHARED, SPLIT, bundle_dc, load_network

from monai_d3gm.apps.reconstruction.dataset import split_volumes, volume_slices
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.transforms import CoilMapsd, EstimateCoilMaps
from monai_d3gm.apps.reconstruction.validation import simulated_kspace
from monai_d3gm.physics.fft import ifft2c
from monai_d3gm.physics.masks import CartesianMask
from monai_d3gm.physics.sense import root_sum_of_squares

from _common import environment, print_table

PERSONS = ["IVD-25", "VB2-12", "VB1-12", "OsiriX-KNEE"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=4, help="phase draws per person")
    args = parser.parse_args()
    network, inferer = load_network(BUNDLE / "models" / "model.pt", tau=2.0)
    modes = {"with the phase map (0.4.1)": True, "without it (ones, 0.4.0)": False}
    reconstructors = {}
    for mode, absorb in modes.items():
        rec = D3GMReconstructor(network, inferer, mask=None, data_consistency="hard", num_inference_steps=3,
                                sampler="posterior", seed=0, **bundle_dc())  # fmt: skip
        next(t for t in rec.preprocessing if isinstance(t, CoilMapsd)).estimate = EstimateCoilMaps(absorb_phase=absorb)
        reconstructors[mode] = rec
    gains: dict[tuple[str, int], list[float]] = {}
    for volume in (v for v in split_volumes(SPLIT, "benchmark", SHARED) if v["person"] in PERSONS):
        slices = volume_slices(volume["path"], list(volume.get("axes", [-1]))[0])
        image = slices[len(slices) // 2]
        for draw in range(args.draws):
            full = simulated_kspace(image, num_coils=1, relative_std=0.008, seed=draw)
            reference = root_sum_of_squares(ifft2c(full), dim=0)
            full, reference = full / reference.max(), reference / reference.max()
            for acc, cf in PROTOCOLS:
                mask = CartesianMask("random", acc, cf, direction="phase", seed=0)(tuple(full.shape[-2:]))
                kspace = full * mask
                kspace = kspace / root_sum_of_squares(ifft2c(kspace), dim=0).max()
                zero_filled = metrics(root_sum_of_squares(ifft2c(kspace), dim=0), reference)[0]
                for mode, rec in reconstructors.items():
                    x = rec({"kspace": kspace.numpy(), "mask": mask.numpy()})["reconstruction"]
                    gains.setdefault((mode, acc), []).append(metrics(x, reference)[0] - zero_filled)
            print(f"done: {volume['person']} draw {draw}", flush=True)
    header = ["single-coil μ", *[f"{acc}x: mean / min / max (dB)" for acc, _ in PROTOCOLS]]
    rows = [[mode, *[f"{np.mean(g):+.2f} / {np.min(g):+.2f} / {np.max(g):+.2f}"
                     for g in (gains[(mode, acc)] for acc, _ in PROTOCOLS)]] for mode in modes]  # fmt: skip
    print_table(f"D³GM PSNR over zero-filling, {len(PERSONS)} people x {args.draws} phase draws ({environment()})",
                header, rows)  # fmt: skip


if __name__ == "__main__":
    main()
