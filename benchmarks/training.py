"""Time one epoch of every training run of a config on synthetic data of the demo size; writes
benchmarks/results/training.csv with images/s and the estimated seconds of each full run.

    python benchmarks/training.py                       # the runs of config/config.yaml
    python benchmarks/training.py --runs shapes32-resnet8 cxr-multilabel
    python benchmarks/training.py --quick               # 64 images per run, to check the script runs

Random images and targets of each view's shape and split sizes stand in for the data (speed does
not depend on content). The estimate of a run is the one-epoch run (building, one epoch, validation,
test, writing) plus (epochs - 1) x (one epoch + one validation pass, a third of a step per image).
Goal: all demo runs together under 8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from attriflow.data.imageset import ImageSet
from attriflow.models import train_run
from attriflow.models.training_data import Splits
from attriflow.utils.io import save_dataframe
from attriflow.utils.provenance import package_versions

ROOT = Path(__file__).resolve().parent.parent
TEXTURE_CATEGORIES = 15
# view -> (channels, side, train, val, test, task, outputs): the demo sizes of the embedded generators
VIEWS = {
    "shapes32": (3, 32, 5000, 250, 750, "multiclass", 10),
    "shapes64": (3, 64, 3000, 200, 500, "multiclass", 10),
    "cxr-multilabel": (1, 64, 1680, 240, 480, "multilabel", 14),
    "cxr-severity": (1, 64, 1680, 240, 480, "regression", 1),
    "cxr-zones": (1, 64, 1680, 240, 480, "zones", 6),
    "cxr-weak": (1, 64, 1680, 240, 480, "binary", 2),
    "textures/<category>": (3, 64, 72, 8, 50, "binary", 2),  # 80 normal training images, 10% held out
    "digits": (1, 32, 1348, 0, 449, "multiclass", 10),
}


def _targets(task: str, n: int, k: int, g: torch.Generator) -> torch.Tensor:
    if task in ("multiclass", "binary"):
        return torch.arange(n) % k
    if task == "multilabel":
        return (torch.rand(n, k, generator=g) < 0.3).float()
    if task == "zones":
        return torch.randint(0, 4, (n, k), generator=g)
    return torch.randint(0, 19, (n,), generator=g).float()


def synthetic_splits(dataset: str | list[str], image_size: int | None, limit: int | None) -> Splits:
    """Random splits shaped like ``dataset`` (several views: one multi-class task, as training merges them)."""
    views = []
    for v in dataset if isinstance(dataset, list) else [dataset]:
        views += [f"textures/{i}" for i in range(TEXTURE_CATEGORIES)] if v == "textures/*" else [v]
    shapes = [VIEWS["textures/<category>" if v.startswith("textures/") else v] for v in views]
    channels = max(s[0] for s in shapes)
    side = image_size or shapes[0][1]
    task = shapes[0][5] if len(shapes) == 1 else "multiclass"
    outputs = shapes[0][6] if len(shapes) == 1 else sum(s[6] if s[5] == "multiclass" else 1 for s in shapes)
    g = torch.Generator().manual_seed(0)
    parts = []
    for i, part in enumerate(("train", "val", "test")):
        n = sum(s[2 + i] or max(1, s[2] // 10) for s in shapes)
        n = min(n, limit) if limit else n
        images = torch.rand(n, channels, side, side, generator=g)
        names = [f"c{j}" for j in range(outputs)] if task != "zones" else [f"z{j}" for j in range(6)]
        parts.append(ImageSet(images=images, targets=_targets(task, n, outputs, g), task=task, class_names=names,
                              name="+".join(views)))
    return Splits(*parts)


def run_specs(config: Path, names: list[str] | None) -> dict[str, dict]:
    cfg = yaml.safe_load(config.read_text())
    specs = {}
    for name, run in cfg["runs"].items():
        if names and name not in names:
            continue
        spec = {**cfg["train_defaults"], **run, "device": "cpu", "scale": cfg.get("scale")}
        spec["init"] = "random"  # speed does not depend on the initial weights
        specs[name] = spec
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--runs", nargs="*", default=None, help="only these run ids")
    parser.add_argument("--quick", action="store_true", help="64 training images per run: checks the script, times nothing")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "training.csv"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in run_specs(Path(args.config), args.runs).items():
            limit = 64 if args.quick else spec.get("limit")
            data = synthetic_splits(spec["dataset"], spec.get("image_size"), limit)
            start = time.perf_counter()
            result = train_run({**spec, "epochs": 1}, Path(tmp) / name, data=data, progress=False)
            total = time.perf_counter() - start
            epoch = result["timing"][0]  # timings live in metrics.json, not in metrics.csv
            validation = epoch["train_seconds"] * len(data.val) / (3 * len(data.train))  # forward only: ~1/3 of a step
            estimate = total + (spec["epochs"] - 1) * (epoch["train_seconds"] + validation)
            rows.append({"run": name, "model": spec["model"], "dataset": str(spec["dataset"]), "n_train": len(data.train),
                         "side": data.train.images.shape[-1], "batch_size": spec["batch_size"], "epochs": spec["epochs"],
                         "parameters": result["num_parameters"], "images_per_second": round(epoch["images_per_second"], 1),
                         "epoch_seconds": round(epoch["train_seconds"], 2), "one_epoch_run_seconds": round(total, 2),
                         "estimated_run_seconds": round(estimate, 1)})
            print(f"{name:24s} {rows[-1]['images_per_second']:8.1f} img/s  epoch {rows[-1]['epoch_seconds']:6.2f} s  "
                  f"full run ~{rows[-1]['estimated_run_seconds']:6.1f} s", flush=True)
    df = pd.DataFrame(rows)
    total = df["estimated_run_seconds"].sum()
    df["torch"] = package_versions()["torch"]
    df["threads"] = torch.get_num_threads()
    df["quick"] = args.quick
    if not args.quick:
        save_dataframe(args.out, df)
    print(f"estimated total {total:.0f} s for {len(df)} runs (goal: under 480 s on 2 cores)")


if __name__ == "__main__":
    main()
