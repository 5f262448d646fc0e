# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Calibrated posterior intervals of the reconstruction bundle, on people the calibration never saw.

The calibration slices are the bundle's validation people (``configs/data_split.json``: 3 brains, 3 lumbar spines);
the benchmark slices are the split's benchmark people, grouped as brain (C-STAR FLAIR, TCGA, Utah, BraTS: the
calibration distribution), lumbar spine (also in it) and knee (off it: an anatomy neither training nor calibration
saw). Every slice is simulated as validation simulates it (noisy single- and multi-coil k-space, random 1-D masks at
4x and 8x) and reconstructed as the bundle does, with ``max(--counts)`` posterior samples; the first n of them give
the estimate of n samples.

For each calibration variant (one scale for both accelerations, or one per acceleration; with a floor on the
spread; one scale per intensity quintile) and sample count it prints, per group: the marginal coverage of the 90 %
intervals over foreground pixels (reference > 10 % of its peak, dilated), the lowest coverage of the five width
quintiles (size-stratified coverage), the mean width (units of the slice's peak) and the Spearman correlation of
width with |error|, with the raw "±2 std" band beside. The issue's bar: brain coverage in [0.88, 0.95], every width
quintile >= 0.80, Spearman >= 0.4.

    python benchmarks/uncertainty.py [--slices 4] [--counts 2 4 8 16] [--json uncertainty.json] [--figure unc.png]

``--task super_resolution`` scores the super-resolution bundle's shipped calibration (``models/calibration.json``,
one group per degradation) on the same benchmark people, per degradation.

``--task derain`` / ``--task dehaze`` fit a photo bundle's calibration as its ``calibrate.json`` does (its validation
photos, the same sampler, tiles and seed), in several variants, against a constant band that ignores the spread, and
score them over every pixel of photos it never saw: the bundle's synthetic rain or haze on the clean photos of the
ten Rain100H benchmark pairs (the calibration distribution), the held-out real pairs, and clean photos given unchanged
(``--cache samples.pt`` keeps the samples for a rerun).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from monai_d3gm.apps.reconstruction.calibration import fit_calibration, posterior_estimates
from monai_d3gm.apps.reconstruction.dataset import split_volumes
from monai_d3gm.apps.reconstruction.validation import ReconstructionValidator, held_out_cases
from monai_d3gm.uncertainty import interval_coverage
from monai_d3gm.visualize import save_comparison

from _common import environment, load_bundle_network, print_table, save_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BUNDLE = ROOT / "bundles" / "mri_reconstruction_d3gm"
SPLIT = BUNDLE / "configs" / "data_split.json"
LEVEL = 0.9
#: the bundle's sampler settings (inference.json)
SAMPLER = {
    "sampler": "posterior",
    "num_inference_steps": 3,
    "data_consistency": "hard",
    "sense_lam": 0.1,
    "sense_iterations": 5,
    "coil_combination": "rss",
}
VARIANTS = {
    "pooled accelerations": {"bins": 1, "floor": 0.0, "per_acceleration": False},
    "per acceleration": {"bins": 1, "floor": 0.0, "per_acceleration": True},
    "per acceleration + floor 0.01 (the bundle's)": {"bins": 1, "floor": 0.01, "per_acceleration": True},
    "per acceleration and intensity quintile": {"bins": 5, "floor": 0.0, "per_acceleration": True},
}


def group_of(volume: dict) -> str:
    path = volume["path"].lower()
    if "knee" in path:
        return "knee"
    if "ivd" in path or "vb" in path or "spine" in path:
        return "lumbar spine"
    return "brain"


def estimates(volumes, slices, counts, net, inferer) -> list[dict]:
    cases = held_out_cases(volumes, slices)
    groups = [group_of(v) for v in volumes for _ in range(slices)]
    validator = ReconstructionValidator(cases, inferer, **SAMPLER)
    entries = posterior_estimates(validator, net, counts)
    for i, e in enumerate(entries):
        e["group"] = groups[i % len(cases)]
    return entries


