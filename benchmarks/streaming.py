"""Streamed real datasets: flat memory in training, and decoding fast enough to feed a CPU training step.

    python benchmarks/streaming.py            # 20,000 images; DenseNet121 and ResNet50 steps at 224 px
    python benchmarks/streaming.py --quick    # 600 images, small steps: checks that the script runs

Writes ``benchmarks/results/streaming.csv`` (``--out``), one row per measurement:

- ``memory``: peak resident memory (MB, the process's ru_maxrss) of one training epoch of a small
  ResNet8 on N PNG files (64 px), streamed (:class:`~attriflow.data.streaming.StreamingSet`
  through ``train_run``) vs the same files decoded into an in-memory ``ImageSet`` first, each in a
  fresh process; streamed at N and at N/4 shows it stays flat (a few batches), in-memory grows with N.
- ``decode``: images/s of a DataLoader with 1 and 2 workers decoding and resizing to 224 px, for
  JPEG (500 x 375 RGB, ImageNet-like) and 16-bit-free 8-bit PNG (1024 x 1024 grey, NIH-like) files.
- ``train_step``: images/s of one CPU training step (forward, backward, Adam) of torchvision
  DenseNet121 (batch 60, the semantic-cxr setting) and ResNet50 (batch 64) at 224 px, and the ratio
  ``decode images/s with 2 workers / training images/s`` (> 1: two workers outpace the step).

Goal (issue 13): streamed peak memory independent of N; two workers outpace one CPU training step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from attriflow.utils.io import save_dataframe
from attriflow.utils.provenance import package_versions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def write_images(folder: Path, n: int, kind: str) -> list[Path]:
    """``n`` image files: ``png64`` (64 px RGB PNG), ``jpeg`` (500 x 375 RGB), ``png`` (1024 px grey)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        if kind == "png64":
            a = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
            p = folder / f"{i:06d}.png"
        elif kind == "jpeg":
            y, x = np.mgrid[0:375, 0:500]
            a = np.stack([(x + 7 * i) % 256, (y * 2) % 256, ((x + y) // 3) % 256], -1).astype(np.uint8)
            a = np.clip(a + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
            p = folder / f"{i:06d}.JPEG"
        else:
            y, x = np.mgrid[0:1024, 0:1024]
            a = np.clip(((x - 512) ** 2 + (y - 512) ** 2) ** 0.5 / 3 + rng.integers(0, 30, (1024, 1024)), 0, 255).astype(np.uint8)
            p = folder / f"{i:06d}.png"
        if not p.exists():
            Image.fromarray(a).save(p, quality=90) if kind == "jpeg" else Image.fromarray(a).save(p)
        paths.append(p)
    return paths


def streamed_set(paths: list[Path], mode: str, size: int):
    from attriflow.data.real._common import ImageDecoder
    from attriflow.data.streaming import StreamingSet

    targets = torch.arange(len(paths)) % 10
    return StreamingSet(paths, ImageDecoder(mode, draft=size), targets, "multiclass", 1 if mode == "L" else 3,
                        class_names=[str(i) for i in range(10)], image_size=(size, size), name="bench")


def _memory_child(folder: str, n: int, form: str) -> None:
    """One epoch of ResNet8 (width 0.25) on the first n files; prints the peak RSS in MB."""
    from attriflow.models.training import train_run
    from attriflow.models.training_data import Splits

    torch.set_num_threads(1)
    paths = sorted(Path(folder).glob("*.png"))[:n]
    data = streamed_set(paths, "RGB", 64)
    small = data.subset(slice(0, 64))
    if form == "memory":
        data = data.materialise(progress=False)
        small = small.materialise(progress=False)
    spec = {"model": "resnet8", "model_kwargs": {"width": 0.25}, "dataset": "bench", "epochs": 1, "batch_size": 128,
            "image_size": 64, "num_workers": 1, "device": "cpu"}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train_run(spec, Path(out) / "run", data=Splits(data, small, small), progress=False)
        seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))


def memory_rows(folder: Path, n: int) -> list[dict]:
    rows = []
    for form, count in (("streamed", n // 4), ("streamed", n), ("memory", n // 4), ("memory", n)):
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(folder), str(count), form],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"memory child failed: {done.stderr[-2000:]}")
        res = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"kind": "memory", "case": f"{form} resnet8 64px", "images": count, "workers": 1,
                     "value": round(res["peak_mb"], 1), "unit": "peak MB", "seconds": round(res["seconds"], 2)})
        print(rows[-1], file=sys.stderr)
    return rows


def decode_rows(folder: Path, n: int, size: int = 224) -> list[dict]:
    from attriflow.data.streaming import make_loader

    rows = []
    for kind, mode in (("jpeg", "RGB"), ("png", "L")):
        paths = write_images(folder / kind, n, kind)
        data = streamed_set(paths, mode, size)
        for workers in (1, 2):
            loader = make_loader(data, 16, num_workers=workers, prefetch_factor=4)
            it = iter(loader)
            next(it)  # workers started, first batch out
            start, seen = time.perf_counter(), 0
            for x, _ in it:
                seen += len(x)
            rate = seen / (time.perf_counter() - start)
            rows.append({"kind": "decode", "case": f"{kind} -> {size}px", "images": seen, "workers": workers,
                         "value": round(rate, 1), "unit": "images/s"})
            print(rows[-1], file=sys.stderr)
    return rows


def train_step_rows(quick: bool, decode: list[dict]) -> list[dict]:
    import torchvision

    torch.set_num_threads(2)
    rows = []
    best_two = min(r["value"] for r in decode if r["workers"] == 2)
    for name, batch in (("densenet121", 60), ("resnet50", 64)):
        batch = 4 if quick else batch
        model = getattr(torchvision.models, name)(num_classes=14)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x, y = torch.rand(batch, 3, 224, 224), torch.rand(batch, 14).round()
        times = []
        for _ in range(2 if quick else 3):
            start = time.perf_counter()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        rate = batch / min(times[1:])
        rows.append({"kind": "train_step", "case": f"{name} batch {batch} 224px", "images": batch, "workers": 0,
                     "value": round(rate, 2), "unit": "images/s",
                     "ratio": round(best_two / rate, 1)})  # slowest format's 2-worker decode / training rate
        print(rows[-1], file=sys.stderr)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="600 images and batch-4 steps, to check the script runs")
    p.add_argument("--images", type=int, default=None, help="images of the memory test (default 20000, quick 600)")
    p.add_argument("--work", default=None, help="folder for the generated image files (default: a temporary one)")
    p.add_argument("--out", default=str(RESULTS / "streaming.csv"))
    p.add_argument("--memory-child", nargs=3, metavar=("FOLDER", "N", "FORM"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        folder, n, form = args.memory_child
        _memory_child(folder, int(n), form)
        return 0
    n = args.images or (600 if args.quick else 20000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        print(f"writing {n} PNG files to {work / 'png64'} ...", file=sys.stderr)
        write_images(work / "png64", n, "png64")
        rows = memory_rows(work / "png64", n)
        rows += (decode := decode_rows(work, 48 if args.quick else 400))
        rows += train_step_rows(args.quick, decode)
    df = pd.DataFrame(rows)
    df["torch"] = package_versions().get("torch")
    save_dataframe(args.out, df)
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
