"""Heads and losses per task, and the metrics a trained model is judged by.

| task       | head outputs | loss (options)                                              | metrics (first = model selection) |
|------------|--------------|-------------------------------------------------------------|-----------------------------------|
| multiclass | K            | cross-entropy                                               | accuracy                          |
| multilabel | K            | BCE per label (pos_weight: number, list of K, "balanced")   | macro_auc, per-label AUC          |
| binary     | 1            | BCE (pos_weight / neg_weight: number or "balanced")         | auc, accuracy                     |
| regression | K (1)        | MSE (weighted: true = inverse frequency of the rounded score,| mae, rmse                         |
|            |              | to the power weight_power, default 1 as the authors)         |                                   |
| zones      | 6 x 4 = 24   | cross-entropy per zone, averaged                            | zone_accuracy, mae (global score) |
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from attriflow.data.imageset import TASKS, ImageSet
from attriflow.errors import UserError

ZONE_CLASSES = 4
LOSS_OPTIONS = {
    "multiclass": set(),
    "multilabel": {"pos_weight"},
    "binary": {"pos_weight", "neg_weight"},
    "regression": {"weighted", "weight_power"},
    "zones": set(),
}
# metric that picks the best epoch on the validation set, and whether higher is better
SELECTION = {"multiclass": ("accuracy", True), "multilabel": ("macro_auc", True), "binary": ("auc", True),
             "regression": ("mae", False), "zones": ("zone_accuracy", True)}


def head_width(task: str, data: ImageSet) -> int:
    """Number of model outputs the task needs for this data."""
    check_task(task)
    if task == "binary":
        return 1
    if task == "zones":
        return data.targets.shape[1] * ZONE_CLASSES
    return data.num_outputs


def check_task(task: str) -> None:
    if task not in TASKS:
        raise UserError(f"task {task!r} is not one of {', '.join(TASKS)}")


def check_classes_present(task: str, data: ImageSet, where: str) -> None:
    """A UserError naming the classes of a multiclass or binary set that hold no image (a model
    cannot learn, nor a metric judge, a class it never sees), or an empty set."""
    if len(data) == 0:
        raise UserError(f"{where}: holds no images; check the dataset's path and the limit")
    if task not in ("multiclass", "binary"):
        return
    names = list(data.class_names) or [str(k) for k in range(int(data.targets.max()) + 1)]
    if task == "binary":
        names = names if len(names) == 2 else ["negative", "positive"]
    counts = torch.bincount(data.targets.long().flatten(), minlength=len(names))
    empty = [names[k] for k in range(len(names)) if counts[k] == 0]
    if empty:
        raise UserError(f"{where}: class{'es' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
                        f"{'have' if len(empty) > 1 else 'has'} no images (counts per class: "
                        f"{dict(zip(names, counts.tolist()))}); raise the limit or use data that holds every class")


class TaskLoss(nn.Module):
    """The training loss of a task: ``loss(outputs, targets)`` -> scalar mean over items.

    Per-item weights (``pos_weight``/``neg_weight`` for binary, inverse-frequency weights for
    regression) and per-label positive weights (multilabel) are buffers, fixed from the training
    set when the loss is built (:func:`build_loss`).
    """

    def __init__(self, task: str, pos_weight: torch.Tensor | None = None, neg_weight: float = 1.0,
                 score_weights: torch.Tensor | None = None):
        super().__init__()
        check_task(task)
        self.task = task
        self.neg_weight = float(neg_weight)
        self.register_buffer("pos_weight", pos_weight)
        self.register_buffer("score_weights", score_weights)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        outputs = shape_outputs(self.task, outputs, targets)
        if self.task == "multiclass":
            return F.cross_entropy(outputs, targets)
        if self.task == "zones":
            return F.cross_entropy(outputs.reshape(-1, ZONE_CLASSES), targets.reshape(-1))
        if self.task == "multilabel":
            return F.binary_cross_entropy_with_logits(outputs, targets.float(), pos_weight=self.pos_weight)
        if self.task == "binary":
            y = targets.float()
            pos = 1.0 if self.pos_weight is None else self.pos_weight
            weight = torch.where(y > 0.5, pos * torch.ones_like(y), torch.full_like(y, self.neg_weight))
            return (weight * F.binary_cross_entropy_with_logits(outputs, y, reduction="none")).mean()
        err = (outputs - targets.float()) ** 2
        if self.score_weights is not None:
            index = targets.round().long().clamp(0, len(self.score_weights) - 1)
            err = err * self.score_weights[index]
        return err.mean()


def shape_outputs(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Model outputs reshaped to the targets' layout: (N,) for binary and 1-d regression, (N, 6, 4) for zones."""
    if task == "zones":
        return outputs.reshape(outputs.shape[0], -1, ZONE_CLASSES)
    if task in ("binary", "regression") and targets.ndim == 1:
        return outputs.reshape(outputs.shape[0])
    return outputs


