"""Workflow steps that join a trained run, its data and an attribution method.

``attriflow attribute``: maps of one method for one split of a run's data, stored for reuse.
``attriflow roar``: one ROAR point (method, fraction): mask the top pixels, retrain, test.
``attriflow evaluate KIND``: one generic evaluation (randomisation, class sensitivity, pixel
perturbation) of one method entry on a run's test images, as a CSV of per-image rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from attriflow.errors import UserError
from attriflow.utils.io import parse_json_object

SPLITS = ("train", "val", "test")
EVALUATIONS = ("randomisation", "class_sensitivity", "perturbation")


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
    p.add_argument("--maps", nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"),
                   help="stored maps per split (not needed for --fraction 0)")
    p.add_argument("--fraction", type=float, required=True, help="percent of pixels removed, 0-100")
    p.add_argument("--epochs", type=int, default=None, help="override the run's epochs (default: the run's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random tie-breaking among equal map values")
    p.add_argument("--entry", default=None, help="name of the method entry, recorded in metrics.json")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", required=True, help="output run folder (resumes from its checkpoint)")
    p.set_defaults(func=_roar)

    p = sub.add_parser("evaluate", help="one generic evaluation of one method on a run's test images -> CSV")
    p.add_argument("kind", choices=EVALUATIONS, help="which evaluation")
    p.add_argument("--run", required=True, help="run folder results/models/<id>")
    p.add_argument("--method", required=True, help="a name from `attriflow methods`")
    p.add_argument("--entry", default=None, help="name the rows carry in their 'method' column (default: --method)")
    p.add_argument("--params-json", default="{}", help="method parameters as a JSON object")
    p.add_argument("--settings-json", default="{}", help="the evaluation's settings as a JSON object "
                   "(config `evaluation.<kind>`)")
    p.add_argument("--maps", default=None, help="stored maps of the test split (.npz; perturbation only)")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", required=True, help=".csv path")
    p.set_defaults(func=_evaluate)


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
    from attriflow.models.heads import head_of
    from attriflow.utils.provenance import seed_everything

    params = parse_json_object(args.params_json, "--params-json")
    seed_everything(args.seed)
    model, info, splits = run_splits(args.run)
    data = getattr(splits, args.split)
    if args.limit is not None:
        data = data.subset(slice(0, args.limit))
    if args.target == "label" and data.task not in ("multiclass", "binary"):
        raise UserError(f"--target label needs a multiclass or binary run; {args.run} is {data.task}")
    head = head_of(info)  # binary: label 0 / 1 explains -logit / +logit (attriflow.models.heads)
    device = next(model.parameters()).device
    targets, logits, used = [], [], params
    workers = {"num_workers": info.get("run", {}).get("num_workers", 0)}  # a streamed set is decoded by DataLoader workers
    chunks = batches(data, args.chunk, **workers)
    with chunked_array(args.out) as maps:  # maps go to disk chunk by chunk, never all in memory
        for x, y in tqdm(chunks, total=-(-len(data) // args.chunk), desc=f"{args.method} {args.split}", unit="chunk"):
            x = x.to(device)
            t = y.to(device) if args.target == "label" else None
            rec = attribute_with_predictions(model, x, t, args.method, head=head, **params)
            maps.append(rec.maps.cpu().float().numpy(), total=len(data))
            targets.append(rec.targets.cpu()), logits.append(rec.logits.cpu())
            used = rec.params  # with every default filled in
        save_attributions(args.out, maps.array, torch.cat(targets), torch.cat(logits), args.method, used,
                          seed=args.seed, scale=args.scale, run=str(args.run), split=args.split, limit=args.limit,
                          target=args.target)
    return 0


class _ChunkedArray:
    """Rows appended chunk by chunk into a memory-mapped ``.npy`` beside an output file."""

    def __init__(self, path: Path):
        self.path, self.array, self.filled = path, None, 0

    def append(self, chunk, total: int) -> None:
        import numpy as np

        if self.array is None:
            self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=chunk.dtype, shape=(total, *chunk.shape[1:]))
        self.array[self.filled:self.filled + len(chunk)] = chunk
        self.filled += len(chunk)


@contextlib.contextmanager
def chunked_array(out: str | Path):
    """A :class:`_ChunkedArray` in a temporary file next to ``out``, removed afterwards (and the folder
    it made for it, when nothing else was written there)."""
    out = Path(out)
    created = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    acc = _ChunkedArray(out.parent / f".{out.name}.chunks.npy")
    try:
        yield acc
    finally:
        acc.array = None
        acc.path.unlink(missing_ok=True)
        if created and not any(out.parent.iterdir()):
            out.parent.rmdir()


def set_threads(threads: int | None) -> None:
    """Limit torch's CPU threads (one per job when the workflow runs jobs side by side)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def _roar(args) -> int:
    from attriflow.attribution import load_attributions
    from attriflow.data.streaming import as_imageset
    from attriflow.evaluation.roar import retrain
    from attriflow.models.training_data import Splits

    if not 0 <= args.fraction <= 100:
        raise UserError(f"--fraction {args.fraction}: expected a percentage between 0 and 100")
    set_threads(args.threads)
    if args.fraction > 0 and not args.maps:
        raise UserError(f"--fraction {args.fraction} needs --maps TRAIN VAL TEST (stored maps of every split)")
    _, info, splits = run_splits(args.run)
    splits = Splits(*(as_imageset(part) for _, part in splits.items()))  # masking needs the pixels: ROAR sets are small
    maps = None
    if args.fraction > 0:
        maps = {name: load_attributions(path).maps for name, path in zip(SPLITS, args.maps)}
        for (name, m), path in zip(maps.items(), args.maps):
            if len(m) != len(getattr(splits, name)):
                raise UserError(f"{path}: {len(m)} maps but the {name} split of {args.run} has "
                                f"{len(getattr(splits, name))} images")
    retrain(info["run"], splits, maps, args.fraction / 100.0, args.out, epochs=args.epochs, seed=args.seed,
            extra={"method": args.entry, "percent": args.fraction, "run": str(args.run)})
    return 0


