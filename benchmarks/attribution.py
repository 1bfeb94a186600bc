"""Time every attribution method against its peer (Captum, Zennit, pytorch-grad-cam when installed)
and against its compute floor, side by side; writes benchmarks/results/attribution.csv.

    pip install -e ".[bench]"                        # the peers: Captum, Quantus, pytorch-grad-cam
    python benchmarks/attribution.py                 # resnet18 and vgg16, random weights, 16 x 3 x 64 x 64
    python benchmarks/attribution.py --quick         # tiny run to check the script works
    python benchmarks/attribution.py --methods prune_grad pathway_gradient   # rerun some rows, merged into the CSV
    python benchmarks/attribution.py --markdown benchmarks/results/attribution.csv   # print the table

One interleaved run: in every repetition each case times ours, then its peer, then the floor, so
load changes hit all alike; the best of ``--repeats`` (5) counts. Floors: T1 (one forward plus one
input gradient) for single-pass methods, steps (samples) x T1 for IG (SmoothGrad), one forward plus
one backward to the layer for the CAM methods, T1 for LRP (Zennit's rules cost several T1 by
design; the peer ratio is what counts there). Peers run on a copy of the model with non-inplace
ReLUs, prepared outside the timing, because their module hooks need that. ``peak_mb`` is the peak
resident-memory increase of one call of ours in a fresh process, sampled every 0.5 ms (CUDA: peak
allocated memory). ``--quick`` replaces VGG's 102M-parameter classifier by one linear layer.

Columns: method, model, attriflow_s, peer, peer_s, ratio (= attriflow_s / peer_s), floor_s, peak_mb.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import io
import json
import resource
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torchvision
from torch import nn

from attriflow.attribution import attribute
from attriflow.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Setting:
    models: tuple[str, ...]
    batch: int
    side: int
    steps: int
    samples: int
    batch_size: int
    repeats: int
    small_head: bool = False  # replace a VGG's 102M-parameter classifier by one linear layer (quick runs)


FULL = Setting(models=("resnet18", "vgg16"), batch=16, side=64, steps=20, samples=20, batch_size=32, repeats=5)
QUICK = Setting(models=("resnet18", "vgg11"), batch=2, side=32, steps=4, samples=4, batch_size=4, repeats=2,
                small_head=True)
CAM_LAYER = {"resnet18": "layer4", "vgg16": "features", "vgg11": "features"}


def build(model_name: str, setting: Setting) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random-weight torchvision model in eval mode, images and targets (seeded)."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    if setting.small_head and hasattr(model, "classifier") and model_name.startswith("vgg"):
        model.classifier = nn.Linear(512 * 7 * 7, 1000)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(setting.batch, 3, setting.side, setting.side, generator=g).to(device)
    target = torch.randint(0, 1000, (setting.batch,), generator=g).to(device)
    return model, x, target


def non_inplace_copy(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model)
    for m in clone.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return clone


@dataclass
class Case:
    method: str  # label in the table
    ours: Callable[[], object]
    peer: str
    peer_fn: Callable[[], object] | None
    floor: Callable[[], object] | None
    floor_factor: float
    spec: dict  # what a fresh process needs to rerun ours for the peak memory


def cases(model_name: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, s: Setting) -> list[Case]:
    from captum.attr import (
        Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam,
        NoiseTunnel, Saliency,
    )
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonAlpha2Beta1Flat, EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import Epsilon
    from zennit.torchvision import ResNetCanonizer, VGGCanonizer
    from zennit.types import Convolution

    peer_model = non_inplace_copy(model)
    layer = CAM_LAYER[model_name]
    span = float((x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).mean())
    onehot = torch.eye(1000, device=x.device)[target]

    def ours(method, **params):
        return lambda: attribute(model, x, target, method, **params)

    def t1():
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xi).gather(1, target[:, None]).sum(), xi)

    def cam_floor():
        out = {}
        h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: out.setdefault("a", o))
        try:
            logits = model(x)
        finally:
            h.remove()
        torch.autograd.grad(logits.gather(1, target[:, None]).sum(), out["a"])

    def zennit(composite_fn):
        canon = [ResNetCanonizer()] if model_name.startswith("resnet") else [VGGCanonizer()]

        def run():
            with Gradient(model=peer_model, composite=composite_fn(canon)) as attributor:
                attributor(x, onehot)
        return run

    def grad_cam_pp_peer():
        try:
            from pytorch_grad_cam import FullGrad, GradCAM, GradCAMPlusPlus  # noqa: F401
        except ImportError:
            return None
        return True

    ig = dict(steps=s.steps, batch_size=s.batch_size)
    sg = dict(samples=s.samples, batch_size=s.batch_size, noise=0.15)
    sg_peer_batch = max(1, s.batch_size // len(x))
    pg = dict(sparsity=90.0)
    pw = dict(sparsity=90.0, steps=s.steps, batch_size=s.batch_size)
    out = [
        Case("gradient", ours("gradient"), "captum.Saliency",
             lambda: Saliency(peer_model).attribute(x, target=target, abs=False), t1, 1, {}),
        Case("input_x_gradient", ours("input_x_gradient"), "captum.InputXGradient",
             lambda: InputXGradient(peer_model).attribute(x, target=target), t1, 1, {}),
        Case("integrated_gradients", ours("integrated_gradients", **ig), "captum.IntegratedGradients",
             lambda: IntegratedGradients(peer_model).attribute(x, target=target, n_steps=s.steps,
                                                               internal_batch_size=s.batch_size),
             t1, s.steps, ig),
        Case("integrated_gradients[fast]", ours("integrated_gradients", fast=True, **ig),
             "captum.IntegratedGradients",
             lambda: IntegratedGradients(peer_model).attribute(x, target=target, n_steps=s.steps,
                                                               internal_batch_size=s.batch_size),
             t1, s.steps, dict(ig, fast=True)),
        Case("smoothgrad", ours("smoothgrad", **sg), "captum.NoiseTunnel(Saliency)",
             lambda: NoiseTunnel(Saliency(peer_model)).attribute(
                 x, nt_type="smoothgrad", nt_samples=s.samples, nt_samples_batch_size=sg_peer_batch,
                 stdevs=0.15 * span, target=target, abs=False),
             t1, s.samples, sg),
        Case("smoothgrad[fast]", ours("smoothgrad", fast=True, **sg), "captum.NoiseTunnel(Saliency)",
             lambda: NoiseTunnel(Saliency(peer_model)).attribute(
                 x, nt_type="smoothgrad", nt_samples=s.samples, nt_samples_batch_size=sg_peer_batch,
                 stdevs=0.15 * span, target=target, abs=False),
             t1, s.samples, dict(sg, fast=True)),
        Case("guided_backprop", ours("guided_backprop"), "captum.GuidedBackprop",
             lambda: GuidedBackprop(peer_model).attribute(x, target=target), t1, 1, {}),
        Case("deconvnet", ours("deconvnet"), "captum.Deconvolution",
             lambda: Deconvolution(peer_model).attribute(x, target=target), t1, 1, {}),
        Case("rectgrad", ours("rectgrad"), "", None, t1, 1, {}),
        Case("grad_cam", ours("grad_cam", layer=layer), "captum.LayerGradCam",
             lambda: LayerAttribution.interpolate(
                 LayerGradCam(peer_model, peer_model.get_submodule(layer)).attribute(
                     x, target=target, relu_attributions=True), x.shape[-2:], interpolate_mode="bilinear"),
             cam_floor, 1, {"layer": layer}),
        Case("grad_cam_pp", ours("grad_cam_pp", layer=layer), "", None, cam_floor, 1, {"layer": layer}),
        Case("full_grad", ours("full_grad"), "", None, t1, 1, {}),
        Case("lrp_epsilon", ours("lrp_epsilon"), "zennit.LayerMap(Epsilon)",
             zennit(lambda c: LayerMapComposite(
                 layer_map=layer_map_base() + [(Convolution, Epsilon()), (nn.Linear, Epsilon())], canonizers=c)),
             t1, 1, {}),
        Case("lrp_zplus", ours("lrp_zplus"), "", None, t1, 1, {}),  # bias-free z+: Zennit has no composite for it
        Case("lrp_alpha1beta0", ours("lrp_alpha1beta0"), "zennit.EpsilonPlusFlat",
             zennit(lambda c: EpsilonPlusFlat(canonizers=c)), t1, 1, {}),
        Case("lrp_alpha2beta1", ours("lrp_alpha2beta1"), "zennit.EpsilonAlpha2Beta1Flat",
             zennit(lambda c: EpsilonAlpha2Beta1Flat(canonizers=c)), t1, 1, {}),
        Case("random", ours("random"), "", None, None, 0, {}),
        # pathways / prunegrad: floor = contributions (one T1) + the masked gradient (one T1); the pathway
        # gradient's contributions take steps scaled inputs (steps x T1). Goals: 3 T1 and (steps + 2) T1.
        Case("prune_grad", ours("prune_grad", **pg), "", None, t1, 2, pg),
        Case("pathway_gradient", ours("pathway_gradient", **pw), "", None, t1, s.steps + 1, pw),
    ]
    if grad_cam_pp_peer():
        from pytorch_grad_cam import FullGrad, GradCAM, GradCAMPlusPlus
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        targets = [ClassifierOutputTarget(int(t)) for t in target]
        layer_module = peer_model.get_submodule(layer)
        extra = {
            "grad_cam": ("pytorch_grad_cam.GradCAM", GradCAM(peer_model, [layer_module])),
            "grad_cam_pp": ("pytorch_grad_cam.GradCAMPlusPlus", GradCAMPlusPlus(peer_model, [layer_module])),
            "full_grad": ("pytorch_grad_cam.FullGrad", FullGrad(peer_model, [])),
        }
        for i, case in enumerate(list(out)):
            if case.method in extra:
                name, cam = extra[case.method]
                peer_case = Case(case.method, case.ours, name, lambda cam=cam: cam(input_tensor=x, targets=targets),
                                 case.floor, case.floor_factor, case.spec)
                if case.peer_fn is None:  # the only peer: fills the row
                    out[i] = peer_case
                else:  # a second peer: its own row
                    out.append(peer_case)
    return out


def timed(fn: Callable[[], object]) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def run(setting: Setting, peak: bool, quick: bool, methods: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = []
    for model_name in setting.models:
        model, x, target = build(model_name, setting)
        all_cases = [c for c in cases(model_name, model, x, target, setting) if not methods or c.method in methods]
        best = {i: {"ours": float("inf"), "peer": float("inf"), "floor": float("inf")} for i in range(len(all_cases))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, case in enumerate(all_cases):  # warm-up: one untimed call of everything
                case.ours()
                if case.peer_fn:
                    case.peer_fn()
                if case.floor:
                    case.floor()
            for _ in range(setting.repeats):
                for i, case in enumerate(all_cases):
                    best[i]["ours"] = min(best[i]["ours"], timed(case.ours))
                    if case.peer_fn:
                        best[i]["peer"] = min(best[i]["peer"], timed(case.peer_fn))
                    if case.floor:
                        best[i]["floor"] = min(best[i]["floor"], timed(case.floor))
        for i, case in enumerate(all_cases):
            b = best[i]
            peer_s = b["peer"] if case.peer_fn else None
            rows.append({
                "method": case.method,
                "model": model_name,
                "attriflow_s": round(b["ours"], 5),
                "peer": case.peer,
                "peer_s": round(peer_s, 5) if peer_s else None,
                "ratio": round(b["ours"] / peer_s, 3) if peer_s else None,
                "floor_s": round(b["floor"] * case.floor_factor, 5) if case.floor else None,
                "peak_mb": peak_memory(model_name, case, quick) if peak else None,
            })
            print(json.dumps(rows[-1]), flush=True)
    return pd.DataFrame(rows)


def peak_memory(model_name: str, case: Case, quick: bool) -> float | None:
    """Peak memory increase of one call of ours, measured in a fresh process."""
    method = case.method.split("[")[0]
    cmd = [sys.executable, __file__, "--peak-of", model_name, method, json.dumps(case.spec),
           "--threads", str(torch.get_num_threads())]
    cmd += ["--quick"] if quick else []
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"peak memory of {case.method} on {model_name} failed: {done.stderr[-500:]}", file=sys.stderr)
        return None


def _peak_child(model_name: str, method: str, spec: str, setting: Setting) -> None:
    model, x, target = build(model_name, setting)
    params = json.loads(spec)
    warnings.simplefilter("ignore")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        attribute(model, x, target, method, **params)
        print(round((torch.cuda.max_memory_allocated() - before) / 2**20, 1))
        return
    gc.collect()
    try:  # return freed heap to the OS so the resident size before the call is what is really in use
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    sampler = RssSampler()
    with sampler:
        attribute(model, x, target, method, **params)
    print(round(sampler.peak_increase / 2**20, 1))


class RssSampler:
    """Peak resident set size above the size at entry, sampled every 0.5 ms by a thread (Linux)."""

    def __init__(self):
        self.page = resource.getpagesize()
        self.peak_increase = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.page

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.0005)

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.peak_increase = self.peak - self.start


def format_markdown(table: pd.DataFrame | str | Path) -> str:
    """The benchmark table (a DataFrame or the CSV path) as Markdown for the README."""
    df = table if isinstance(table, pd.DataFrame) else pd.read_csv(table)
    header = "| method | model | attriflow (s) | peer | peer (s) | ratio | x floor | peak MB |"
    lines = [header, "|---|---|---:|---|---:|---:|---:|---:|"]

    def num(v, fmt):
        return "" if v is None or pd.isna(v) else format(v, fmt)

    for r in df.itertuples(index=False):
        x_floor = r.attriflow_s / r.floor_s if not pd.isna(r.floor_s) and r.floor_s else None
        lines.append(
            f"| {r.method} | {r.model} | {num(r.attriflow_s, '.4f')} | {'' if pd.isna(r.peer) else r.peer} | "
            f"{num(r.peer_s, '.4f')} | {num(r.ratio, '.2f')} | {num(x_floor, '.2f')} | {num(r.peak_mb, '.0f')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (2 images, 32 px, resnet18 and vgg11)")
    parser.add_argument("--out", type=Path, default=None, help="CSV path (default results/attribution[-quick].csv)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions (best counts)")
    parser.add_argument("--models", nargs="*", default=None, help="torchvision model names")
    parser.add_argument("--no-peak", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's; 1 with --quick, robust on a busy machine)")
    parser.add_argument("--markdown", type=Path, default=None, help="print an existing CSV as Markdown and exit")
    parser.add_argument("--methods", nargs="+", default=(), help="only these rows (table labels); the CSV keeps its other rows")
    parser.add_argument("--peak-of", nargs=3, metavar=("MODEL", "METHOD", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    setting = QUICK if args.quick else FULL
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    if args.peak_of:
        _peak_child(*args.peak_of, setting)
        return 0
    if args.markdown:
        print(format_markdown(args.markdown), end="")
        return 0
    if args.repeats or args.models:
        setting = Setting(**{**setting.__dict__, "repeats": args.repeats or setting.repeats,
                             "models": tuple(args.models or setting.models)})
    df = run(setting, peak=not args.no_peak, quick=args.quick, methods=tuple(args.methods))
    out = args.out or RESULTS / ("attribution-quick.csv" if args.quick else "attribution.csv")
    if args.methods and out.is_file():  # replace these rows, keep the others (measured in earlier runs)
        old = pd.read_csv(out)
        keep = ~(old["method"].isin(df["method"]) & old["model"].isin(df["model"]))
        df = pd.concat([old[keep], df], ignore_index=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    atomic_write_text(out, buf.getvalue())
    print(f"wrote {out}")
    print(format_markdown(df), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
