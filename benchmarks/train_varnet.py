# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Train MONAI's end-to-end VarNet as the supervised baseline of ``benchmarks/mri_reconstruction.py``.

Same data and simulation as the D³GM bundle's ``train.json`` (real brain slices, smooth random phase, one or eight
birdcage coils, fastMRI-style 4x/8x random column masks), same batch size and a wall-clock budget equal to the D³GM
run's. VarNet works in k-space, so each 64x64 training patch is cut from the image *before* its k-space is simulated
(the aliasing then folds inside the patch); every batch shares one coil count and one mask, which MONAI's
``CoilSensitivityModel`` requires. Training runs on MONAI's ``SupervisedTrainer``.

    python benchmarks/train_varnet.py --budget-seconds 2700 --out benchmarks/models/varnet.pt \\
        ../shared/data/niivue-brain-t1-flair/chris_t1.nii.gz \\
        ../shared/data/ixi-ixi002-dti/IXI002-Guys-0828-DTI-00.nii.gz
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ignite.engine import Events
from ignite.handlers import TerminateOnNan
from monai.apps.reconstruction.networks.nets.coil_sensitivity_model import CoilSensitivityModel
from monai.apps.reconstruction.networks.nets.complex_unet import ComplexUnet
from monai.apps.reconstruction.networks.nets.varnet import VariationalNetworkModel
from monai.engines import SupervisedTrainer
from monai.handlers import from_engine
from monai.utils import set_determinism
from torch.utils.data import DataLoader, IterableDataset

from monai_d3gm.apps.reconstruction.dataset import VolumeSliceDataset
from monai_d3gm.apps.reconstruction.transforms import SimulateKspace
from monai_d3gm.handlers import atomic_save
from monai_d3gm.physics.masks import CartesianMask

CONFIGS = ((1, 4, 0.08), (1, 8, 0.04), (8, 4, 0.08), (8, 8, 0.04))  # (coils, acceleration, centre fraction)


class ReZero(torch.nn.Module):
    """``gain * module(x)`` with a learnable gain that starts near zero (ReZero, Bachlechner et al. 2021).

    It starts at 0.01, not 0: 0 times the infinite derivative of a coil map x / |x| at |x| = 0 gives NaN.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.gain = torch.nn.Parameter(torch.full((), 0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * self.module(x)


def build_varnet(cascades: int = 4) -> VariationalNetworkModel:
    """A CPU-sized e2e-VarNet: ``cascades`` small complex U-Nets and a small coil-sensitivity U-Net.

    Every cascade's refinement is scaled by a ReZero gain that starts at zero, so an untrained cascade is the identity
    plus soft data consistency. With plain initialisation each random cascade about doubles the error of its input
    (4 cascades: L1 0.17 -> 4.6 on normalised patches), which a short CPU training does not recover from.
    """
    return VariationalNetworkModel(
        CoilSensitivityModel(spatial_dims=2, features=(8, 8, 16, 32, 64, 8)),
        ReZero(ComplexUnet(spatial_dims=2, features=(16, 16, 32, 64, 128, 16))),
        num_cascades=cascades,
    )


def varnet_inputs(kspace: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) complex k-space and a (W,) column mask -> VarNet's (B, C, H, W, 2) and (1, 1, 1, W, 1)."""
    return torch.view_as_real(kspace), mask.reshape(1, 1, 1, -1, 1).bool()


class PatchBatches(IterableDataset):
    """Endless batches of ``{"image": VarNet k-space, "mask", "label": magnitude target}`` with one shared setting."""

    def __init__(self, paths, batch_size: int = 8, patch: int = 64, seed: int = 0) -> None:
        self.slices = [d["image"] for d in VolumeSliceDataset(paths).data]
        self.batch_size, self.patch, self.seed = batch_size, patch, seed

    def _patch(self, rng: np.random.Generator, tries: int = 20) -> np.ndarray:
        """A random patch with some anatomy: VarNet's U-Nets normalise by the patch's standard deviation, which
        blows up on empty background."""
        for _ in range(tries):
            img = self.slices[rng.integers(len(self.slices))]
            y = rng.integers(img.shape[0] - self.patch + 1)
            x = rng.integers(img.shape[1] - self.patch + 1)
            patch = np.ascontiguousarray(img[y : y + self.patch, x : x + self.patch])
            if patch.mean() > 0.05:
                break
        return patch

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        sim = SimulateKspace(num_coils=1)
        sim.set_random_state(self.seed)
        while True:
            coils, accel, centre = CONFIGS[rng.integers(len(CONFIGS))]
            sim.num_coils = coils
            mask = CartesianMask("random", accel, centre)((self.patch, self.patch), seed=int(rng.integers(2**31)))
            mask = torch.as_tensor(mask[0], dtype=torch.float32)
            kspaces, targets = [], []
            for _ in range(self.batch_size):
                patch = self._patch(rng)
                k, _ = sim(patch)
                kspaces.append(k)
                targets.append(torch.as_tensor(patch))
            k = torch.stack(kspaces) * mask
            zero_filled = torch.fft.ifftshift(torch.fft.ifft2(torch.fft.fftshift(k, (-2, -1)), norm="ortho"), (-2, -1))
            scale = zero_filled.abs().pow(2).sum(1).sqrt().amax((-2, -1)).clamp_min(1e-8)  # max RSS per item
            kv, mv = varnet_inputs(k / scale[:, None, None, None], mask)
            yield {"image": kv, "mask": mv, "label": torch.stack(targets) / scale[:, None, None]}


def prepare_batch(batch, device=None, non_blocking=False, **kwargs):
    return batch["image"].to(device), batch["label"].to(device), (batch["mask"].to(device),), {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="training volumes (NIfTI)")
    parser.add_argument("--budget-seconds", type=float, required=True, help="wall-clock training budget")
    parser.add_argument("--out", required=True, help="where the weights (state dict) go")
    parser.add_argument("--cascades", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    set_determinism(args.seed)
    net = build_varnet(args.cascades)
    loader = DataLoader(PatchBatches(args.paths, seed=args.seed), batch_size=None, num_workers=0)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        epoch_length=10**9,
        train_data_loader=loader,
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), lr=args.lr),
        loss_function=torch.nn.L1Loss(),
        prepare_batch=prepare_batch,
    )
    start = time.perf_counter()
    losses: list[float] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _budget(engine) -> None:
        losses.append(float(from_engine(["loss"], first=True)(engine.state.output)))
        if engine.state.iteration % 50 == 0:
            mean = sum(losses[-50:]) / len(losses[-50:])
            print(f"iter {engine.state.iteration} mean loss {mean:.4f} {time.perf_counter() - start:.0f}s", flush=True)
        if engine.state.iteration % 250 == 0 and all(torch.isfinite(p).all() for p in net.parameters()):
            atomic_save(net.state_dict(), args.out)  # never overwrite good weights with diverged ones
        if time.perf_counter() - start >= args.budget_seconds:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, TerminateOnNan(lambda output: output[0]["loss"]))
    trainer.run()
    if all(torch.isfinite(p).all() for p in net.parameters()):
        atomic_save(net.state_dict(), args.out)
    print(f"VarNet: {trainer.state.iteration} iterations in {time.perf_counter() - start:.0f}s -> {args.out}")


if __name__ == "__main__":
    main()