def build_loss(task: str, options: dict[str, Any] | None, train: ImageSet) -> TaskLoss:
    """The loss of ``task`` with its ``options`` (see the module table), weights taken from ``train``."""
    options = dict(options or {})
    check_task(task)
    unknown = sorted(set(options) - LOSS_OPTIONS[task])
    if unknown:
        valid = sorted(LOSS_OPTIONS[task]) or "none"
        raise UserError(f"loss options {unknown} do not apply to task {task!r}; valid: {valid}")
    y = train.targets
    if task == "multilabel":
        return TaskLoss(task, pos_weight=_label_pos_weight(options.get("pos_weight"), y))
    if task == "binary":
        positives = float((y == 1).sum())
        negatives = float(len(y) - positives)
        pos = _weight_value("pos_weight", options.get("pos_weight"), negatives / max(positives, 1.0))
        neg = _weight_value("neg_weight", options.get("neg_weight"), positives / max(negatives, 1.0))
        return TaskLoss(task, pos_weight=None if pos == 1.0 else torch.tensor(pos), neg_weight=neg)
    if task == "regression":
        weighted, power = options.get("weighted", False), options.get("weight_power", 1.0)
        if not isinstance(weighted, bool):
            raise UserError(f"loss option weighted must be true or false, got {weighted!r}")
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
            raise UserError(f"loss option weight_power must be a positive number, got {power!r}")
        if weighted and y.ndim != 1:
            raise UserError("loss option weighted: true needs one regression target per image (a score)")
        return TaskLoss(task, score_weights=inverse_frequency_weights(y, power) if weighted else None)
    return TaskLoss(task)


def _weight_value(key: str, value: Any, balanced: float) -> float:
    if value is None:
        return 1.0
    if value == "balanced":
        return balanced
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UserError(f"loss option {key} must be a positive number or 'balanced', got {value!r}")
    return float(value)


def _label_pos_weight(value: Any, y: torch.Tensor) -> torch.Tensor | None:
    k = y.shape[1]
    if value is None:
        return None
    if value == "balanced":
        pos = y.float().sum(0)
        return ((len(y) - pos) / pos.clamp(min=1.0)).clamp(min=1e-3)
    values = [value] * k if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(values, (list, tuple)) or len(values) != k or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise UserError(f"loss option pos_weight must be a positive number, a list of {k} of them, or 'balanced'; got {value!r}")
    return torch.tensor([float(v) for v in values])


def inverse_frequency_weights(scores: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """Weight per integer score 0..max: 1 / (its frequency in ``scores``, rounded) ** ``power``, scaled
    to mean 1 over the items (the authors' weighted MSE: power 1, scaled to max 1; power 0.5 tempers
    a very skewed distribution); unseen scores get the largest weight."""
    index = scores.round().long().clamp(min=0)
    counts = torch.bincount(index).float()
    weights = torch.where(counts > 0, counts.clamp(min=1.0) ** -float(power), torch.zeros_like(counts))
    weights = weights / weights[index].mean()
    return torch.where(counts > 0, weights, weights.max())


def metrics(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    """Quality of ``outputs`` against ``targets`` (see the module table); AUCs are NaN where a split
    holds only one class."""
    outputs = shape_outputs(task, outputs.float(), targets)
    if task == "multiclass":
        return {"accuracy": (outputs.argmax(1) == targets).float().mean().item()}
    if task == "zones":
        pred = outputs.argmax(2)
        return {"zone_accuracy": (pred == targets).float().mean().item(),
                "mae": (pred.sum(1) - targets.sum(1)).abs().float().mean().item()}
    if task == "binary":
        prob = torch.sigmoid(outputs)
        return {"auc": _auc(targets.numpy(), prob.numpy()), "accuracy": ((prob > 0.5).long() == targets).float().mean().item()}
    if task == "multilabel":
        per_label = [_auc(targets[:, k].numpy(), outputs[:, k].numpy()) for k in range(targets.shape[1])]
        finite = [a for a in per_label if not math.isnan(a)]
        return {"macro_auc": float(np.mean(finite)) if finite else float("nan"), "auc_per_label": per_label}
    err = outputs - targets.float()
    return {"mae": err.abs().mean().item(), "rmse": err.pow(2).mean().sqrt().item()}


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def selection_key(task: str, values: dict[str, Any], loss: float) -> tuple[float, float]:
    """Sort key of a validation result (larger is better): the task's selection metric, then the
    lower loss (which also decides when the metric is undefined, e.g. a one-class split)."""
    name, higher = SELECTION[task]
    value = values.get(name, float("nan"))
    value = -math.inf if value is None or math.isnan(value) else (value if higher else -value)
    return value, -loss


def initial_bias(task: str, train: ImageSet) -> torch.Tensor | None:
    """Head bias that starts a fresh regression head at the mean training target (None for other tasks)."""
    if task != "regression":
        return None
    y = train.targets.float()
    return y.mean(0).reshape(-1) if y.ndim > 1 else y.mean().reshape(1)