def score(entries, calibration, n, group_key: str | None = "acceleration", high=None, threshold=0.1) -> dict:
    """Means over the images of one set: coverage of the foreground pixels (above ``threshold`` of the reference's
    peak; 0: every pixel), the lowest width-quintile coverage, width, Spearman; the calibration group is the one of
    ``entry[group_key]``; without a calibration, the raw "mean ± 2 std" band."""
    rows = []
    for e in entries:
        mean, std = (torch.as_tensor(v) for v in e["estimates"][n])
        if calibration is None:
            lower, upper = (mean - 2 * std).clamp(min=0, max=high), (mean + 2 * std).clamp(min=None, max=high)
        else:
            group = None if group_key is None else calibration.nearest_group(e[group_key])
            lower, upper = calibration.interval(mean, std, n, LEVEL, low=0.0, group=group, high=high)
        rows.append(interval_coverage(lower, upper, e["reference"], mean=mean, threshold=threshold))
    return {
        "coverage": float(np.mean([r["coverage"] for r in rows])),
        "worst_quintile": float(np.min(np.mean([r["coverage_by_width"] for r in rows], 0))),
        "width": float(np.mean([r["width"] for r in rows])),
        "spearman": float(np.nanmean([r["spearman"] for r in rows])),
        "min_slice_coverage": float(np.min([r["coverage"] for r in rows])),
    }


def super_resolution(args) -> None:
    """The super-resolution bundle's shipped calibration on the benchmark people, per group and degradation."""
    from monai_d3gm.apps.super_resolution import calibration as sr_calibration
    from monai_d3gm.apps.super_resolution.validation import held_out_slices
    from monai_d3gm.uncertainty import IntervalCalibration

    bundle = ROOT / "bundles" / "mri_super_resolution_d3gm"
    net, inferer = load_bundle_network(bundle, args.weights)
    calibration = IntervalCalibration.load(bundle / "models" / "calibration.json")
    volumes = split_volumes(SPLIT, "benchmark", SHARED)
    cases = held_out_slices(volumes, args.benchmark_slices)
    groups = {v.get("person"): group_of(v) for v in volumes}
    start = time.perf_counter()
    entries = sr_calibration.posterior_estimates(cases, net, inferer, args.counts)
    print(f"sampling: {time.perf_counter() - start:.0f} s, {len(entries)} benchmark images")
    rows, record = [], {}
    for n in args.counts:
        for group in ("brain", "lumbar spine", "knee"):
            for degradation in ("kspace", "blur"):
                part = [
                    e for e in entries if groups[e["name"].split("#")[0]] == group and e["degradation"] == degradation
                ]
                raw = score(part, None, n)
                s = score(part, calibration, n, "degradation")
                record.setdefault(str(n), {})[f"{group} {degradation}"] = {"calibrated": s, "raw": raw}
                ok = 0.88 <= s["coverage"] <= 0.95 and s["worst_quintile"] >= 0.8
                rows.append([n, group, degradation, len(part), f"{raw['coverage']:.3f}", f"{s['coverage']:.3f}",
                             f"{s['worst_quintile']:.3f}", f"{s['min_slice_coverage']:.3f}", f"{s['width']:.4f}",
                             f"{s['spearman']:.2f}", "yes" if ok else "no"])  # fmt: skip
    print_table(f"super-resolution: shipped calibration, {LEVEL:.0%} intervals", ["n", "set", "degradation", "slices",
                "raw ±2 std", "coverage", "worst width quintile", "worst slice", "mean width", "Spearman",
                "in [0.88, 0.95], quintiles >= 0.8"], rows)  # fmt: skip
    save_json(args.json, record)


