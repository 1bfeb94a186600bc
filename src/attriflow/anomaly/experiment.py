"""One-class anomaly-detection experiments end to end: the workflow's ``attriflow anomaly run`` step.

A *dataset entry* (config ``papers.mkd.datasets_detection.<name>``) says how its one-class
problems are built:

- ``kind: one_class``: a multiclass view (digits, MNIST, CIFAR-10); each class in turn is normal,
  the cloner trains on that class's training images, the test set is every test image and
  every other class is anomalous.
- ``kind: defects``: normal-vs-defective views (textures, MVTec AD, ...), one problem per
  ``classes`` entry (view ``<view>/<class>``) or the view itself; trains on the (normal) training
  split, tests on the test split, whose masks give pixel ground truth for localisation.

For every problem this trains one cloner (fixed epoch count), scores the test set with the
distillation loss, and writes detection AUROCs under both protocols (see
:mod:`attriflow.anomaly.localisation`; for detection, ``paper`` is the best of the test AUROCs
evaluated every ``eval_every`` epochs, the choice the authors' training loop leaves open and
makes on test data, ``corrected`` is the fixed final epoch, nothing selected on test), plus the
kNN (DN2) baseline on the same expert and data, and, with masks, the pixel AUROC of every
localisation method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from attriflow.anomaly.cloner import expert_outputs, train_cloner
from attriflow.anomaly.expert import cloner_for, load_expert, prepare
from attriflow.anomaly.localisation import PROTOCOLS, localise, pixel_auroc, postprocess
from attriflow.anomaly.loss import DistillationLoss, LossSpec
from attriflow.anomaly.scoring import anomaly_scores, auroc, knn_scores, pooled_features
from attriflow.errors import UserError
from attriflow.utils.io import save_dataframe, save_npz, write_json
from attriflow.utils.provenance import provenance, seed_everything

KINDS = ("one_class", "defects")
DEFAULTS: dict[str, Any] = {
    "image_size": 32, "epochs": 30, "lr": 1e-3, "batch_size": 64, "eval_every": 10,
    "loss": {}, "normalise": "none", "knn_k": 2, "protocols": list(PROTOCOLS),
    "localisation": {"methods": {}, "sigma": 4.0, "opening": 3, "examples": 2},
    "train_limit": None, "test_limit": None, "classes": None,
}


@dataclass
class Problem:
    """One one-class problem: normal training images, test images with labels (1 = anomalous)."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    labels: np.ndarray
    masks: np.ndarray | None


def settings_of(entry: dict, overrides: dict | None = None) -> dict:
    """A dataset entry merged over :data:`DEFAULTS`, then ``overrides`` (an ablation's loss keys)."""
    unknown = set(entry) - set(DEFAULTS) - {"view", "kind"}
    if unknown:
        raise UserError(f"unknown MKD dataset settings {sorted(unknown)}; valid: {sorted(set(DEFAULTS) | {'view', 'kind'})}")
    s = {**DEFAULTS, **entry}
    s["loss"] = {**dict(DEFAULTS["loss"]), **dict(entry.get("loss") or {}), **dict(overrides or {})}
    s["localisation"] = {**DEFAULTS["localisation"], **dict(entry.get("localisation") or {})}
    if s.get("kind") not in KINDS:
        raise UserError(f"MKD dataset entry {entry!r}: kind must be one of {', '.join(KINDS)}")
    if not s.get("view"):
        raise UserError(f"MKD dataset entry {entry!r} needs a `view` (a dataset view name)")
    bad = [p for p in s["protocols"] if p not in PROTOCOLS]
    if bad or not s["protocols"]:
        raise UserError(f"protocols {s['protocols']!r}: each must be one of {', '.join(PROTOCOLS)}")
    LossSpec.from_dict(s["loss"])  # validates early
    return s


