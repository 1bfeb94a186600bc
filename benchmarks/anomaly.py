"""Time MKD scoring and gradient localisation against their compute floors, side by side; writes
benchmarks/results/anomaly.csv (``--quick``: anomaly-quick.csv).

    python benchmarks/anomaly.py            # demo (narrow VGG16, 32 px, 64 images) and paper (VGG16, 128 px, 8 images) layouts
    python benchmarks/anomaly.py --quick    # tiny run to check the script works

- scoring: ``attriflow.anomaly.anomaly_scores`` (the per-image distillation loss). Floor: one
  expert forward plus one cloner forward to the deepest distilled stage, without gradients and
  without the loss arithmetic. Target: at most 1.2x the floor.
- gradient localisation: ``attriflow.anomaly.localise(..., "gradient")``, i.e. ``attribute()`` on
  the loss module, |.| summed over channels. Floor: that forward with gradients plus one backward
  through cloner and expert to the input (``torch.autograd.grad`` of the summed stage outputs).
  Target: at most 1.1x the floor.

One interleaved run: in every repetition each case times ours, then its floor, so load changes
hit both alike; the best of ``--repeats`` counts. Random weights (speed does not depend on them).
Columns: case, layout, images, side, attriflow_s, floor_s, over_floor, target.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from attriflow.anomaly import LossSpec, anomaly_scores, localise
from attriflow.anomaly.expert import freeze
from attriflow.anomaly.loss import DistillationLoss
from attriflow.models.vgg import mkd_cloner, stage_outputs, vgg16_narrow
from attriflow.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"scoring": 1.2, "gradient_localisation": 1.1}


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cases(layout: str, n: int, side: int):
    torch.manual_seed(0)
    width = 0.125 if layout == "demo" else 1.0
    expert = freeze(vgg16_narrow(num_classes=0, width=width, batch_norm=layout == "demo"))
    cloner = mkd_cloner(width=width).eval()
    spec = LossSpec()
    x = torch.rand(n, 3, side, side)
    loss = DistillationLoss(expert, cloner, spec).eval()

    @torch.no_grad()
    def score_floor():
        stage_outputs(expert, x, spec.stages)
        stage_outputs(cloner, x, spec.stages)

    def grad_floor():
        xi = x.detach().requires_grad_(True)
        out = stage_outputs(expert, xi, spec.stages) + stage_outputs(cloner, xi, spec.stages)
        torch.autograd.grad(sum(o.sum() for o in out), xi)

    return {
        "scoring": (lambda: anomaly_scores(expert, cloner, x, spec, batch_size=n), score_floor),
        "gradient_localisation": (lambda: localise(loss, x, "gradient", batch_size=n), grad_floor),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (demo layout, 4 images, one repetition)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = [("demo", 4, 32)] if args.quick else [("demo", 64, 32), ("paper", 8, 128)]
    repeats = 1 if args.quick else args.repeats
    rows = []
    for layout, n, side in settings:
        fns = cases(layout, n, side)
        for fn, floor in fns.values():  # warm-up
            fn(), floor()
        times = {name: [float("inf"), float("inf")] for name in fns}
        for _ in range(repeats):
            for name, (fn, floor) in fns.items():
                times[name][0] = min(times[name][0], _best(fn, 1))
                times[name][1] = min(times[name][1], _best(floor, 1))
        for name, (ours, fl) in times.items():
            rows.append({"case": name, "layout": layout, "images": n, "side": side, "attriflow_s": ours,
                         "floor_s": fl, "over_floor": ours / fl, "target": TARGETS[name]})
    df = pd.DataFrame(rows)
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    out = RESULTS / ("anomaly-quick.csv" if args.quick else "anomaly.csv")
    atomic_write_text(out, buf.getvalue())
    print(df.to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
