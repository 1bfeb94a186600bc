"""Dissection cost against one forward pass over the probe set and against the straightforward
reference implementation, side by side; peak memory as the probe set grows. Writes
benchmarks/results/dissection.csv (or dissection-quick.csv).

    python benchmarks/dissection.py            # densenet121 224 px (paper layer) + the demo small DenseNet
    python benchmarks/dissection.py --quick    # tiny run to check the script works

Speed cases (random weights, random images, random blob masks; one interleaved run, best of
``--repeats``): the forward floor is the whole model's forward over the probe in batches
(``torch.no_grad``); ``attriflow`` is :func:`attriflow.dissection.dissect_layer` (forward up to
the layer, exact thresholds, upsampling as two matmuls, IoU); ``reference`` is
:func:`attriflow.dissection.dissect_reference` (every activation held, ``np.quantile`` and
``F.interpolate`` per unit, IoU per concept). ``identical``: thresholds and IoUs equal bit for bit.

Memory case: each probe size runs in a fresh process that streams generated batches (so the
input does not grow with the probe), and reports the peak resident memory while dissecting
above the level before it (``/proc/self/statm`` sampled every 2 ms); ours should stay flat, the
reference (every activation and mask held) grows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from attriflow.dissection import dissect_layer, dissect_reference
from attriflow.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def build(case: str):
    """(model, layer, image size, concepts, mask size) of a case."""
    if case == "densenet121":
        import torchvision

        model = torchvision.models.densenet121(weights=None).eval()
        return model, "features.norm5", 224, 14, 56
    if case == "densenet121-small":
        import torchvision

        model = torchvision.models.densenet121(weights=None).eval()
        return model, "features.norm5", 96, 14, 24
    from attriflow.models.registry import create_model

    model = create_model("small_densenet", num_classes=14, in_chans=1, output_stride=8).eval()
    return model, "features.relu5", 64, 15, 64


def batches(n: int, batch: int, size: int, channels: int, k: int, mask_size: int, seed: int = 0):
    """Generated probe batches: random images and blob masks, one batch in memory at a time."""
    g = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch):
        b = min(batch, n - start)
        images = torch.rand(b, channels, size, size, generator=g)
        low = torch.randn(b, k, 4, 4, generator=g)
        masks = F.interpolate(low, size=mask_size, mode="bilinear", align_corners=False) > 1.0
        yield images, masks


def materialise(n, batch, size, channels, k, mask_size):
    parts = list(batches(n, batch, size, channels, k, mask_size))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def forward_all(model, images, batch):
    for start in range(0, len(images), batch):
        model(images[start:start + batch])


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def speed(case: str, n: int, batch: int, repeats: int, with_reference: bool) -> dict:
    model, layer, size, k, mask_size = build(case)
    channels = model.features.conv0.in_channels
    images, masks = materialise(n, batch, size, channels, k, mask_size)
    row = {"case": case, "layer": layer, "images": n, "image_size": size, "mask_size": mask_size, "concepts": k}
    t_fwd, t_ours, t_ref = [], [], []
    ours = ref = None
    for _ in range(repeats):  # interleaved: load changes hit all alike
        t_fwd.append(best_of(lambda: forward_all(model, images, batch), 1)[0])
        t, ours = best_of(lambda: dissect_layer(model, layer, (images, masks), batch_size=batch, progress=False), 1)
        t_ours.append(t)
        if with_reference:
            t, ref = best_of(lambda: dissect_reference(model, layer, (images, masks), batch_size=batch), 1)
            t_ref.append(t)
    row.update(units=len(ours.thresholds), map_size=f"{ours.map_size[0]}x{ours.map_size[1]}",
               forward_s=min(t_fwd), attriflow_s=min(t_ours), over_forward=min(t_ours) / min(t_fwd))
    if with_reference:
        row.update(reference_s=min(t_ref), reference_over_forward=min(t_ref) / min(t_fwd),
                   speedup=min(t_ref) / min(t_ours),
                   identical=bool(torch.equal(ours.thresholds, ref.thresholds) and torch.equal(ours.iou, ref.iou)),
                   max_abs_iou_diff=float((ours.iou - ref.iou).abs().max()))
    return row


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def memory_child(case: str, n: int, batch: int, impl: str) -> None:
    """Peak resident memory (sampled every 2 ms) while dissecting, above the level before it."""
    import threading

    model, layer, size, k, mask_size = build(case)
    channels = model.features.conv0.in_channels
    base = _rss_mb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    data = batches(n, batch, size, channels, k, mask_size)
    if impl == "attriflow":
        dissect_layer(model, layer, data, batch_size=batch, progress=False)
    else:
        dissect_reference(model, layer, data, batch_size=batch)
    done.set()
    thread.join()
    print(json.dumps({"peak_mb": max(peak[0], _rss_mb()), "base_mb": base}))


def memory(case: str, sizes: list[int], batch: int) -> list[dict]:
    rows = []
    for impl in ("attriflow", "reference"):
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--memory-child", case, str(n), str(batch), impl],
                                 capture_output=True, text=True, check=True)
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"case": f"{case} memory", "implementation": impl, "images": n,
                         "peak_above_model_mb": round(rec["peak_mb"] - rec["base_mb"], 1)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--memory-child", nargs=4, metavar=("CASE", "N", "BATCH", "IMPL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.manual_seed(0)
    if args.memory_child:
        case, n, batch, impl = args.memory_child
        memory_child(case, int(n), int(batch), impl)
        return
    if args.quick:
        speeds = [speed("small_densenet", 32, 16, 1, True), speed("densenet121-small", 8, 8, 1, True)]
        mem = memory("small_densenet", [64, 512], 32)
        out = RESULTS / "dissection-quick.csv"
    else:
        speeds = [speed("small_densenet", 200, 64, args.repeats, True),
                  speed("densenet121", 64, 32, args.repeats, False),
                  speed("densenet121", 16, 16, 1, True)]
        mem = memory("small_densenet", [200, 800, 3200], 64) + memory("densenet121", [32, 128], 32)
    table = pd.concat([pd.DataFrame(speeds), pd.DataFrame(mem)], ignore_index=True)
    out = RESULTS / ("dissection-quick.csv" if args.quick else "dissection.csv")
    atomic_write_text(out, table.to_csv(index=False))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
