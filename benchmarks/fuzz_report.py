# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Run every property-based (fuzz) test and tabulate the inputs tried, by kind and outcome.

    python benchmarks/fuzz_report.py                    # the thorough profile (400 examples a property)
    python benchmarks/fuzz_report.py --profile ci       # what CI runs (30 derandomised examples a property)

Each fuzzed call is logged by ``tests/fuzz.py`` (``D3GM_FUZZ_LOG``): accepted, refused with a documented error (by
type), or a crash (an undocumented exception, which also fails the test). The table is printed, and saved as JSON with
``--output``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import print_table, save_json

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="thorough", choices=["ci", "thorough"])
    parser.add_argument("--output", help="save the counts as JSON")
    parser.add_argument("paths", nargs="*", help="test files (default: every tests/**/test_*_fuzz.py)")
    args = parser.parse_args()
    paths = args.paths or sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tests/**/test_*_fuzz.py"))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "fuzz.jsonl"
        env = {**os.environ, "HYPOTHESIS_PROFILE": args.profile, "D3GM_FUZZ_LOG": str(log)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", *paths]
        pytest_rc = subprocess.call(cmd, cwd=ROOT, env=env)
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        counts[r["kind"]][r["outcome"]] += 1
    rows = []
    for kind in sorted(counts):
        c = counts[kind]
        refused = {k: v for k, v in c.items() if k not in ("accepted", "crash")}
        rows.append(
            [
                kind,
                sum(c.values()),
                c["accepted"],
                ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "-",
                c["crash"],
            ]
        )
    total = collections.Counter()
    for c in counts.values():
        total.update(c)
    rows.append(
        [
            "all",
            sum(total.values()),
            total["accepted"],
            sum(total.values()) - total["accepted"] - total["crash"],
            total["crash"],
        ]
    )
    print_table(
        f"Fuzzed inputs ({args.profile} profile, {len(paths)} test files; pytest exit code {pytest_rc})",
        ["kind", "inputs", "accepted", "refused (documented error)", "crashes"],
        rows,
    )
    save_json(
        args.output,
        {"profile": args.profile, "pytest_rc": pytest_rc, "counts": {k: dict(v) for k, v in counts.items()}},
    )
    return pytest_rc


if __name__ == "__main__":
    sys.exit(main())
