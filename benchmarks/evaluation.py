"""Time every evaluation against Quantus 0.6 on the same inputs and against its compute floor,
side by side; writes benchmarks/results/evaluation.csv.

    pip install -e ".[bench]"                  # the peers (Quantus)
    python benchmarks/evaluation.py            # resnet18, random weights, 16 x 3 x 48 x 48 (+ resnet50 at 224 px)
    python benchmarks/evaluation.py --quick    # tiny run to check the script works (evaluation-quick.csv)

One interleaved run: in every repetition each case times ours, then Quantus, then the floor, so
load changes hit all alike; the best of ``--repeats`` counts. Settings are chosen so both compute
the same numbers (``max_abs_diff`` between them):

- pixel_flipping: MoRF removal of 1/48 of the pixels per step until all are gone (48 px images,
  because Quantus needs H*W divisible by its step), fill = a fixed colour, softmax probability of
  the target. Floor: the forward passes of the N x steps perturbed images, pre-built, in chunks.
- randomisation[layers]: cascading randomisation of every parameterised layer top-down with
  Quantus' re-draw (``reset_parameters`` after ``torch.manual_seed(43)``), Spearman of |gradient|.
  Quantus gets the original maps precomputed (``a_batch``), so both explain stages + 1 times.
  Floor: (stages + 1) x T1, T1 = one forward plus one input gradient of the batch.
- randomisation[blocks, 4 measures]: the papers' procedure (ResNet blocks, N(0, 0.1), SSIM,
  Spearman, Spearman abs, HOG) on the small input, and once more at the papers' scale (resnet50,
  224 px, 19 points: ``--no-papers`` skips it). Quantus cannot run it (its MPRT with
  ``quantus.ssim`` crashes in 0.6), so only ours against the floor. The floor counts the model
  passes only: the four similarity features of every map (about 4 ms per 16 maps of 48 px) and
  the weight re-draw are the method's own work above it, and shrink relative to T1 as models and
  images grow.
- random_logit: map of the predicted vs a random class, SSIM (window 5) of per-map normalised
  maps; Quantus' RandomLogit with skimage's 2-D SSIM. Floor: 2 x T1.
- localisation: pointing game + relevance mass (signed) against Quantus' PointingGame +
  RelevanceMassAccuracy on given maps and masks. No floor (memory-bound, microseconds).

Columns: metric, attriflow_s, quantus_s, floor_s, ratio (= quantus_s / attriflow_s),
max_abs_diff, over_floor (= attriflow_s / floor_s), model, images. T1 of a floor is the best of
three calls (a single call right after Quantus' large allocations can take twice as long).
"""

from __future__ import annotations

import argparse
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn

from attriflow.evaluation import (
    class_sensitivity, localisation, perturbation_probabilities, randomisation_stages, randomisation_test,
)
from attriflow.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Setting:
    model: str
    batch: int
    side: int
    batch_size: int
    repeats: int


FULL = Setting(model="resnet18", batch=16, side=48, batch_size=64, repeats=3)
QUICK = Setting(model="resnet18", batch=2, side=24, batch_size=16, repeats=1)
PAPERS = Setting(model="resnet50", batch=4, side=224, batch_size=64, repeats=2)  # the sanity checks' scale


