# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""How much does the sampler loop cost on top of the network?

Prints t_sample / (NFE × t_forward) for ``D3GMInferer`` (target ≤ 1.05) and for MONAI's ``DiffusionInferer`` with
``DDPMScheduler`` (the SGM baseline, conditioned by concatenation), for the same network and input, measured side by
side (interleaved repeats, medians).

    python benchmarks/sampler_overhead.py                 # 128x128, batch 1, 100 steps
    python benchmarks/sampler_overhead.py --size 64 --steps 20 --repeats 3
"""

from __future__ import annotations

import argparse

import torch
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import DDPMScheduler

from monai_d3gm.inferers import D3GMInferer, network_input
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler

from _common import environment, interleaved_medians, print_table, save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100, help="network evaluations per sample (NFE)")
    parser.add_argument("--channels", type=str, default="32,64,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", type=str, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=str, default=None, help="also save the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    channels = tuple(int(c) for c in args.channels.split(","))
    net = ScoreUNet(image_channels=1, channels=channels, attention_levels=(False,) * len(channels)).to(device).eval()
    mu = torch.rand(args.batch, 1, args.size, args.size, device=device)
    t = torch.full((args.batch,), 50, device=device, dtype=torch.long)
    x_in = network_input(mu, mu)

    d3gm = D3GMInferer(D3GMScheduler(), progress=False)
    ddpm = DDPMScheduler(num_train_timesteps=1000)
    ddpm.set_timesteps(args.steps, device=device)
    monai_inferer = DiffusionInferer(ddpm)

    def forward_loop():
        """NFE plain network calls on a fixed input: the cost a sampler cannot avoid."""
        with torch.no_grad():
            for _ in range(args.steps):
                net(x_in, t)

    def null_net(x, timesteps, **kwargs):
        """A network that costs nothing: what remains is the sampler loop itself."""
        return x[:, : x.shape[1] // 2]

    fns = {
        "forward_loop": forward_loop,
        "d3gm_sde": lambda: d3gm.sample(mu, net, num_inference_steps=args.steps, sampler="sde"),
        "d3gm_ode": lambda: d3gm.sample(mu, net, num_inference_steps=args.steps, sampler="ode"),
        "d3gm_posterior": lambda: d3gm.sample(mu, net, num_inference_steps=args.steps, sampler="posterior"),
        "monai_ddpm": lambda: monai_inferer.sample(
            torch.randn_like(mu), net, ddpm, conditioning=mu, mode="concat", verbose=False
        ),
    }
    loops = {
        "d3gm_sde": lambda: d3gm.sample(mu, null_net, num_inference_steps=args.steps, sampler="sde"),
        "d3gm_ode": lambda: d3gm.sample(mu, null_net, num_inference_steps=args.steps, sampler="ode"),
        "d3gm_posterior": lambda: d3gm.sample(mu, null_net, num_inference_steps=args.steps, sampler="posterior"),
        "monai_ddpm": lambda: monai_inferer.sample(
            torch.randn_like(mu), null_net, ddpm, conditioning=mu, mode="concat", verbose=False
        ),
    }
    with torch.no_grad():
        interleaved_medians(fns, 1, device)  # warm-up
        med = interleaved_medians(fns, args.repeats, device)
        loop = interleaved_medians(loops, args.repeats, device)
    t_fwd = med["forward_loop"] / args.steps
    rows = [
        [
            name,
            args.steps,
            med[name],
            med[name] / (args.steps * t_fwd),
            loop[name],
            1 + loop[name] / med["forward_loop"],
        ]
        for name in ("d3gm_sde", "d3gm_ode", "d3gm_posterior", "monai_ddpm")
    ]
    print(environment())
    shape = f"{args.batch}x1x{args.size}x{args.size}"
    print(f"network ScoreUNet{channels}, input {shape}, t_forward = {t_fwd * 1e3:.2f} ms")
    print_table(
        "Sampler overhead: ratio = t_sample / (NFE x t_forward), target <= 1.05",
        ["sampler", "NFE", "t_sample [s]", "ratio", "t_loop_only [s]", "1 + t_loop_only / (NFE x t_forward)"],
        rows,
    )
    save_json(args.json, {"env": environment(), "t_forward": t_fwd, "rows": rows, "args": vars(args)})


if __name__ == "__main__":
    main()
