# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Training steps per second on MONAI's ``SupervisedTrainer``: D³GM vs MONAI's DDPM (SGM baseline), same network.

Both trainers use the same ``ScoreUNet``, batch and patch size; D³GM uses ``D3GMPrepareBatch`` + ``D3GMInferer`` +
``D3GMLoss`` (+ EMA), the baseline MONAI's ``DiffusionPrepareBatch`` + ``DiffusionInferer`` (concat condition) +
``DDPMScheduler`` + MSE. Rounds of iterations alternate between the two so machine noise hits both alike.

    python benchmarks/train_step.py                       # batch 8, 64x64 patches
    python benchmarks/train_step.py --size 128 --rounds 2
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from ignite.handlers import EMAHandler
from monai.engines import DiffusionPrepareBatch, SupervisedTrainer
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import DDPMScheduler

from monai_d3gm.engines import D3GMPrepareBatch
from monai_d3gm.inferers import D3GMInferer
from monai_d3gm.losses import D3GMLoss
from monai_d3gm.networks.nets import ScoreUNet
from monai_d3gm.networks.schedulers import D3GMScheduler

from _common import environment, print_table, save_json, sync


def make_trainer(kind: str, args, device: torch.device) -> SupervisedTrainer:
    torch.manual_seed(0)
    channels = tuple(int(c) for c in args.channels.split(","))
    net = ScoreUNet(image_channels=1, channels=channels, attention_levels=(False,) * len(channels)).to(device)
    data = [
        {"image": torch.rand(1, args.size, args.size), "mu": torch.rand(1, args.size, args.size)}
        for _ in range(args.batch * args.iterations)
    ]
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=False, num_workers=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    if kind == "d3gm":
        sched = D3GMScheduler()
        prepare, inferer, loss = D3GMPrepareBatch(sched), D3GMInferer(sched), D3GMLoss(sched)
        handlers = [EMAHandler(net, momentum=0.005)]
    else:
        prepare = DiffusionPrepareBatch(num_train_timesteps=1000, condition_name="mu")
        # MONAI's SGM conditioned by concatenation: DiffusionInferer(..., mode="concat") fed [x_t, mu]
        inferer = functools.partial(DiffusionInferer(DDPMScheduler(1000)), mode="concat")
        loss, handlers = torch.nn.MSELoss(), []
    trainer = SupervisedTrainer(
        device=device,
        max_epochs=10**6,
        train_data_loader=loader,
        network=net,
        optimizer=opt,
        loss_function=loss,
        inferer=inferer,
        prepare_batch=prepare,
        train_handlers=handlers,
        decollate=False,
    )
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=str, default="32,64,64")
    parser.add_argument("--iterations", type=int, default=5, help="iterations per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", type=str, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    trainers = {kind: make_trainer(kind, args, device) for kind in ("d3gm", "monai_ddpm")}
    per_step: dict[str, list[float]] = {kind: [] for kind in trainers}
    for r in range(args.rounds + 1):  # round 0 warms up
        for kind, trainer in trainers.items():
            trainer.state.max_epochs = trainer.state.epoch + 1 if r else 1
            sync(device)
            start = time.perf_counter()
            trainer.run()
            sync(device)
            if r:
                per_step[kind].append((time.perf_counter() - start) / args.iterations)
    rows = []
    for kind, times in per_step.items():
        med = statistics.median(times)
        rows.append([kind, args.batch, f"{args.size}x{args.size}", med, 1.0 / med])
    print(environment())
    print_table(
        f"Training steps (ScoreUNet {args.channels}, {args.rounds} rounds x {args.iterations} iterations, medians)",
        ["trainer", "batch", "patch", "s/step", "steps/s"],
        rows,
    )
    print(f"\nD3GM / MONAI DDPM time ratio: {rows[0][3] / rows[1][3]:.3f}")
    save_json(args.json, {"env": environment(), "rows": rows, "args": vars(args)})


if __name__ == "__main__":
    main()
