"""Workflow steps that join a trained run, its data and an attribution method.

``attriflow attribute``: maps of one method for one split of a run's data, stored for reuse.
``attriflow roar``: one ROAR point (method, fraction): mask the top pixels, retrain, test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from attriflow.errors import UserError

SPLITS = ("train", "val", "test")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attribute", help="attribution maps of one method for one split of a trained run's data")
    p.add_argument("--run", required=True, help="run folder results/models/<id>")
    p.add_argument("--method", required=True, help="a name from `attriflow methods`")
    p.add_argument("--params-json", default="{}", help="method parameters as a JSON object")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    p.add_argument("--target", default="predicted", choices=("predicted", "label"),
                   help="explain the predicted class (default) or the true label")
    p.add_argument("--chunk", type=int, default=256, help="images per call (bounds memory; a progress bar counts them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", default=None)
    p.add_argument("--out", required=True, help=".npz path")
    p.set_defaults(func=_attribute)

    p = sub.add_parser("roar", help="one ROAR point: remove the top pixels by stored maps, retrain from scratch, test")
    p.add_argument("--run", required=True, help="run folder whose spec is retrained")
    p.add_argument("--maps", nargs=3, required=True, metavar=("TRAIN", "VAL", "TEST"), help="stored maps per split")
    p.add_argument("--fraction", type=float, required=True, help="percent of pixels removed, 0-100")
    p.add_argument("--epochs", type=int, default=None, help="override the run's epochs")
    p.add_argument("--out", required=True, help="output run folder (resumes from its checkpoint)")
    p.set_defaults(func=_roar)


def run_splits(run: str | Path) -> tuple[Any, dict, Any]:
    """(model, info, splits) of a finished run: the exact train / val / test sets it was trained on."""
    from attriflow.models.runs import load_run
    from attriflow.models.spec import normalise_spec
    from attriflow.models.training_data import load_splits

    model, info = load_run(run)
    spec = normalise_spec(info["run"])
    return model, info, load_splits(spec)


def _attribute(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from attriflow.attribution import attribute_with_predictions, save_attributions
    from attriflow.data.streaming import batches
    from attriflow.utils.provenance import seed_everything

    try:
        params = json.loads(args.params_json)
    except json.JSONDecodeError as exc:
        raise UserError(f"--params-json {args.params_json!r}: not valid JSON ({exc})") from exc
    if not isinstance(params, dict):
        raise UserError(f"--params-json must be a JSON object, got {args.params_json!r}")
    seed_everything(args.seed)
    model, info, splits = run_splits(args.run)
    data = getattr(splits, args.split)
    if args.limit is not None:
        data = data.subset(slice(0, args.limit))
    if args.target == "label" and data.task not in ("multiclass", "binary"):
        raise UserError(f"--target label needs a multiclass or binary run; {args.run} is {data.task}")
    device = next(model.parameters()).device
    maps, targets, logits, used = [], [], [], params
    workers = {"num_workers": info["run"].get("num_workers", 0)}  # a streamed set is decoded by DataLoader workers
    chunks = batches(data, args.chunk, **workers)
    for x, y in tqdm(chunks, total=-(-len(data) // args.chunk), desc=f"{args.method} {args.split}", unit="chunk"):
        x = x.to(device)
        t = y.to(device) if args.target == "label" else None
        rec = attribute_with_predictions(model, x, t, args.method, **params)
        maps.append(rec.maps.cpu()), targets.append(rec.targets.cpu()), logits.append(rec.logits.cpu())
        used = rec.params  # with every default filled in
    save_attributions(args.out, torch.cat(maps), torch.cat(targets), torch.cat(logits), args.method, used,
                      seed=args.seed, scale=args.scale, run=str(args.run), split=args.split, limit=args.limit,
                      target=args.target)
    return 0


def _roar(args) -> int:
    from attriflow.attribution import load_attributions
    from attriflow.data.streaming import as_imageset
    from attriflow.evaluation.masking import fill_colour, remove_top
    from attriflow.models.training import train_run
    from attriflow.models.training_data import Splits

    if not 0 <= args.fraction <= 100:
        raise UserError(f"--fraction {args.fraction}: expected a percentage between 0 and 100")
    _, info, splits = run_splits(args.run)
    splits = Splits(*(as_imageset(part) for _, part in splits.items()))  # masking needs the pixels: ROAR sets are small
    colour = fill_colour(splits.train.images).flatten()  # every split is filled with the train mean colour
    parts = []
    for name, path in zip(SPLITS, args.maps):
        data = getattr(splits, name)
        rec = load_attributions(path)
        if len(rec.maps) != len(data):
            raise UserError(f"{path}: {len(rec.maps)} maps but the {name} split of {args.run} has {len(data)} images")
        masked = data.subset(slice(None))
        masked.images = remove_top(data.images, rec.maps, args.fraction / 100.0, fill=colour)
        parts.append(masked)
    spec = dict(info["run"])
    spec["init"] = "random"
    if args.epochs:
        spec["epochs"] = args.epochs
    train_run(spec, args.out, data=Splits(*parts))
    return 0
