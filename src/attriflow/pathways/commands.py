"""``attriflow pathways ...``: the pathway experiments on a trained run, and the two papers' reports.

- ``statistics``: pathways of test images by every selector at one sparsity: the masked network's
  response, dead neurons, Jaccard overlaps (results CSVs).
- ``sweep``: pathway gradient / PruneGrad over sparsities: maps, LeRF score, response (CSV + figure).
- ``grid``: qualitative grid of maps, the papers' comparison methods beside ours (figure).
- ``decode``: pathway decoding images (figure).
- ``report``: a paper's tables, figures, summary.md and claims.csv from the results.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attriflow.utils.io import parse_json_object


def register(sub: argparse._SubParsersAction) -> None:
    top = sub.add_parser("pathways", help="critical pathways and PruneGrad experiments, and their reports")
    psub = top.add_subparsers(dest="pathways_command", metavar="ACTION", required=True)

    def common(p, images: int):
        p.add_argument("--run", required=True, help="run folder results/models/<id>")
        p.add_argument("--images", type=int, default=images, help="first N test images")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--scale", default="demo")
        p.add_argument("--batch-size", type=int, default=64)

    p = psub.add_parser("statistics", help="pathway response, dead neurons and Jaccard overlaps per selector")
    common(p, 32)
    p.add_argument("--sparsity", type=float, default=90.0)
    p.add_argument("--selectors", nargs="+", default=["mct", "intgrad", "random", "greedy", "dgr", "cdrp"])
    p.add_argument("--steps", type=int, default=10, help="NeuronIntGrad scaled inputs")
    p.add_argument("--gate-images", type=int, default=8, help="images for the costly selectors (greedy, dgr, cdrp)")
    p.add_argument("--gate-iterations", type=int, default=1000)
    p.add_argument("--gate-lr", type=float, default=0.01)
    p.add_argument("--gate-l1", type=float, default=0.01)
    p.add_argument("--out-dir", required=True, help="writes response.csv and overlap.csv there")
    p.set_defaults(func=_statistics)

    p = psub.add_parser("sweep", help="pathway maps and scores over sparsities")
    common(p, 32)
    p.add_argument("--method", default="pathway_gradient", choices=("pathway_gradient", "prune_grad"))
    p.add_argument("--sparsities", type=float, nargs="+", default=[0, 70, 80, 90, 95, 99])
    p.add_argument("--params-json", default="{}", help="other method parameters (e.g. steps)")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-figure", required=True)
    p.set_defaults(func=_sweep)

    p = psub.add_parser("grid", help="qualitative grid: the papers' comparison methods and ours on test images")
    common(p, 5)
    p.add_argument("--methods-json", required=True, help='{"column label": {"method": name, ...params}, ...}')
    p.add_argument("--out", required=True, help="PNG path")
    p.set_defaults(func=_grid)

    p = psub.add_parser("decode", help="pathway decoding: inputs optimised to excite a pathway's neurons")
    common(p, 4)
    p.add_argument("--sparsity", type=float, default=90.0)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--out", required=True, help="PNG path")
    p.set_defaults(func=_decode)

    p = psub.add_parser("report", help="a paper's tables, figures, summary.md and claims.csv")
    p.add_argument("--paper", required=True, choices=("pathways", "prunegrad"))
    p.add_argument("--scale", required=True)
    p.add_argument("--inputs-json", required=True, help="JSON object: kind -> list of result files (see reporting.papers)")
    p.add_argument("--out-dir", required=True, help="reports/<paper>")
    p.set_defaults(func=_report)


def _setup(args):
    import torch

    from attriflow.data.streaming import as_imageset
    from attriflow.steps import run_splits
    from attriflow.utils.provenance import seed_everything

    seed_everything(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, info, splits = run_splits(args.run)
    model.eval()
    data = as_imageset(splits.test.subset(slice(0, args.images)))  # a streamed split: only these images decoded
    device = next(model.parameters()).device
    return model, info, data.images.to(device), data.targets.to(device)


def _predicted(model, x, batch_size):
    from attriflow.attribution import predict

    return predict(model, x, batch_size).argmax(1)


def _statistics(args) -> int:
    import pandas as pd
    from tqdm.auto import tqdm

    from attriflow.pathways.statistics import dead_fraction, find_pathways, overlap_table, response_table
    from attriflow.utils.io import save_dataframe
    from attriflow.utils.provenance import git_commit

    model, info, x, labels = _setup(args)
    t = _predicted(model, x, args.batch_size)
    dead = dead_fraction(model, x).cpu().numpy()
    responses, overlaps = [], []
    for selector in tqdm(args.selectors, desc="pathway selectors"):
        n = args.gate_images if selector in ("greedy", "dgr", "cdrp") else len(x)
        masks = find_pathways(model, x[:n], t[:n], selector, args.sparsity, steps=args.steps,
                              batch_size=args.batch_size, seed=args.seed, gate_iterations=args.gate_iterations,
                              gate_lr=args.gate_lr, gate_l1=args.gate_l1)
        r = response_table(model, x[:n], t[:n], masks)
        r.insert(0, "selector", selector)
        r["label"] = labels[:n].cpu().numpy()
        r["target"] = t[:n].cpu().numpy()
        r["dead_fraction"] = dead[:n]
        responses.append(r)
        o = overlap_table(masks, t[:n])
        o.insert(0, "selector", selector)
        overlaps.append(o)
    meta = {"run": Path(args.run).name, "dataset": info["run"].get("dataset"), "model": info["model"]["name"],
            "sparsity": args.sparsity, "scale": args.scale, "seed": args.seed, "git_commit": git_commit()}
    out = Path(args.out_dir)
    for name, frames in (("response.csv", responses), ("overlap.csv", overlaps)):
        df = pd.concat(frames, ignore_index=True)
        for k, v in meta.items():
            df[k] = str(v) if k == "dataset" else v
        save_dataframe(out / name, df)
    return 0


def _sweep(args) -> int:
    from attriflow.pathways.sweep import sparsity_sweep
    from attriflow.reporting.papers.pathways import plot_sweep
    from attriflow.utils.io import save_dataframe

    model, info, x, _ = _setup(args)
    t = _predicted(model, x, args.batch_size)
    table, maps = sparsity_sweep(model, x, t, args.sparsities, method=args.method,
                                 params=parse_json_object(args.params_json, "--params-json"), batch_size=args.batch_size)
    table["run"], table["scale"], table["seed"] = Path(args.run).name, args.scale, args.seed
    table["dataset"] = str(info["run"].get("dataset"))
    save_dataframe(Path(args.out_csv), table)
    plot_sweep(x[:4], {k: v[:4] for k, v in maps.items()}, args.out_figure,
               title=f"{args.method} over sparsity, {Path(args.run).name}")
    return 0


def _grid(args) -> int:
    from attriflow.attribution import attribute
    from attriflow.reporting.figures import plot_map_grid

    model, info, x, _ = _setup(args)
    t = _predicted(model, x, args.batch_size)
    entries = parse_json_object(args.methods_json, "--methods-json")
    maps = {}
    for label, entry in entries.items():
        params = dict(entry)
        method = params.pop("method", label)
        maps[label] = attribute(model, x, t, method, **params)
    names = info.get("class_names") or []
    rows = [f"predicted: {names[int(c)]}" if names else f"class {int(c)}" for c in t]
    plot_map_grid(x.cpu(), maps, args.out, row_labels=rows, title=f"Attribution maps, {Path(args.run).name}")
    return 0


def _decode(args) -> int:
    from attriflow.pathways.statistics import decode_pathway, find_pathways
    from attriflow.reporting.papers.pathways import plot_decoding

    model, info, x, _ = _setup(args)
    t = _predicted(model, x, args.batch_size)
    decoded = {}
    for selector in ("mct", "random"):
        masks = find_pathways(model, x, t, selector, args.sparsity, seed=args.seed)
        decoded[selector] = decode_pathway(model, masks, x.shape, iterations=args.iterations, seed=args.seed)
    names = info.get("class_names") or []
    rows = [names[int(c)] if names else f"class {int(c)}" for c in t]
    plot_decoding(x.cpu(), {"pathway (NeuronMCT)": decoded["mct"].cpu(), "random pathway": decoded["random"].cpu()},
                  args.out, row_labels=rows, sparsity=args.sparsity)
    return 0


def _report(args) -> int:
    from importlib import import_module

    inputs = parse_json_object(args.inputs_json, "--inputs-json")
    module = import_module(f"attriflow.reporting.papers.{args.paper}")
    module.build_report(inputs, Path(args.out_dir), scale=args.scale)
    return 0
