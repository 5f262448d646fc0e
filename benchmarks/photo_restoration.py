# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Deraining / dehazing: D³GM against the degraded input and a classical method on the real pairs in ../shared/data.

Deraining: the held-out pairs are the ten Rain100H benchmark pairs (52 and above; ``train.json``'s ``holdout`` less its
``validation_pairs``) and the four pairs of ``derain-pairs`` (Rain100L, MFDNet), none of which the bundle trains on.
Dehazing: two real pairs (O-HAZE 41, SOTS 0002) are held out of training; the other two are marked "seen in
training". Because two real pairs say little, dehazing is also scored on light and dense synthetic haze (seeded, on a
random scene depth) over the clean photos of the ten Rain100H benchmark pairs, which no dehazing recipe sees. Both
tasks then restore held-out clean references, which must come out unchanged. Classical baselines: for haze, the dark
channel prior (He et al., CVPR 2009: 15-pixel dark channel, airlight from the brightest 0.1 %, omega 0.95, t0 0.1,
transmission refined by a guided filter); for rain, a 5x5 median filter (removes thin streaks, blurs detail).
Metrics follow IR-SDE's protocol: PSNR / SSIM on uint8 RGB at full resolution (O-HAZE photos are ~2500 x 2900 and
restored in 256-pixel tiles); LPIPS is reported when its AlexNet weights are available offline, which they are not here.