def problems(s: dict, root: str | Path = "data") -> Iterator[Problem]:
    """The one-class problems of a dataset entry (see the module docstring), images resized. A real
    (streamed) view is decoded one problem at a time: its test split once, each class's normal
    training images when that class's turn comes."""
    from attriflow.data.loading import load_dataset
    from attriflow.data.streaming import as_imageset

    size = s["image_size"]
    if s["kind"] == "one_class":
        train = load_dataset(s["view"], root, "train", None, size)  # train_limit applies per class, below
        test = load_dataset(s["view"], root, "test", s["test_limit"], size)
        if test.task != "multiclass":
            raise UserError(f"one_class needs a multiclass view; {s['view']!r} is {test.task}")
        names = list(train.class_names)
        classes = s["classes"] if s["classes"] is not None else names
        for c in classes:
            if str(c) not in names:
                raise UserError(f"class {c!r} not in {s['view']!r}; valid: {', '.join(names)}")
        test = as_imageset(test)
        for c in classes:
            k = names.index(str(c))
            normal = train.subset(train.targets == k)
            if s["train_limit"] is not None:
                normal = normal.subset(slice(0, s["train_limit"]))
            yield Problem(str(c), as_imageset(normal).images, test.images, (test.targets != k).numpy().astype(int), None)
    else:
        views = [f"{s['view']}/{c}" for c in s["classes"]] if s["classes"] else [s["view"]]
        for view in views:
            train = as_imageset(load_dataset(view, root, "train", s["train_limit"], size))
            test = as_imageset(load_dataset(view, root, "test", s["test_limit"], size))
            masks = None if test.masks is None else test.masks[:, 0].numpy()
            yield Problem(view.split("/")[-1], train.images, test.images, test.targets.numpy().astype(int), masks)


