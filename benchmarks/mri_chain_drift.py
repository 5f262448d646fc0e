# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Does the reverse chain drift? x̂0 along the sampler's chain against x̂0 from the true forward marginals.

On held-out validation people (``configs/data_split.json``, noisy simulated single- and 8-coil k-space at 4x and 8x,
reconstructed with the bundle's reconstructor: fixed masks, ESPIRiT maps, data consistency):

1. **Teacher-forced**: x_t drawn from the forward marginal q(x_t | x0, μ) around the true (normalised) reference,
   x̂0 = network(x_t, t); its PSNR at each t is what the network can do when its input is on the training marginal.
2. **Along the chain**: the PSNR of the x̂0 the sampler predicts at each of its steps (callback of the inferer).
   If it falls below the teacher-forced curve as t decreases, errors compound along the chain (exposure bias).
3. **Final PSNR against the number of steps** (3, 10, 20, 50) for the samplers, the quantity the bundle ships.
4. **How far the chain's states are from the marginal**: the spread of x_t around the marginal mean of the reference,
   m_t(x0), divided by the marginal standard deviation sqrt(v_t), along the 20-step chains (1 on the marginal).

Multi-coil results are the coil-combined SENSE images (as the training's validator scores them); ``--data-consistency
none`` runs the chains without data consistency, ``--time-shift δ`` feeds the network the step (1 − δ) t instead of t
(a training-free remedy for exposure bias).

    python benchmarks/mri_chain_drift.py [--weights model.pt] [--tau 2] [--slices 1] [--figure drift.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from classical import metrics
from mri_reconstruction import BUNDLE, SEED, SHARED, SPLIT, bundle_dc

from monai_d3gm.apps.reconstruction.dataset import split_volumes
from monai_d3gm.apps.reconstruction.reconstruct import D3GMReconstructor
from monai_d3gm.apps.reconstruction.validation import held_out_cases
from monai_d3gm.physics.fft import channels_to_complex, complex_to_channels
from monai_d3gm.physics.masks import CartesianMask

from _common import load_bundle_network, print_table

PROTOCOLS = ((4, 0.08), (8, 0.04))
STEPS = (3, 10, 20, 50)
PROBE_T = (100, 75, 50, 25, 10, 5, 1)


def _psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    return metrics(channels_to_complex(x)[0, 0], ref)[0]


class TimeShift(torch.nn.Module):
    """The network evaluated at the step (1 − δ) t (rounded, at least 1) instead of t."""

    def __init__(self, network: torch.nn.Module, delta: float) -> None:
        super().__init__()
        self.network, self.delta = network, delta

    def forward(self, x: torch.Tensor, t: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.network(x, (t.double() * (1 - self.delta)).round().clamp_min(1).long(), **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(BUNDLE / "models" / "model.pt"))
    parser.add_argument("--tau", type=float, default=2.0)
    parser.add_argument(
        "--mu_iterations", type=int, default=None, help="μ's CG-SENSE iterations of --weights (default: the bundle's)"
    )
    parser.add_argument(
        "--prediction_type", default=None, help="what --weights predict: residual, sample or epsilon (the bundle's)"
    )
    parser.add_argument("--slices", type=int, default=1, help="slices per validation volume")
    parser.add_argument("--samplers", nargs="+", default=["posterior", "ode"])
    parser.add_argument("--steps", nargs="+", type=int, default=list(STEPS), help="step counts of the final table")
    parser.add_argument("--volumes", type=int, default=None, help="use only the first N validation volumes")
    parser.add_argument("--samples", type=int, default=4, help="posterior samples averaged in the mean-of-samples row")
    parser.add_argument("--data-consistency", default="hard", choices=["hard", "none"])
    parser.add_argument("--time-shift", type=float, default=0.0, help="δ: the network sees the step (1 − δ) t")
    parser.add_argument("--figure", default=None)
    args = parser.parse_args()
    updates = {} if args.prediction_type is None else {"prediction_type": args.prediction_type}
    net, inferer = load_bundle_network(BUNDLE, Path(args.weights), tau=args.tau, **updates)
    sampling_net = TimeShift(net, args.time_shift) if args.time_shift else net
    sched = inferer.scheduler
    volumes = split_volumes(SPLIT, "validation", SHARED)[: args.volumes]
    cases = held_out_cases(volumes, args.slices, num_coils=(1, 8), seed=SEED)
    teacher: dict[int, list[float]] = {t: [] for t in PROBE_T}
    chain: dict[tuple[str, int], list[float]] = {}
    spread: dict[tuple[str, int], list[float]] = {}
    final: dict[tuple[str, int], list[float]] = {}
    zero_filled: list[float] = []
    for acc, cf in PROTOCOLS:
        for case in cases:
            mask = CartesianMask("random", acc, cf)
            settings = {**bundle_dc(), "coil_combination": "sense", "data_consistency": args.data_consistency}
            if args.mu_iterations is not None:
                settings["mu_iterations"] = args.mu_iterations
            rec = D3GMReconstructor(sampling_net, inferer, mask=mask, mask_seed=SEED, seed=SEED, **settings)
            prepared = rec.prepare(case)
            ref = prepared.reference / prepared.reference.max()
            mu = complex_to_channels(prepared.mu[None, None])
            zero_filled.append(metrics(prepared.mu, ref)[0])
            # the reference in μ's scale (the least-squares fit of |x0| is scale-free, the marginal is not)
            x0 = complex_to_channels(
                (torch.as_tensor(prepared.reference) / prepared.scale).to(torch.complex64)[None, None]
            )
            generator = torch.Generator().manual_seed(SEED)
            with torch.no_grad():
                for t in PROBE_T:
                    noise = torch.randn(mu.shape, generator=generator)
                    x_t = sched.add_noise(x0, mu, noise, torch.tensor([t]))
                    out = net(torch.cat([x_t - mu, mu], 1), torch.tensor([t]))
                    teacher[t].append(_psnr(sched.predict_original_sample(out, t, x_t, mu), ref))
            for sampler in args.samplers:
                for steps in args.steps:
                    seen: list[tuple[int, float]] = []
                    states: list[tuple[int, float]] = []
                    rec.sampler, rec.num_inference_steps = sampler, steps

                    def follow(state, _seen=seen, _states=states, _ref=ref, _x0=x0, _mu=mu):
                        _seen.append((state["t"], _psnr(state["pred_original_sample"], _ref)))
                        t_prev = state["t_prev"]
                        if t_prev > 0:
                            mean = sched.marginal_mean(_x0, _mu, t_prev)
                            std = float(sched.marginal_std(t_prev))
                            _states.append((t_prev, float((state["sample"] - mean).std()) / std))

                    result = rec.reconstruct_batch([prepared], seeds=[SEED], verbose=False, callback=follow)[0]
                    final.setdefault((sampler, steps), []).append(metrics(result["reconstruction"], ref)[0])
                    if sampler != "ode" and args.samples > 1:  # is the loss the spread of samples or a bias?
                        rec.num_samples = args.samples
                        mean = rec.reconstruct_batch([prepared], seeds=[SEED], verbose=False)[0]["reconstruction"]
                        rec.num_samples = 1
                        final.setdefault((f"{sampler}, mean of {args.samples}", steps), []).append(
                            metrics(mean, ref)[0]
                        )
                    if steps == 20:
                        for t, p in seen:
                            chain.setdefault((sampler, t), []).append(p)
                        for t, r in states:
                            spread.setdefault((sampler, t), []).append(r)
            print(f"done: {case['name']} {acc}x", flush=True)

    print_table(
        f"x̂0 PSNR (dB) at step t, teacher-forced vs along 20-step chains (τ = {args.tau}, {len(zero_filled)} cases; "
        f"zero-filled {np.mean(zero_filled):.2f} dB)",
        ["t", "teacher-forced", *[f"{s} chain" for s in args.samplers]],
        [
            [t, f"{np.mean(teacher[t]):.2f}", *[_mean(chain, _nearest(chain, s, t)) for s in args.samplers]]
            for t in PROBE_T
        ],  # fmt: skip
    )
    print_table(
        "spread of the chain's x_t around the marginal mean m_t(x0), in marginal standard deviations (20 steps)",
        ["sampler", *[str(t) for t in sorted({t for _, t in spread}, reverse=True)]],
        [[s, *[_mean(spread, (s, t)) for t in sorted({t for _, t in spread}, reverse=True)]] for s in args.samplers],
    )
    print_table(
        f"final PSNR (dB) against steps (τ = {args.tau}, data consistency {args.data_consistency}, time shift "
        f"{args.time_shift})",
        ["sampler", *[str(s) for s in args.steps]],
        [[s, *[_mean(final, (s, n)) for n in args.steps]] for s in dict.fromkeys(name for name, _ in final)],
    )
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(PROBE_T, [np.mean(teacher[t]) for t in PROBE_T], "k-o", label="teacher-forced (true marginal)")
        for s in args.samplers:
            ts = sorted({t for (name, t) in chain if name == s}, reverse=True)
            ax.plot(ts, [np.mean(chain[(s, t)]) for t in ts], "-o", ms=3, label=f"{s}, 20-step chain")
        ax.axhline(np.mean(zero_filled), color="gray", ls="--", label="zero-filled")
        ax.invert_xaxis()
        ax.set_xlabel("diffusion step t")
        ax.set_ylabel("PSNR of x̂0 (dB)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=100)
        print(f"figure: {args.figure}")


def _nearest(chain: dict, sampler: str, t: int) -> tuple[str, int]:
    """The step of ``sampler``'s chain nearest to t."""
    ts = [k for (name, k) in chain if name == sampler]
    return (sampler, min(ts, key=lambda k: abs(k - t))) if ts else (sampler, t)


def _mean(table: dict, key: tuple) -> str:
    return f"{np.mean(table[key]):.2f}" if key in table else "-"


if __name__ == "__main__":
    main()
