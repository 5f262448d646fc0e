# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Plot training-loss curves from ``LossLogger`` CSV files (``iteration,loss``) into one PNG.

    python benchmarks/plot_loss.py out.png D3GM=bundles/mri_reconstruction_d3gm/runs/d3gm/train_loss.csv \\
        "IR-SDE=bundles/mri_reconstruction_d3gm/runs/irsde/train_loss.csv"
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("curves", nargs="+", help="LABEL=path/to/train_loss.csv")
    parser.add_argument("--window", type=int, default=10, help="moving-average window (rows)")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for curve in args.curves:
        label, path = curve.rsplit("=", 1)
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        it, loss = data[:, 0], data[:, 1]
        w = max(1, min(args.window, len(loss)))
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax.plot(it, loss, alpha=0.25)
        ax.plot(it[w - 1 :], smooth, label=f"{label} (moving mean of {w})", color=ax.lines[-1].get_color())
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