#: real pairs the derain weights' first stage (0.2.x) trained on: reported apart from the held-out ones
STARTING_WEIGHTS_PAIRS = {"airnet_rain100l_1", "mfdnet_rain_pairs_1"}
PHOTO_VARIANTS = {
    "floor 0": {"bins": 1, "floor": 0.0},
    "floor 0.002": {"bins": 1, "floor": 0.002},
    "floor 0.01": {"bins": 1, "floor": 0.01},
    "floor 0.03": {"bins": 1, "floor": 0.03},
    "floor 0.1": {"bins": 1, "floor": 0.1},
    "floor 0, intensity quintiles": {"bins": 5, "floor": 0.0},
    "constant band (the spread ignored; floor 0.01 alone)": {"bins": 1, "floor": 0.01, "constant": True},
}


def without_spread(entries: list[dict]) -> list[dict]:
    """The entries with a zero spread: their calibrated interval is mean ± λ·0.01·peak, one width per photo (the
    baseline a spread must beat to carry information about the error)."""
    return [{**e, "estimates": {n: (m, np.zeros_like(np.asarray(s))) for n, (m, s) in e["estimates"].items()}}
            for e in entries]  # fmt: skip


def photo(args) -> None:
    """A photo bundle's calibration, fitted here as its ``calibrate.json`` fits it (its validation photos: CBSD68 with
    ``calibration_draws`` seeded synthetic degradations each and, for deraining, the 4 Rain100H validation pairs;
    the same sampler, tiles and seed, so the bundle's floor gives the shipped scales), in several variants, on photos
    it never saw: the bundle's own synthetic rain or haze on the clean photos of the ten Rain100H benchmark pairs
    (the calibration distribution), the held-out real pairs (off it: real rain and haze), and clean photos given
    unchanged. Every pixel of every channel is scored."""
    import photo_restoration as photos

    from monai_d3gm.apps.restoration import read_rgb
    from monai_d3gm.apps.restoration.calibration import posterior_estimates as photo_estimates
    from monai_d3gm.apps.restoration.pairs import find_pairs
    from monai_d3gm.apps.restoration.tiling import TiledRestoration
    from monai_d3gm.apps.restoration.transforms import RandSyntheticDegradation
    from monai_d3gm.apps.restoration.validation import photo_validation_cases
    from monai_d3gm.uncertainty import fit_groups

    bundle = ROOT / "bundles" / f"{args.task}_d3gm"
    net, inferer, holdout = photos.load(args.task, args.weights)
    configs = {c: json.loads((bundle / "configs" / f"{c}.json").read_text()) for c in ("inference", "calibrate",
                                                                                         "train")}  # fmt: skip
    kind = {"derain": "rain", "dehaze": "haze"}[args.task]
    calibration_cases = photo_validation_cases(
        [SHARED / photos.DATA[args.task][-1]], configs["train"]["validation_pairs"], [SHARED / "clean-photos" /
        "cbsd68"], kind, draws=configs["calibrate"]["calibration_draws"])  # fmt: skip
    clean = [read_rgb(p["target"]) for p in find_pairs(SHARED / "derain-pairs-more")
             if p["name"] in photos.RAIN100H_BENCHMARK]  # fmt: skip
    degrade = RandSyntheticDegradation(kind, prob=1.0)
    cases = []
    for i, reference in enumerate(clean):
        for k in range(args.draws):
            degrade.set_random_state(1000 + i + k * len(clean))  # seeds the calibration (0 to 29) does not draw
            cases.append({"name": f"synthetic {i}.{k}", "set": f"synthetic {kind} (calibration distribution)",
                          "input": degrade(reference), "reference": reference})  # fmt: skip
    for pair, split in photos.benchmark_pairs(args.task, holdout):
        if split == "held out":
            image, reference = read_rgb(pair["input"]), read_rgb(pair["target"])
            if image.shape[1] * image.shape[2] > 2_000_000:  # O-HAZE (7 Mpx): at a quarter of its size
                image, reference = image[:, ::4, ::4].copy(), reference[:, ::4, ::4].copy()
            seen = pair["name"] in STARTING_WEIGHTS_PAIRS
            cases.append({"name": pair["name"], "set": f"real {kind} ({'seen in stage 1' if seen else 'held out'})",
                          "input": image, "reference": reference})  # fmt: skip
    for i, reference in enumerate(clean[: args.clean_photos]):
        cases.append({"name": f"clean {i}", "set": "clean photo as input", "input": reference, "reference": reference})
    settings = configs["inference"]
    tiling = TiledRestoration(settings["tile_size"], settings["tile_overlap"], progress=False)
    sampler = {k: settings[k] for k in ("num_inference_steps", "sampler", "seed")}
    start = time.perf_counter()
    if args.cache and Path(args.cache).is_file():  # the samples of an earlier run with the same settings
        calibration_entries, entries = torch.load(args.cache, weights_only=False)
    else:
        calibration_entries = photo_estimates(calibration_cases, net, inferer, args.counts, tiling, **sampler)
        entries = photo_estimates(cases, net, inferer, args.counts, tiling, **sampler)
        if args.cache:
            torch.save((calibration_entries, entries), args.cache)
    print(f"sampling: {time.perf_counter() - start:.0f} s, {len(calibration_entries)} calibration and "
          f"{len(entries)} benchmark photos")  # fmt: skip
    sets = {e["name"]: c["set"] for e, c in zip(entries, cases)}
    shipped = configs["calibrate"]["calibration_floor"]
    record = {}
    for variant, fit in {"raw ±2 std": None, **PHOTO_VARIANTS}.items():
        calibration, fit = None, dict(fit or {})
        scored = without_spread(entries) if fit.pop("constant", False) else entries
        if fit:
            fitted = without_spread(calibration_entries) if scored is not entries else calibration_entries
            calibration = fit_groups(fitted, [LEVEL], foreground=0.0, multichannel=True, **fit)
        rows = []
        for n in args.counts:
            for name in dict.fromkeys(c["set"] for c in cases):
                s = score([e for e in scored if sets[e["name"]] == name], calibration, n, None, 1.0, 0.0)
                record.setdefault(variant, {}).setdefault(str(n), {})[name] = s
                ok = 0.88 <= s["coverage"] <= 0.95 and s["worst_quintile"] >= 0.8
                rows.append([n, name, sum(sets[e["name"]] == name for e in entries), f"{s['coverage']:.3f}",
                             f"{s['worst_quintile']:.3f}", f"{s['min_slice_coverage']:.3f}", f"{s['width']:.4f}",
                             f"{s['spearman']:.2f}", "yes" if ok else "no"])  # fmt: skip
        title = variant if not fit else f"{variant} ({LEVEL:.0%} intervals, {len(calibration_entries)} photos)"
        title += " (the bundle's)" if fit and scored is entries and fit["bins"] == 1 and fit["floor"] == shipped else ""
        print_table(f"{args.task}: {title}, every pixel", ["n", "set", "photos", "coverage", "worst width quintile",
                    "worst photo", "mean width", "Spearman", "in [0.88, 0.95], quintiles >= 0.8"], rows)  # fmt: skip
    save_json(args.json, record)
    if args.figure:
        calibration = fit_groups(calibration_entries, [LEVEL], floor=shipped, foreground=0.0, multichannel=True)
        e = next(e for e in entries if e["name"] == args.figure_photo or not args.figure_photo and "held" in
                 sets[e["name"]])  # fmt: skip
        n = args.counts[-1]
        mean, std = (torch.as_tensor(v) for v in e["estimates"][n])
        lower, upper = calibration.interval(mean, std, n, LEVEL, low=0.0, high=1.0)
        half = "90 % interval half-width"
        case = next(c for c in cases if c["name"] == e["name"])
        panels = {"input": case["input"], "output": mean.numpy(), "reference": e["reference"],
                  half: ((upper - lower) / 2).numpy()}  # fmt: skip
        save_comparison(args.figure, panels, error_gain=2.0, error_panels=[half],
                        title=f"{e['name']}, {n} samples: covered where the error is below the half-width")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--task", choices=["reconstruction", "super_resolution", "derain", "dehaze"], default="reconstruction"
    )
    parser.add_argument("--draws", type=int, default=2, help="photos: synthetic degradations per clean photo")
    parser.add_argument("--clean_photos", type=int, default=5, help="photos: clean photos given unchanged")
    parser.add_argument("--figure_photo", default=None, help="photos: the pair of the figure (default: the first)")
    parser.add_argument("--cache", default=None, help="photos: a file keeping the samples (read when it exists)")
    parser.add_argument("--slices", type=int, default=4, help="slices per calibration volume")
    parser.add_argument("--benchmark_slices", type=int, default=2, help="slices per benchmark volume")
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--figure", default=None, help="PNG: mean, error and interval width of one brain slice")
    args = parser.parse_args()
    if not SPLIT.is_file() or not SHARED.is_dir():
        sys.exit(f"the benchmark needs the real data in {SHARED}")
    print(environment())
    if args.task == "super_resolution":
        return super_resolution(args)
    if args.task in ("derain", "dehaze"):
        return photo(args)
    net, inferer = load_bundle_network(BUNDLE, args.weights)
    start = time.perf_counter()
    calibration_entries = estimates(split_volumes(SPLIT, "validation", SHARED), args.slices, args.counts, net, inferer)
    benchmark_entries = estimates(
        split_volumes(SPLIT, "benchmark", SHARED), args.benchmark_slices, args.counts, net, inferer
    )
    print(f"sampling: {time.perf_counter() - start:.0f} s, {len(calibration_entries)} calibration and "
          f"{len(benchmark_entries)} benchmark images")  # fmt: skip
    groups = sorted({e["group"] for e in benchmark_entries}, key=["brain", "lumbar spine", "knee"].index)
    record: dict = {}
    for variant, settings in {"raw ±2 std": None, **VARIANTS}.items():
        calibration = None if settings is None else fit_calibration(calibration_entries, [LEVEL], **settings)
        rows = []
        for n in args.counts:
            for group in groups:
                for acceleration in (4.0, 8.0):
                    part = [e for e in benchmark_entries if e["group"] == group and e["acceleration"] == acceleration]
                    s = score(part, calibration, n)
                    record.setdefault(variant, {}).setdefault(str(n), {})[f"{group} {acceleration:.0f}x"] = s
                    ok = 0.88 <= s["coverage"] <= 0.95 and s["worst_quintile"] >= 0.8
                    rows.append([n, group, f"{acceleration:.0f}x", len(part), f"{s['coverage']:.3f}",
                                 f"{s['worst_quintile']:.3f}", f"{s['min_slice_coverage']:.3f}", f"{s['width']:.4f}",
                                 f"{s['spearman']:.2f}", "yes" if ok else "no"])  # fmt: skip
        count = len(calibration_entries)
        title = variant if settings is None else f"{variant} ({LEVEL:.0%} intervals, {count} calibration images)"
        print_table(title, ["n", "set", "accel", "slices", "coverage", "worst width quintile", "worst slice",
                            "mean width", "Spearman", "in [0.88, 0.95], quintiles >= 0.8"], rows)  # fmt: skip
    save_json(args.json, record)
    if args.figure:
        brain = next(e for e in benchmark_entries if e["group"] == "brain" and e["acceleration"] == 8.0)
        n = args.counts[-1]
        calibration = fit_calibration(calibration_entries, [LEVEL], floor=0.01)
        mean, std = brain["estimates"][n]
        lower, upper = calibration.interval(mean, std, n, LEVEL, low=0.0, group="8x")
        half = "90 % interval half-width"
        panels = {"output": mean, "reference": brain["reference"], half: (upper - lower) / 2}
        save_comparison(args.figure, {k: torch.as_tensor(v).numpy() for k, v in panels.items()}, error_gain=5.0,
                        title=f"{brain['name']} 8x, {n} samples: covered where the error is below the half-width",
                        error_panels=[half])  # fmt: skip


if __name__ == "__main__":
    main()