def run_dataset(dataset: str, entry: dict, expert_source: str, out: str | Path, *, variant: str = "main",
                overrides: dict | None = None, baseline: bool = True, localise_maps: bool = True,
                seed: int = 0, scale: str = "demo", root: str | Path = "data", weights_dir=None,
                device: str = "cpu", progress: bool = False) -> dict[str, Path]:
    """Run every one-class problem of ``dataset`` and write its results to ``out``/:

    ``detection.csv`` (dataset, class, method, variant, protocol, auroc, seed, scale, epochs, loss
    settings), ``scores.csv`` (per test image: class, method, label, score), ``history.csv``
    (loss per epoch, test AUROC at evaluation epochs), ``localization.csv`` and ``examples.npz``
    (maps of a few defective images per class; empty without masks), ``provenance.json``.
    """
    from attriflow.models.training import pick_device

    s = settings_of(entry, overrides)
    spec = LossSpec.from_dict(s["loss"])
    seed_everything(seed)
    dev = pick_device(device)
    expert, info = load_expert(expert_source, weights_dir)
    expert.to(dev)
    out = Path(out)
    det, scores, hist, loc = [], [], [], []
    examples: dict[str, list] = {"images": [], "masks": [], "classes": []}
    methods = dict(s["localisation"]["methods"]) if localise_maps else {}
    ex_maps: dict[str, list] = {m: [] for m in methods}
    common = {"dataset": dataset, "variant": variant, "seed": seed, "scale": scale}
    started = time.perf_counter()
    cached: tuple = (None, None, None, None)  # (source test tensor, prepared, expert outputs, pooled features)
    for prob in tqdm(list(problems(s, root)), desc=f"mkd {dataset} {variant}", disable=not progress):
        train = prepare(prob.train, s["normalise"]).to(dev)
        if cached[0] is not prob.test:  # one_class problems share one test set: the frozen expert sees it once
            test = prepare(prob.test, s["normalise"]).to(dev)
            cached = (prob.test, test, expert_outputs(expert, test, spec.stages), None)
        test, real_test = cached[1], cached[2]
        cloner = cloner_for(info, seed).to(dev)

        def evaluate(epoch: int, model: torch.nn.Module) -> dict:
            return {"test_auroc": auroc(prob.labels, anomaly_scores(expert, model, test, spec, expert_outputs=real_test))}

        wants_paper = "paper" in s["protocols"]
        history = train_cloner(expert, cloner, train, spec, epochs=s["epochs"], lr=s["lr"], batch_size=s["batch_size"],
                               seed=seed, eval_every=s["eval_every"] if wants_paper else None,
                               on_eval=evaluate if wants_paper else None, desc=f"{dataset}/{prob.name}")
        hist += [{**common, "class": prob.name, **h} for h in history]
        final = anomaly_scores(expert, cloner, test, spec, expert_outputs=real_test)
        sizes = {"n_train": len(prob.train), "n_test": len(prob.labels)}
        row = {**common, "class": prob.name, "method": "mkd", **sizes, "epochs": s["epochs"], **_loss_columns(spec)}
        for protocol in s["protocols"]:
            value = auroc(prob.labels, final)
            if protocol == "paper":
                value = max([h["test_auroc"] for h in history if "test_auroc" in h] + [value])
            det.append({**row, "protocol": protocol, "auroc": value})
        scores += [{**common, "class": prob.name, "method": "mkd", "label": int(l), "score": float(v)}
                   for l, v in zip(prob.labels, final)]
        if baseline:
            if cached[3] is None:
                cached = (*cached[:3], pooled_features(expert, test))
            knn = knn_scores(pooled_features(expert, train), cached[3], s["knn_k"])
            for protocol in s["protocols"]:
                det.append({**common, "class": prob.name, "method": f"knn{s['knn_k']}", **sizes, "epochs": 0,
                            "protocol": protocol, "auroc": auroc(prob.labels, knn)})
            scores += [{**common, "class": prob.name, "method": f"knn{s['knn_k']}", "label": int(l), "score": float(v)}
                       for l, v in zip(prob.labels, knn)]
        if methods and prob.masks is not None:
            loss_model = DistillationLoss(expert, cloner, spec).eval()
            shown = np.flatnonzero(prob.labels == 1)[: int(s["localisation"]["examples"])]
            examples["images"].append(prob.test[shown].numpy())  # as loaded (CPU, [0, 1])
            examples["masks"].append(prob.masks[shown])
            examples["classes"] += [prob.name] * len(shown)
            for method, params in methods.items():
                params = dict(params or {})
                name = params.pop("method", method)
                raw = localise(loss_model, test, name, **params)
                for protocol in s["protocols"]:
                    maps = postprocess(raw, s["localisation"]["sigma"], s["localisation"]["opening"],
                                       per_image=protocol == "paper")
                    loc.append({**common, "category": prob.name, "method": method, "protocol": protocol,
                                "pixel_auroc": pixel_auroc(maps, prob.masks, prob.labels, protocol)})
                    if protocol == s["protocols"][-1]:
                        ex_maps[method].append(maps[shown])
    paths = {
        "detection": save_dataframe(out / "detection.csv", pd.DataFrame(det)),
        "scores": save_dataframe(out / "scores.csv", pd.DataFrame(scores)),
        "history": save_dataframe(out / "history.csv", pd.DataFrame(hist)),
        "localization": save_dataframe(out / "localization.csv", pd.DataFrame(
            loc, columns=["dataset", "variant", "seed", "scale", "category", "method", "protocol", "pixel_auroc"])),
    }
    if examples["images"]:
        arrays = {"images": np.concatenate(examples["images"]), "masks": np.concatenate(examples["masks"]),
                  "classes": np.array(examples["classes"]), "methods": np.array(list(ex_maps)),
                  **{f"map_{m}": np.concatenate(v) for m, v in ex_maps.items()}}
    else:  # no masks here (e.g. digits): an empty file, so every run has the same outputs
        arrays = {"images": np.zeros((0, 3, 1, 1), np.float32), "masks": np.zeros((0, 1, 1), bool),
                  "classes": np.array([], dtype=str), "methods": np.array([], dtype=str)}
    paths["examples"] = save_npz(out / "examples.npz", **arrays)
    paths["provenance"] = write_json(out / "provenance.json", provenance(
        seed, scale, dataset=dataset, variant=variant, expert=info, settings=s, loss=spec.to_dict(), device=str(dev),
        seconds=round(time.perf_counter() - started, 2)))
    return paths


def _loss_columns(spec: LossSpec) -> dict:
    return {"stages": "-".join(map(str, spec.stages)), "lambda": spec.lam, "lambda_on": spec.lambda_on,
            "use_dir": spec.use_dir}