``--sweep`` first scores samplers on the embedded demo (synthetic degradation of matplotlib's sample photo, not a
test pair) to choose the bundle's default. The last table compares tiled with whole-image restoration on the
smallest held-out photo.

    python benchmarks/photo_restoration.py --task derain [--sweep] [--figure derain.png] [--json derain.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from monai_d3gm.apps.restoration import TiledRestoration, find_pairs, read_rgb
from monai_d3gm.apps.restoration.demo import demo_pair
from monai_d3gm.apps.restoration.metrics import lpips_status, rgb_metrics
from monai_d3gm.apps.restoration.pairs import find_images
from monai_d3gm.apps.restoration.restore import D3GMImageRestorer
from monai_d3gm.physics.weather import add_haze, random_depth
from monai_d3gm.visualize import save_comparison

from _common import environment, load_bundle_network, print_table, save_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = {"derain": ["derain-pairs", "derain-pairs-more"], "dehaze": ["dehaze-pairs"]}
RAIN100H_BENCHMARK = {f"rain100h_mspfn_{i}" for i in (52, 55, 60, 70, 82, 88, 89, 95, 99, 100)}


def load(task: str, weights: str | None = None):
    """The bundle's network, inferer and held-out pair names (held out of training and not used for validation)."""
    bundle = ROOT / "bundles" / f"{task}_d3gm"
    net, inferer = load_bundle_network(bundle, weights)
    train = json.loads((bundle / "configs" / "train.json").read_text())
    return net, inferer, set(train["holdout"]) - set(train.get("validation_pairs", []))


def benchmark_pairs(task: str, holdout: set[str]) -> list[tuple[dict, str]]:
    """``(pair, split)`` of the task's real pairs: "held out" or "seen in training". Deraining trains on
    ``derain-pairs-more`` only, so every pair of ``derain-pairs`` (Rain100L, MFDNet) is held out too; its validation
    pairs and Rain100H pair 2 (the scene of the Rain100L benchmark pair) are left out of the table."""
    rows = []
    for i, folder in enumerate(DATA[task]):
        for pair in find_pairs(SHARED / folder):
            if task == "derain" and (i == 0 or pair["name"] in holdout):
                if pair["name"] != "rain100h_mspfn_2":
                    rows.append((pair, "held out"))
            elif task == "derain":
                continue  # a training or validation pair
            else:
                rows.append((pair, "held out" if pair["name"] in holdout else "seen in training"))
    return sorted(rows, key=lambda r: r[1] != "held out")


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows (replicate padding) by summed-area tables: O(1) per pixel whatever r."""
    x = F.pad(x.double(), (r + 1, r, r + 1, r), mode="replicate")
    c = x.cumsum(-1).cumsum(-2)
    k = 2 * r + 1
    s = c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]
    return (s / k**2).float()


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter (grey guide), (1, 1, H, W) tensors."""
    mean_i, mean_p = _box(guide, r), _box(src, r)
    a = (_box(guide * src, r) - mean_i * mean_p) / (_box(guide * guide, r) - mean_i**2 + eps)
    b = mean_p - a * mean_i
    return _box(a, r) * guide + _box(b, r)


def dark_channel_prior(image: np.ndarray, patch: int = 15, omega: float = 0.95, t0: float = 0.1) -> np.ndarray:
    """Dehaze a (3, H, W) photo in [0, 1] with the dark channel prior and guided-filter refinement."""
    x = torch.from_numpy(image)[None]
    r = patch // 2
    dark = -F.max_pool2d(F.pad(-x.amin(1, keepdim=True), (r, r, r, r), mode="replicate"), patch, stride=1)
    flat = dark.flatten()
    top = flat.topk(max(1, flat.numel() // 1000)).indices
    airlight = x.flatten(2)[0][:, top].mean(1).view(1, 3, 1, 1)
    norm = (x / airlight).amin(1, keepdim=True)
    t = 1 - omega * -F.max_pool2d(F.pad(-norm, (r, r, r, r), mode="replicate"), patch, stride=1)
    guide = x.mean(1, keepdim=True)
    t = guided_filter(guide, t, r=max(8, min(image.shape[1:]) // 20), eps=1e-3).clamp(min=t0)
    return ((x - airlight) / t + airlight).clamp(0, 1)[0].numpy()


def median_filter(image: np.ndarray, size: int = 5) -> np.ndarray:
    """Per-channel ``size x size`` median filter of a (3, H, W) photo."""
    r = size // 2
    x = F.pad(torch.from_numpy(image)[None], (r, r, r, r), mode="reflect")
    patches = x.unfold(2, size, 1).unfold(3, size, 1)
    return patches.reshape(*patches.shape[:4], -1).median(-1).values[0].numpy()


def synthetic_haze_cases() -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Light and dense haze (seeded, on a random scene depth) on the clean photos of the ten Rain100H benchmark pairs,
    which no dehazing recipe trains or validates on: ``(name, split, hazy, clean)``."""
    cases = []
    for i, pair in enumerate(p for p in find_pairs(SHARED / "derain-pairs-more") if p["name"] in RAIN100H_BENCHMARK):
        clean = read_rgb(pair["target"])
        for density, beta, near in (("light", 0.5, 0.3), ("dense", 1.8, 0.1)):
            depth = random_depth(clean.shape[-2:], i, near=near)
            hazy = add_haze(clean, beta, 0.9, depth)
            cases.append((f"{pair['name']} {density}", f"synthetic {density} haze", hazy, clean))
    return cases


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """A 32 x 32 grey thumbnail, zero-mean and unit-norm: the dot product of two is their correlation."""
    t = F.adaptive_avg_pool2d(torch.from_numpy(image.mean(0))[None, None], (32, 32)).numpy().ravel()
    t = t - t.mean()
    return t / (np.linalg.norm(t) + 1e-8)


def leak_check(task: str, cases: list[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
    """Each benchmark photo's most similar training or validation photo (thumbnail correlation; the same scene scores
    about 1, as Rain100H pair 2 against the Rain100L benchmark pair 2 does): no training background may appear in a
    test pair."""
    train = json.loads((ROOT / "bundles" / f"{task}_d3gm" / "configs" / "train.json").read_text())
    folder = "derain-pairs-more" if task == "derain" else "dehaze-pairs"
    seen = {p["name"]: read_rgb(p["target"]) for p in find_pairs(SHARED / folder) if p["name"] not in train["holdout"]}
    seen.update({f"{d}/{f.stem}": read_rgb(f) for d in ("kodak24", "mcmaster", "cbsd68")
                 for f in find_images(SHARED / "clean-photos" / d)})  # fmt: skip
    seen = {k: _thumbnail(v) for k, v in seen.items()}
    rows = []
    for name, split, _, reference in cases:
        if split != "seen in training":
            t = _thumbnail(reference)
            closest = max(seen, key=lambda k: float(seen[k] @ t))
            rows.append([name, closest, f"{float(seen[closest] @ t):.2f}"])
    print_table(f"{task}: the closest training or validation photo to each benchmark photo (1.00: the same scene)",
                ["benchmark photo", "closest seen photo", "correlation"], rows)  # fmt: skip


def summarise(split: str, rows: list[dict], classical_name: str) -> None:
    """The mean of each method over ``rows`` and the issue's pass count: +1 dB over the input with SSIM at least the
    input's, and above the classical method in both."""
    means = {
        m: np.mean([[r["metrics"][m]["psnr"], r["metrics"][m]["ssim"]] for r in rows], 0) for m in rows[0]["metrics"]
    }
    print(f"{split} mean: " + ", ".join(f"{m} {v[0]:.2f} / {v[1]:.3f}" for m, v in means.items()))
    passed = [
        r["metrics"]["D3GM"]["psnr"] >= r["metrics"]["input"]["psnr"] + 1.0
        and r["metrics"]["D3GM"]["ssim"] >= r["metrics"]["input"]["ssim"]
        and all(r["metrics"]["D3GM"][q] > r["metrics"][classical_name][q] for q in ("psnr", "ssim"))
        for r in rows
    ]
    print(f"{split}: pairs that beat the input by >= 1 dB (SSIM too) and {classical_name}: {sum(passed)}/{len(rows)}")


def sweep(task: str, net, inferer) -> None:
    pair = demo_pair(task)
    rows = [["input", "-", *[round(v, 4) for v in list(rgb_metrics(pair["input"], pair["reference"]).values())[:2]]]]
    for sampler, steps in (("posterior", 1), ("posterior", 3), ("posterior", 5), ("ode", 5), ("ode", 10)):
        out = D3GMImageRestorer(net, inferer, TiledRestoration(256, progress=False), steps, sampler)(pair["input"])
        m = rgb_metrics(out["output"], pair["reference"])
        rows.append([sampler, steps, round(m["psnr"], 2), round(m["ssim"], 4)])
    print_table(f"Validation sweep on the {task} demo (synthetic, 600 x 512): PSNR / SSIM", ["sampler", "steps",
                "PSNR", "SSIM"], rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(DATA), required=True)
    parser.add_argument("--weights", default=None, help="default: the bundle's models/model.pt")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--figure", default=None, help="PNG of the methods on the first held-out pair")
    parser.add_argument("--clean_photos", type=int, default=6, help="held-out references restored as inputs")
    parser.add_argument("--tile_size", default="256", help="tile size of D3GM's restoration; 'none': whole images")
    parser.add_argument("--sampler", default="posterior", help="D3GM's sampler (the bundle's: posterior)")
    parser.add_argument("--steps", type=int, default=3, help="D3GM's steps (the bundle's: 3)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the benchmark needs the real data in {SHARED}")
    print(environment())
    net, inferer, holdout = load(args.task, args.weights)
    if args.sweep:
        sweep(args.task, net, inferer)
    classical_name, classical = (
        ("dark channel prior", dark_channel_prior) if args.task == "dehaze" else ("median 5x5", median_filter)
    )
    tile = None if args.tile_size.lower() == "none" else int(args.tile_size)
    restorer = D3GMImageRestorer(net, inferer, TiledRestoration(tile, 0.25, progress=False), args.steps, args.sampler)
    rows, record, figure = [], {}, None
    pairs = benchmark_pairs(args.task, holdout)
    cases = [(p["name"], split, read_rgb(p["input"]), read_rgb(p["target"])) for p, split in pairs]
    if args.task == "dehaze":
        cases += synthetic_haze_cases()
    leak_check(args.task, cases)
    for name, split, image, reference in cases:
        start = time.perf_counter()
        d3gm = restorer(image)["output"]
        seconds = time.perf_counter() - start
        outputs = {"input": image, classical_name: classical(image), "D3GM": d3gm}
        scores = {k: rgb_metrics(v, reference) for k, v in outputs.items()}
        size = f"{image.shape[2]}x{image.shape[1]}"
        rows.append([name, split, size, *[f"{s['psnr']:.2f} / {s['ssim']:.3f}" for s in scores.values()],
                     round(seconds, 1)])  # fmt: skip
        record[name] = {"split": split, "size": size, "seconds": seconds, "metrics": scores}
        if figure is None and split == "held out":
            figure = {"input": image, classical_name: outputs[classical_name], "output": d3gm, "reference": reference}
            figure_name = name
    print_table(
        f"{args.task}: PSNR / SSIM on uint8 RGB, full resolution ({lpips_status() or 'LPIPS computed'})",
        ["pair", "split", "size (WxH)", "input", classical_name, f"D3GM ({args.sampler} {args.steps})", "D3GM seconds"],
        rows,
    )
    for split in dict.fromkeys(r["split"] for r in record.values() if r["split"] != "seen in training"):
        summarise(split, [r for r in record.values() if r["split"] == split], classical_name)

    # a photo without rain or haze must come out unchanged: the held-out references given as inputs
    clean_rows = []
    for name, split, _, reference in cases[: args.clean_photos]:
        if split == "held out":
            m = rgb_metrics(restorer(reference)["output"], reference)
            clean_rows.append([name, f"{m['psnr']:.2f}", f"{m['ssim']:.4f}"])
            record[name]["clean_in"] = m
    print_table("The clean reference as input: D3GM output against it (higher: left alone)", ["photo", "PSNR",
                "SSIM"], clean_rows)  # fmt: skip

    smallest = min((c for c in cases if c[1] == "held out"), key=lambda c: c[2].size)
    image = smallest[2]
    whole = D3GMImageRestorer(net, inferer, TiledRestoration(None), sampler="ode", num_inference_steps=3)(image)
    tiled_rows = []
    for tile, overlap in ((128, 0.25), (256, 0.25), (256, 0.5)):
        tiled = D3GMImageRestorer(net, inferer, TiledRestoration(tile, overlap, progress=False), sampler="ode",
                                  num_inference_steps=3)(image)  # fmt: skip
        diff = np.abs(tiled["output"] - whole["output"])
        tiled_rows.append([tile, overlap, f"{10 * np.log10(1 / np.mean(diff**2)):.1f}", f"{diff.mean():.2e}",
                           f"{diff.max():.3f}"])  # fmt: skip
    print_table(f"Tiled vs whole on {smallest[0]} (ODE, 3 steps)", ["tile", "overlap", "PSNR dB", "mean |diff|",
                "max |diff|"], tiled_rows)  # fmt: skip
    save_json(args.json, {"pairs": record})
    if args.figure and figure is not None:
        save_comparison(args.figure, {k: v[:, ::4, ::4] if v.shape[1] > 1200 else v for k, v in figure.items()},
                        error_gain=2.0, title=f"{figure_name} (held out)")  # fmt: skip


if __name__ == "__main__":
    main()