def build(s: Setting) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random-weight torchvision model in eval mode (non-inplace ReLUs), images in [0, 1], predicted classes."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, s.model)(weights=None).eval()
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    x = torch.rand(s.batch, 3, s.side, s.side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
    return g.sum(1)


def numpy_gradient(model, inputs, targets, **kwargs):
    return gradient(model, torch.as_tensor(inputs), torch.as_tensor(targets).long()).numpy()[:, None]


def quantus_reset(module: nn.Module, generator: torch.Generator) -> None:
    torch.manual_seed(43)
    module.reset_parameters()


def per_map_max(a, **kwargs):
    return a / np.abs(a).reshape(len(a), -1).max(1).reshape(-1, *[1] * (a.ndim - 1))


@dataclass
class Case:
    metric: str
    ours: Callable[[], object]
    quantus: Callable[[], object] | None
    floor: Callable[[], object] | None
    floor_factor: float
    diff: Callable[[object, object], float] | None
    setting: Setting | None = None  # the model and images, when not the run's


def papers_case(s: Setting) -> Case:
    """Cascading randomisation as the papers run it (blocks, N(0, 0.1), four measures) at their scale."""
    model, x, y = build(s)
    stages = randomisation_stages(model, "blocks")
    return Case(f"randomisation[blocks, {len(stages)} stages, 4 measures]",
                lambda: randomisation_test(model, x, y, {"gradient": gradient}, batch_size=s.batch_size),
                None, lambda: gradient(model, x, y), len(stages) + 1, None, s)


def cases(model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: Setting) -> list[Case]:
    import quantus
    from skimage.metrics import structural_similarity

    n, side = len(x), s.side
    hw = side * side

    def t1():
        gradient(model, x, y)

    # pixel flipping: 1/side of the pixels per step, all the way
    steps = side
    maps = torch.rand(n, side, side, generator=torch.Generator().manual_seed(2))
    colour = torch.tensor([0.485, 0.456, 0.406])
    flat_colour = colour.repeat_interleave(hw).numpy()
    fractions = [k / steps for k in range(1, steps + 1)]

    def fill_with_colour(arr, indices, **kwargs):
        out = arr.copy()
        out[np.arange(len(arr))[:, None], indices] = flat_colour[indices]
        return out

    pf = quantus.PixelFlipping(features_in_step=3 * hw // steps, perturb_func=fill_with_colour, normalise=False,
                               abs=False, disable_warnings=True)
    prebuilt = torch.stack([  # the floor's inputs: every perturbed image, built outside the timing
        torch.where((maps.flatten(1).argsort(1, descending=True).argsort(1) < k * hw // steps).view(n, 1, side, side),
                    colour.view(1, 3, 1, 1), x)
        for k in range(1, steps + 1)
    ], 1).flatten(0, 1)

    def forwards():
        with torch.no_grad():
            for i in range(0, len(prebuilt), s.batch_size):
                torch.softmax(model(prebuilt[i : i + s.batch_size]), 1)

    # randomisation, Quantus' layers and re-draw
    layers = randomisation_stages(model, "layers")
    blocks = randomisation_stages(model, "blocks")
    a_batch = numpy_gradient(model, x.numpy(), y.numpy())
    mprt = quantus.MPRT(layer_order="top_down", seed=42, abs=True, normalise=True,
                        similarity_func=quantus.similarity_func.correlation_spearman, disable_warnings=True)

    def mprt_diff(ours: pd.DataFrame, ref: dict) -> float:
        names = [k for k in ref if k != "original"]
        return max(float(np.abs(ours[ours.layer == k].value.to_numpy() - np.asarray(ref[k])).max()) for k in names)

    # random logit
    logits = model(x).detach()

    def ssim_2d(a, b, batched=True, **kwargs):
        return [structural_similarity(p.reshape(side, side), q.reshape(side, side), win_size=5, data_range=2.0)
                for p, q in zip(a, b)]

    rl = quantus.RandomLogit(num_classes=logits.shape[1], similarity_func=ssim_2d, seed=3, abs=False, normalise=True,
                             normalise_func=per_map_max, disable_warnings=True)

    # localisation
    masks = torch.zeros(n, side, side, dtype=torch.bool)
    for i in range(n):
        masks[i, i % (side // 2) : i % (side // 2) + side // 3, side // 4 : side // 2 + 2] = True
    loc_maps = torch.rand(n, side, side, generator=torch.Generator().manual_seed(4)) + 2.0 * masks * (torch.arange(n) % 2 == 0).view(n, 1, 1)
    pg = quantus.PointingGame(normalise=False, disable_warnings=True)
    rma = quantus.RelevanceMassAccuracy(normalise=False, disable_warnings=True)
    loc_args = dict(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=loc_maps[:, None].numpy(),
                    s_batch=masks[:, None].numpy(), device="cpu")

    def loc_diff(ours: pd.DataFrame, ref) -> float:
        hit, mass = ref
        return float(max(np.abs(ours.pointing_game.to_numpy() - np.asarray(hit, dtype=float)).max(),
                         np.abs(ours.relevance_mass.to_numpy() - np.asarray(mass)).max()))

    return [
        Case("pixel_flipping",
             lambda: perturbation_probabilities(model, x, maps, y, fractions, order="morf", fill=colour,
                                                batch_size=s.batch_size),
             lambda: np.asarray(pf(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=maps[:, None].numpy(),
                                   channel_first=True, softmax=True, device="cpu", batch_size=n)),
             forwards, 1.0, lambda ours, ref: float(np.abs(ours.numpy() - ref).max())),
        Case(f"randomisation[layers, {len(layers)} stages]",
             lambda: randomisation_test(model, x, y, {"gradient": gradient}, stages="layers", init=quantus_reset,
                                        measures=("spearman_abs",), batch_size=s.batch_size),
             lambda: mprt(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a_batch,
                          explain_func=numpy_gradient, device="cpu", batch_size=s.batch_size),
             t1, len(layers) + 1, mprt_diff),
        Case(f"randomisation[blocks, {len(blocks)} stages, 4 measures]",
             lambda: randomisation_test(model, x, y, {"gradient": gradient}, batch_size=s.batch_size),
             None, t1, len(blocks) + 1, None),
        Case("random_logit",
             lambda: class_sensitivity(model, x, {"gradient": gradient}, logits=logits, comparisons=("random",), seed=3,
                                       batch_size=s.batch_size),
             lambda: rl(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None, explain_func=numpy_gradient,
                        device="cpu", batch_size=max(n, s.batch_size)),
             t1, 2, lambda ours, ref: float(np.abs(ours.value.to_numpy() - np.asarray(ref)).max())),
        Case("localisation",
             lambda: localisation({"m": loc_maps}, masks, relevance="signed"),
             lambda: (pg(**loc_args), rma(**loc_args)),
             None, 0, loc_diff),
    ]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(s: Setting, papers: Setting | None = None) -> pd.DataFrame:
    model, x, y = build(s)
    best: dict[int, dict[str, float]] = {}
    diffs: dict[int, float] = {}
    all_cases = cases(model, x, y, s) + ([papers_case(papers)] if papers else [])
    for _ in range(s.repeats):
        for key, case in enumerate(all_cases):
            times = best.setdefault(key, {})
            t, ours = timed(case.ours)
            times["ours"] = min(times.get("ours", np.inf), t)
            if case.quantus is not None:
                rng = torch.random.get_rng_state()
                t, ref = timed(case.quantus)
                torch.random.set_rng_state(rng)
                times["quantus"] = min(times.get("quantus", np.inf), t)
                diffs[key] = case.diff(ours, ref) if case.diff else np.nan
            if case.floor is not None:
                t = min(timed(case.floor)[0] for _ in range(3))
                times["floor"] = min(times.get("floor", np.inf), t * case.floor_factor)
    rows = []
    for key, case in enumerate(all_cases):
        t = best[key]
        cs = case.setting or s
        rows.append({
            "metric": case.metric, "attriflow_s": t["ours"], "quantus_s": t.get("quantus", np.nan),
            "floor_s": t.get("floor", np.nan), "ratio": t.get("quantus", np.nan) / t["ours"],
            "max_abs_diff": diffs.get(key, np.nan), "over_floor": t["ours"] / t.get("floor", np.nan),
            "model": cs.model, "images": f"{cs.batch}x3x{cs.side}x{cs.side}",
        })
    return pd.DataFrame(rows)


def format_markdown(table: pd.DataFrame | str | Path) -> str:
    """The benchmark table (a DataFrame or the CSV path) as Markdown for the README."""
    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    lines = ["| evaluation | model, images | attriflow (s) | Quantus (s) | Quantus / attriflow | x floor | max abs diff |",
             "|---|---|---:|---:|---:|---:|---:|"]

    def num(v, fmt):
        return "" if pd.isna(v) else format(v, fmt)

    for r in df.itertuples(index=False):
        lines.append(f"| {r.metric} | {r.model}, {r.images} | {num(r.attriflow_s, '.4f')} | {num(r.quantus_s, '.4f')} | "
                     f"{num(r.ratio, '.2f')} | {num(r.over_floor, '.2f')} | {num(r.max_abs_diff, '.1e')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (2 images, 24 px, one repetition)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions; the best counts (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's; 1 with --quick, robust on a busy machine)")
    parser.add_argument("--out", type=Path, default=None, help="CSV path (default results/evaluation[-quick].csv)")
    parser.add_argument("--markdown", type=Path, default=None, help="print an existing CSV as Markdown and exit")
    parser.add_argument("--no-papers", action="store_true", help="skip the resnet50 / 224 px randomisation case")
    args = parser.parse_args(argv)
    if args.markdown:
        print(format_markdown(args.markdown), end="")
        return 0
    setting = QUICK if args.quick else FULL
    if args.repeats:
        setting = Setting(**{**setting.__dict__, "repeats": args.repeats})
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    df = run(setting, papers=None if args.quick or args.no_papers else PAPERS)
    out = args.out or RESULTS / ("evaluation-quick.csv" if args.quick else "evaluation.csv")
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_text(out, buf.getvalue())
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
