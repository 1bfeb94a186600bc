"""One training loop for every model of every paper, with a checkpoint per epoch and resume.

``train_run(spec, out_dir)`` trains the model a spec describes and writes, in ``out_dir``:
``model.pt`` (weights of the epoch best on validation, see :mod:`attriflow.models.runs`),
``metrics.csv`` (one row per epoch, no timings), ``config.yaml`` (the full spec and provenance) and, last,
``metrics.json`` (test metrics of the selected weights, and the timings). While it runs, ``checkpoint.pt`` holds
everything needed to continue (model, optimizer, scheduler, AMP scaler, random number states
including the data order's generator); a rerun after a kill continues from the last complete
epoch and ends with the same weights as an uninterrupted run (bitwise on the CPU).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from attriflow.data.imageset import ImageSet
from attriflow.data.streaming import StreamingSet, batches, image_shape, is_streaming, make_loader
from attriflow.errors import UserError
from attriflow.models import tasks
from attriflow.models.accel import (amp_mode, autocast, configure_backends, grad_scaler, pick_device, prepare_model,
                                    to_device)
from attriflow.models.registry import create_model, initialise, resolve_name
from attriflow.models.runs import read_model_file, save_model_file
from attriflow.models.spec import normalise_spec, spec_hash
from attriflow.models.training_data import Splits, load_splits
from attriflow.models.weights import head_name, resolve_init
from attriflow.utils.io import atomic_write_text, load_torch, save_dataframe, save_torch, sha256_file, write_json
from attriflow.utils.provenance import provenance, seed_everything

CHECKPOINT = "checkpoint.pt"
TIMING_COLUMNS = ("train_seconds", "images_per_second")  # per epoch, in metrics.json only (they differ run to run)
CHECKPOINT_FORMAT = "attriflow-checkpoint/1"


Data = ImageSet | StreamingSet


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor | Data, batch_size: int = 256, device: str | torch.device = "cpu",
            amp: str | bool = "off", **loader_options) -> torch.Tensor:
    """Raw model outputs for a tensor of images or a dataset of either form, in batches, as float32 on
    the CPU (the model's mode is the caller's). ``loader_options`` go to :func:`make_loader` (workers)."""
    device = torch.device(device)
    amp = amp_mode(amp, device)
    source = ((images[i:i + batch_size], None) for i in range(0, len(images), batch_size)) \
        if isinstance(images, torch.Tensor) else batches(images, batch_size, **loader_options)
    outs = []
    for x, _ in source:
        with autocast(device, amp):
            outs.append(model(to_device(x, device)).float().cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, data: Data, task: str, loss_fn: nn.Module, batch_size: int,
             device: torch.device, amp: str | bool = "off", **loader_options) -> dict[str, Any]:
    """Loss and task metrics of ``model`` (switched to eval mode) on ``data``."""
    model.eval()
    outputs = predict(model, data, batch_size, device, amp, **loader_options)
    with torch.no_grad():
        loss = loss_fn(outputs.to(device), data.targets.to(device)).item()
    return {"loss": loss, **tasks.metrics(task, outputs, data.targets)}


def loader_options(spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """DataLoader settings of a spec: workers, prefetch, pinned memory (only worth it for a GPU)."""
    return {"num_workers": spec["num_workers"], "prefetch_factor": spec["prefetch_factor"],
            "pin_memory": spec["pin_memory"] and device.type == "cuda"}


def _loader(data: Data, spec: dict[str, Any], generator: torch.Generator, device: torch.device) -> DataLoader:
    drop_last = len(data) % spec["batch_size"] == 1  # a one-image batch breaks BatchNorm
    return make_loader(data, spec["batch_size"], generator=generator, drop_last=drop_last, persistent_workers=True,
                       **loader_options(spec, device))


def _optimizer(spec: dict[str, Any], model: nn.Module):
    params = [p for p in model.parameters() if p.requires_grad]
    if spec["optimizer"] == "adam":
        optimizer = torch.optim.Adam(params, lr=spec["lr"], weight_decay=spec["weight_decay"])
    else:
        optimizer = torch.optim.SGD(params, lr=spec["lr"], momentum=spec["momentum"], weight_decay=spec["weight_decay"])
    if spec["schedule"] == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec["epochs"])
    elif spec["schedule"] == "step":
        step = spec["step_size"] or max(1, spec["epochs"] // 3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=spec["gamma"])
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return optimizer, scheduler


def _init_decision(spec: dict[str, Any], task: str, train: Data, runs_dir: Path) -> bool | None:
    """Whether to replace the head of the init weights: yes when they come from a run on another
    task or class list (pretraining, then fine-tuning), by shape otherwise."""
    kind, path = resolve_init(spec["init"], runs_dir)
    if kind != "run":
        return None
    source = read_model_file(path)
    return source.get("task") != task or list(source.get("class_names", [])) != list(train.class_names)


def build_model(spec: dict[str, Any], task: str, train: Data, runs_dir: Path,
                weights_dir: str | os.PathLike | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The spec's model with its initial weights, its head sized for ``task`` on ``train``.

    A fresh regression head starts at the mean training target, so training does not spend its
    first epochs moving the bias.
    """
    num_outputs = tasks.head_width(task, train)
    reset = _init_decision(spec, task, train, runs_dir)
    model = create_model(spec["model"], num_classes=num_outputs, in_chans=image_shape(train)[0], **spec["model_kwargs"])
    report = initialise(model, spec["model"], spec["init"], reset_head=reset, runs_dir=runs_dir, weights_dir=weights_dir)
    bias = tasks.initial_bias(task, train)
    head = head_name(model)
    if bias is not None and head is not None and (report["kind"] == "random" or report.get("reset")):
        layer = model.get_submodule(head)
        if getattr(layer, "bias", None) is not None and layer.bias.shape == bias.shape:
            with torch.no_grad():
                layer.bias.copy_(bias)
    if report.get("path"):
        report["sha256"] = sha256_file(report["path"])
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}
    return model, summary