def _evaluate(args) -> int:
    import torch

    from attriflow.data.streaming import as_imageset
    from attriflow.evaluation import class_sensitivity, pixel_perturbation, randomisation_test
    from attriflow.evaluation.explainers import method_explainer
    from attriflow.models.heads import head_of
    from attriflow.utils.io import save_dataframe
    from attriflow.utils.provenance import seed_everything

    params = parse_json_object(args.params_json, "--params-json")
    settings = parse_json_object(args.settings_json, "--settings-json")
    set_threads(args.threads)
    seed_everything(args.seed)
    model, info, splits = run_splits(args.run)
    head = head_of(info)  # what the outputs mean: the probability and classes each evaluation uses
    data = splits.test if args.limit is None else splits.test.subset(slice(0, args.limit))
    data = as_imageset(data)  # a streamed split is decoded: evaluations run on a limited test set
    device = next(model.parameters()).device
    x = data.images.to(device)
    name = args.entry or args.method
    batch = int(params.get("batch_size") or 64)
    if args.kind == "perturbation":
        from attriflow.attribution import load_attributions

        if not args.maps:
            raise UserError("attriflow evaluate perturbation needs --maps (stored maps of the test split)")
        rec = load_attributions(args.maps)
        if len(rec.maps) < len(x):
            raise UserError(f"{args.maps}: {len(rec.maps)} maps, fewer than the {len(x)} test images evaluated")
        settings = {**settings}
        fractions = [f / 100.0 for f in settings.pop("fractions", list(range(1, 11)))]
        df = pixel_perturbation(model, x, {name: rec.maps[: len(x)].to(device)}, rec.targets[: len(x)].to(device),
                                fractions=fractions, seed=args.seed, batch_size=batch, head=head, **settings)
    else:
        explainer = {name: method_explainer(args.method, **params)}
        if args.kind == "randomisation":
            df = randomisation_test(model, x, None, explainer, seed=args.seed, batch_size=batch, head=head, **settings)
        else:
            df = class_sensitivity(model, x, explainer, seed=args.seed, batch_size=batch, head=head, **settings)
    df.insert(0, "run", Path(args.run).name)
    save_dataframe(args.out, df)
    return 0
