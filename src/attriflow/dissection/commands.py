"""``attriflow dissection ...``: dissect a trained run's layer, explain its predictions by concepts,
and build the semantic-cxr study's tables and figures.

- ``units``: ``results/dissection/<run>/<layer>/units.csv`` (unit, concept, iou, threshold),
  ``concepts.csv`` (concept, n_units, mean_iou), ``iou.csv`` (every unit and concept) and
  ``meta.json`` (settings, sizes, seconds, provenance).
- ``semantic``: semantic attribution of every probe image (``semantic.csv``: each image's
  concept ranking, whether the top concept is one the image carries, and the chance of that) and
  a figure of a few examples.
- ``study``: the semantic-cxr report (see :mod:`attriflow.reporting.papers.semantic_cxr`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Iterator

from attriflow.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dissection", help="network dissection, semantic attribution and the semantic-cxr study")
    dsub = p.add_subparsers(dest="dissection_command", metavar="ACTION", required=True)

    def probe_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--run", required=True, help="run folder results/models/<id>")
        q.add_argument("--layer", required=True, help="dotted module path, e.g. features.relu5")
        q.add_argument("--probe", nargs="+", required=True, help="concept-set views (e.g. cxr-probe; nih-bbox covid19-masks)")
        q.add_argument("--split", default=None, help="split of the probe views (default: each view's own)")
        q.add_argument("--limit", type=int, default=None, help="only the first N images of each probe view")
        q.add_argument("--mask-size", type=int, default=None, help="scoring resolution (default: the masks' own)")
        q.add_argument("--batch-size", type=int, default=64)
        q.add_argument("--data-root", default="data")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--scale", default=None)
        q.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")

    q = dsub.add_parser("units", help="dissect one layer of a trained run: label every unit with a concept")
    probe_args(q)
    q.add_argument("--quantile", type=float, default=0.995)
    q.add_argument("--iou-threshold", type=float, default=0.04)
    q.add_argument("--out", required=True, help="units.csv path; concepts.csv, iou.csv and meta.json are written beside it")
    q.set_defaults(func=_units)

    q = dsub.add_parser("semantic", help="semantic attribution of a run's predictions on the probe set")
    probe_args(q)
    q.add_argument("--units", required=True, help="units.csv of the same run and layer")
    q.add_argument("--context", nargs="*", default=[], help="concepts every image carries (e.g. anatomy), left out of the pathology ranking")
    q.add_argument("--examples", type=int, default=3, help="images shown in the figure")
    q.add_argument("--out", required=True, help="semantic.csv path")
    q.add_argument("--figure", required=True, help="PNG of the examples")
    q.set_defaults(func=_semantic)

    q = dsub.add_parser("study", help="the semantic-cxr report: tables, figures, summary.md and claims.csv")
    q.add_argument("--config-json", required=True, help="the config's papers.semantic-cxr block plus scale and run specs")
    q.add_argument("--results", default="results", help="folder holding models/ and dissection/")
    q.add_argument("--out-dir", required=True, help="reports/semantic-cxr")
    q.set_defaults(func=_study)


def load_probe(views: list[str], split: str | None, limit: int | None, root: str, image_size, in_chans: int,
               mask_size: int | None):
    """The probe as (list of (view, ImageSet)), the union of their concept names, and the scoring size.
    A streamed (real) view is decoded into memory: keep probe sets to their `limit`."""
    from attriflow.data.loading import load_dataset
    from attriflow.data.streaming import as_imageset

    sets, names = [], []
    for view in views:
        data = as_imageset(load_dataset(view, root=root, split=split, limit=limit, image_size=image_size))
        own = list(getattr(data, "concept_names", None) or data.mask_names)
        if not own:
            raise UserError(f"probe view {view!r} carries no concept masks or boxes")
        if data.images.shape[1] != in_chans:
            if data.images.shape[1] == 1:
                data.images = data.images.expand(-1, in_chans, -1, -1)
            else:
                raise UserError(f"probe view {view!r} has {data.images.shape[1]} channels, the model takes {in_chans}")
        sets.append((view, data, own))
        names += [n for n in own if n not in names]
    if mask_size is None:
        sizes = {tuple(d.masks.shape[-2:]) if d.masks is not None else tuple(d.images.shape[-2:]) for _, d, _ in sets}
        if len(sizes) > 1:
            raise UserError(f"probe views {views} have different mask sizes {sorted(sizes)}: set a mask size")
        size = sizes.pop()
    else:
        size = (mask_size, mask_size)
    return sets, names, size


def probe_stream(sets, names, size, batch_size: int) -> Iterator:
    """Batches of (images, bool masks at ``size`` in the union's concept order): a view's images
    carry none of the other views' concepts."""
    import torch

    from attriflow.dissection.concepts import concept_masks
    from attriflow.dissection.probe import probe_batches

    for _, data, own in sets:
        where = [names.index(n) for n in own]
        for images, conc in probe_batches(data, batch_size):
            masks = concept_masks(conc, tuple(images.shape[-2:]), size)
            full = torch.zeros(len(images), len(names), *size, dtype=torch.bool)
            full[:, where] = masks
            yield images, full


def _run_and_probe(args):
    from attriflow.models.runs import load_run
    from attriflow.utils.provenance import seed_everything

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    model, info = load_run(args.run)
    image_size = info.get("run", {}).get("image_size")
    sets, names, size = load_probe(args.probe, args.split, args.limit, args.data_root, image_size,
                                   info["model"]["in_chans"], args.mask_size)
    return model, info, sets, names, size


def _units(args) -> int:
    import pandas as pd

    from attriflow.dissection.engine import dissect_layer
    from attriflow.reporting.tables import write_table
    from attriflow.utils.io import save_dataframe, write_json
    from attriflow.utils.provenance import provenance

    model, info, sets, names, size = _run_and_probe(args)
    start = time.perf_counter()
    result = dissect_layer(model, args.layer, probe_stream(sets, names, size, args.batch_size), names,
                           quantile=args.quantile, batch_size=args.batch_size, mask_size=size)
    seconds = time.perf_counter() - start
    units = result.labels(args.iou_threshold)
    out = Path(args.out)
    save_dataframe(out, units)
    labelled = units.dropna(subset=["concept"])
    per = labelled.groupby("concept")["iou"].agg(n_units="size", mean_iou="mean").reindex(names)
    per["n_units"] = per["n_units"].fillna(0).astype(int)
    write_table(per.reset_index().rename(columns={"index": "concept"}), out.parent / "concepts.csv",
                title=f"{args.run} {args.layer}: units per concept (IoU > {args.iou_threshold})")
    save_dataframe(out.parent / "iou.csv", result.iou_table())
    write_json(out.parent / "meta.json", provenance(
        seed=args.seed, scale=args.scale, run=str(args.run), layer=args.layer, probe=args.probe, split=args.split,
        limit=args.limit, quantile=args.quantile, iou_threshold=args.iou_threshold, batch_size=args.batch_size,
        n_images=result.n_images, n_units=len(units), n_labelled=len(labelled), map_size=list(result.map_size),
        mask_size=list(result.mask_size), concepts=names, seconds=round(seconds, 3),
        concept_pixels=dict(zip(names, result.concept_pixels.tolist()))))
    print(pd.Series({"images": result.n_images, "units": len(units), "labelled": len(labelled)}).to_string())
    return 0


def _semantic(args) -> int:
    import pandas as pd

    from attriflow.dissection.figures import plot_semantic_examples
    from attriflow.dissection.semantic import concept_contributions, semantic_attribution, unit_contributions
    from attriflow.utils.io import save_dataframe

    model, info, sets, names, size = _run_and_probe(args)
    units = pd.read_csv(args.units)
    concepts = list(dict.fromkeys(units["concept"].dropna()))
    rows, examples, fallback = [], [], []
    offset = 0
    for images, masks in probe_stream(sets, names, size, args.batch_size):
        contrib, _, scores, targets = unit_contributions(model, args.layer, images, None, args.batch_size)
        if contrib.shape[1] != len(units):
            raise UserError(f"{args.units} has {len(units)} units but layer {args.layer!r} of {args.run} has {contrib.shape[1]}")
        carried = masks.flatten(2).any(2)  # (B, K)
        table = concept_contributions(contrib, units, concepts)
        for i in range(len(images)):
            part = table[table["image"] == i].sort_values("rank")
            has = {n for n, c in zip(names, carried[i].tolist()) if c}
            row = {"image": offset + i, "target": int(targets[i]), "score": float(scores[i]),
                   "carried": ";".join(sorted(has))}
            for scope, pool in (("all", concepts), ("pathology", [c for c in concepts if c not in args.context])):
                ranked = part[part["concept"].isin(pool)]
                top = ranked["concept"].iloc[0] if len(ranked) else None
                present = [c for c in pool if c in has]
                row[f"top_{scope}"] = top
                row[f"hit_{scope}"] = bool(top in has) if top is not None and present else None
                row[f"chance_{scope}"] = len(present) / len(pool) if pool and present else None
            rows.append(row)
            if len(examples) < args.examples and any(c in has for c in concepts if c not in args.context):
                examples.append(images[i])
            if len(fallback) < args.examples:
                fallback.append(images[i])
        offset += len(images)
    df = pd.DataFrame(rows)
    save_dataframe(args.out, df)
    explained = [(x, semantic_attribution(model, args.layer, x, units, mask_size=size)) for x in examples or fallback]
    plot_semantic_examples(explained, args.figure, title=f"Semantic attribution: {Path(args.run).name} ({args.layer})")
    return 0


def _study(args) -> int:
    from attriflow.reporting.papers.semantic_cxr import build_report

    try:
        cfg = json.loads(args.config_json)
    except json.JSONDecodeError as exc:
        raise UserError(f"--config-json: not valid JSON ({exc})") from exc
    build_report(cfg, Path(args.results), Path(args.out_dir))
    return 0
