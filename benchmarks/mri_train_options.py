# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training throughput of the MRI bundle's network options on this machine (2 CPU cores): which network, width,
crop and batch to train with.

Each option runs forward + backward + Adam steps on random (x_t − μ, μ) inputs; rounds alternate between the options so
machine noise hits them alike (median seconds per step). Crops keep whole phase-encoding lines (the 1-D mask aliases
along the whole line, so the bundle trains on 64 readout x 192 phase-encoding crops); 64 x 64 patches are the old
setting. Pixels per second compare crops fairly.

    python benchmarks/mri_train_options.py [--rounds 3]
"""

from __future__ import annotations

import argparse

import torch

from monai_d3gm.networks.nets import ScoreNAFNet, ScoreUNet

from _common import environment, interleaved_medians, print_table


def unet(channels: tuple[int, ...]) -> torch.nn.Module:
    return ScoreUNet(
        spatial_dims=2,
        image_channels=2,
        channels=channels,
        attention_levels=(False,) * len(channels),
        num_res_blocks=1,
        norm_num_groups=16,
    )


NETWORKS = {
    "ScoreUNet (32, 64, 64)": lambda: unet((32, 64, 64)),
    "ScoreUNet (32, 64, 64, 128), the bundle's": lambda: unet((32, 64, 64, 128)),
    "ScoreNAFNet width 16": lambda: ScoreNAFNet(spatial_dims=2, image_channels=2, width=16),
}
CROPS = {"8 x 64 x 64 (old patches)": (8, 64, 64), "4 x 64 x 192 (whole PE lines), the bundle's": (4, 64, 192)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    steps, sizes = {}, {}
    for net_name, make in NETWORKS.items():
        for crop_name, (b, h, w) in CROPS.items():
            net = make()
            opt = torch.optim.Adam(net.parameters(), 1e-4)
            x, t = torch.randn(b, 4, h, w), torch.randint(1, 101, (b,))

            def step(net=net, opt=opt, x=x, t=t):
                loss = net(x, t).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()

            step()  # warm-up
            name = f"{net_name} | {crop_name}"
            steps[name] = step
            sizes[name] = (b * h * w, sum(p.numel() for p in net.parameters()))
    medians = interleaved_medians(steps, args.rounds, torch.device("cpu"))
    rows = [
        [name, f"{sizes[name][1] / 1e6:.2f}", f"{medians[name]:.3f}", f"{1 / medians[name]:.2f}",
         f"{sizes[name][0] / medians[name] / 1e3:.0f}"]
        for name in steps
    ]  # fmt: skip
    header = ["option", "M params", "s / step", "steps / s", "k pixels / s"]
    print_table(f"training step throughput ({environment()})", header, rows)


if __name__ == "__main__":
    main()