def _rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state(),
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }


def _set_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    loader_generator.set_state(state["loader"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _read_checkpoint(path: Path, expected_hash: str, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint of this spec, None if there is none or it belongs to other settings."""
    if not path.is_file():
        return None
    try:
        ckpt = load_torch(path, map_location=device)
    except ValueError as exc:
        raise UserError(f"{exc}; delete it to train this run from the start") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not an attriflow training checkpoint; delete it to train this run from the start")
    if ckpt["spec_hash"] != expected_hash:
        print(f"attriflow train: {path} was written with other settings; starting over", file=sys.stderr)
        return None
    return ckpt


def _scalars(values: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in values.items() if isinstance(v, (int, float))}


def chance_metrics(task: str, train: Data, test: Data) -> dict[str, Any]:
    """Test metrics of a constant guess from the training set (the majority class, the mean score):
    the floor a trained model must clear."""
    y = train.targets
    if task == "multiclass":
        guess = torch.zeros(len(test), tasks.head_width(task, train))
        guess[:, torch.bincount(y).argmax()] = 1.0
    elif task == "zones":
        majority = torch.stack([torch.bincount(y[:, z], minlength=tasks.ZONE_CLASSES).argmax() for z in range(y.shape[1])])
        guess = nn.functional.one_hot(majority, tasks.ZONE_CLASSES).float().reshape(1, -1).repeat(len(test), 1)
    elif task == "binary":
        guess = torch.full((len(test), 1), 10.0 if y.float().mean() > 0.5 else -10.0)
    elif task == "multilabel":
        guess = torch.zeros(len(test), y.shape[1])
    else:
        guess = y.float().mean(0).reshape(1, -1).repeat(len(test), 1)
    return tasks.metrics(task, guess, test.targets)


def train_run(spec: dict[str, Any], out_dir: str | os.PathLike, data: Splits | None = None, *,
              runs_dir: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None,
              stop_after: int | None = None, progress: bool | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Train the model ``spec`` describes (see :mod:`attriflow.models.spec`) and write its outputs to ``out_dir``.

    ``data``: the splits to use (default: loaded from the spec's ``dataset``). ``runs_dir``: where
    runs named by ``init`` live (default: ``out_dir``'s parent). ``stop_after``: stop after this
    many epochs of this call, as if killed, leaving only the checkpoint. ``progress``: tqdm bars
    (None: only on a terminal). ``extra``: fields written into ``metrics.json`` (e.g. a
    ROAR point's method and fraction). Returns the content of ``metrics.json``, or None when stopped early.
    """
    spec = normalise_spec(spec)
    out_dir = Path(out_dir)
    runs_dir = Path(runs_dir) if runs_dir is not None else out_dir.parent
    run_id = out_dir.name
    resolve_name(spec["model"])  # a typo in the model or init fails before any data is read
    resolve_init(spec["init"], runs_dir)
    seed_everything(spec["seed"])
    device = pick_device(spec["device"])
    amp = amp_mode(spec["amp"], device)
    data = data if data is not None else load_splits(spec)
    task = spec["task"] or data.train.task
    for part, subset in data.items():
        if subset.task != task:
            raise UserError(f"spec task {task!r} but the {part} set of {spec['dataset']!r} is a {subset.task!r} task")
    if spec["epochs"]:
        tasks.check_classes_present(task, data.train, f"run {run_id}: the train split of {spec['dataset']!r}")

    model, init_report = build_model(spec, task, data.train, runs_dir, weights_dir)
    prepare_model(model, device)
    configure_backends(device, fixed_size=spec["image_size"] is not None or not is_streaming(data.train))
    loss_fn = tasks.build_loss(task, spec["loss"], data.train).to(device)
    optimizer, scheduler = _optimizer(spec, model)
    scaler = grad_scaler(device, amp)
    generator = torch.Generator().manual_seed(spec["seed"])
    loader = _loader(data.train, spec, generator, device)
    eval_batch = max(2 * spec["batch_size"], 128)
    eval_options = loader_options(spec, device)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    first_epoch = 1
    ckpt_path = out_dir / CHECKPOINT
    h = spec_hash(spec)
    ckpt = _read_checkpoint(ckpt_path, h, device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        history, best = ckpt["history"], ckpt["best"]
        _set_rng_state(ckpt["rng"], generator)
        first_epoch = ckpt["epoch"] + 1
        print(f"attriflow train: resuming {run_id} after epoch {ckpt['epoch']}", file=sys.stderr)

    for epoch in range(first_epoch, spec["epochs"] + 1):
        model.train()
        start, total, seen = time.perf_counter(), 0.0, 0
        lr = optimizer.param_groups[0]["lr"]
        bar = tqdm(loader, desc=f"{run_id} epoch {epoch}/{spec['epochs']}", leave=False, disable=None if progress is None else not progress)
        for x, y in bar:
            x, y = to_device(x, device), y.to(device, non_blocking=True)
            with autocast(device, amp):
                loss = loss_fn(model(x).float(), y)
            if not torch.isfinite(loss):
                raise UserError(f"run {run_id}: the loss became {loss.item()} in epoch {epoch}; lower the lr (now {lr})")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(x)
            seen += len(x)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        train_seconds = time.perf_counter() - start
        scheduler.step()
        val = evaluate(model, data.val, task, loss_fn, eval_batch, device, amp, **eval_options)
        key = list(tasks.selection_key(task, val, val["loss"]))
        if best is None or key > best["key"]:
            best = {"epoch": epoch, "key": key, "val": val, "state_dict": _cpu(model.state_dict())}
        history.append({"epoch": epoch, "lr": lr, "train_loss": total / max(seen, 1), **_scalars(val, "val_"),
                        "train_images": seen, "train_seconds": train_seconds, "images_per_second": seen / max(train_seconds, 1e-9)})
        save_torch(ckpt_path, {"format": CHECKPOINT_FORMAT, "spec_hash": h, "epoch": epoch,
                               "model": _cpu(model.state_dict()), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                               "history": history, "best": best, "rng": _rng_state(generator)})
        metric, _ = tasks.SELECTION[task]
        print(f"{run_id} epoch {epoch}/{spec['epochs']}: train loss {history[-1]['train_loss']:.4f}, val loss "
              f"{val['loss']:.4f}, val {metric} {val.get(metric, float('nan')):.4f} ({train_seconds:.1f} s, "
              f"{history[-1]['images_per_second']:.0f} img/s)", file=sys.stderr, flush=True)
        if stop_after is not None and epoch - first_epoch + 1 >= stop_after and epoch < spec["epochs"]:
            return None

    if best is None:  # epochs 0: the initial weights are the model
        val = evaluate(model, data.val, task, loss_fn, eval_batch, device, amp, **eval_options)
        best = {"epoch": 0, "val": val, "state_dict": _cpu(model.state_dict())}
    model.load_state_dict(best["state_dict"])
    test = evaluate(model, data.test, task, loss_fn, eval_batch, device, amp, **eval_options)
    info = {
        "model": {"name": spec["model"], "num_classes": tasks.head_width(task, data.train),
                  "in_chans": int(image_shape(data.train)[0]), "kwargs": dict(spec["model_kwargs"])},
        "task": task, "class_names": list(data.train.class_names), "input_size": list(image_shape(data.train)[-2:]),
        "epoch": best["epoch"], "run": spec,
    }
    save_model_file(out_dir / "model.pt", model, info)
    # metrics.csv holds what a rerun reproduces byte for byte; the timings go to metrics.json
    save_dataframe(out_dir / "metrics.csv", pd.DataFrame(history, columns=["epoch", "lr", "train_loss", *TIMING_COLUMNS] if not history else None)
                   .drop(columns=list(TIMING_COLUMNS)))
    record = provenance(seed=spec["seed"], scale=spec["scale"], run=run_id, device=str(device), amp=amp, init=init_report)
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump({"spec": spec, "provenance": record}, sort_keys=False))
    seconds = sum(r["train_seconds"] for r in history)
    result = {
        "run": run_id, "model": spec["model"], "dataset": spec["dataset"], "task": task,
        "selection": {"metric": tasks.SELECTION[task][0], "epoch": best["epoch"]},
        "test": test, "val": best["val"], "chance": chance_metrics(task, data.train, data.test),
        "epochs": spec["epochs"], "num_parameters": sum(p.numel() for p in model.parameters()),
        "n_train": len(data.train) if spec["epochs"] else 0, "n_val": len(data.val), "n_test": len(data.test),
        "train_seconds": seconds, "images_per_second": sum(r["train_images"] for r in history) / max(seconds, 1e-9),
        "timing": [{"epoch": r["epoch"], **{k: r[k] for k in TIMING_COLUMNS}} for r in history],
        **record,
        **(extra or {}),
    }
    write_json(out_dir / "metrics.json", _finite(result))
    ckpt_path.unlink(missing_ok=True)
    return result


def _finite(obj: Any) -> Any:
    """NaN and infinities as None, so metrics.json is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
