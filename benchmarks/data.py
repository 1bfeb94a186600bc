"""Time the generation of every embedded dataset at its full (demo) size; writes benchmarks/results/data.csv.

    python benchmarks/data.py            # all generators, full size, in a temporary folder
    python benchmarks/data.py --quick    # small sizes, to check the script runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from attriflow.data.embedded import GENERATORS
from attriflow.utils.io import save_dataframe
from attriflow.utils.provenance import package_versions


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "data.csv"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, generate in sorted(GENERATORS.items()):
            start = time.perf_counter()
            out = generate(Path(tmp) / name, seed=0, n=32 if args.quick else None)
            seconds = time.perf_counter() - start
            rows.append({"dataset": name, "seconds": round(seconds, 2), "megabytes": round(folder_bytes(Path(out)) / 2**20, 1)})
            print(f"{name:14s} {seconds:7.2f} s  {rows[-1]['megabytes']:8.1f} MB", flush=True)
    df = pd.DataFrame(rows)
    total = df["seconds"].sum()
    df = pd.concat([df, pd.DataFrame([{"dataset": "TOTAL", "seconds": round(total, 2), "megabytes": df["megabytes"].sum()}])])
    df["torch"] = package_versions()["torch"]
    df["quick"] = args.quick
    if not args.quick:
        save_dataframe(args.out, df)
    print(f"total {total:.1f} s (goal: under 120 s on 2 cores)")


if __name__ == "__main__":
    main()
