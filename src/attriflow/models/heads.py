"""What a model's outputs mean, per head kind: the one place that decides class scores,
probabilities and the predicted class (the head kind is the run's ``task``, stored in its
``model.pt``; see :mod:`attriflow.models.tasks`).

Classes are indexed in the space the evaluations and ``attribute(..., head=...)`` use:

| head       | outputs | classes (target index)       | score explained            | probability                      | predicted (target=None)        |
|------------|---------|------------------------------|----------------------------|----------------------------------|--------------------------------|
| multiclass | K       | K                            | logit k                    | softmax over the K               | argmax                         |
| binary     | 1 (z)   | 2: 0 negative, 1 positive    | log-odds of the class: -z, +z | sigmoid: 1 - s(z), s(z)      | 1 if z > 0                     |
| multilabel | K       | K labels (a chosen label)    | logit k                    | sigmoid of label k (independent) | the most probable label        |
| zones      | Z x 4   | Z*4: zone z, class c = 4z+c  | logit 4z+c                 | softmax within zone z            | refused: give the (zone, class)|
| regression | K       | K outputs                    | the output                 | refused (no probability)         | output 0 if K = 1, else refused|

The binary score of class c is its log-odds, so class 0 explains the evidence against the
finding with the sign flipped, and ``softmax`` of the two scores is not the probability (the
sigmoid above is): ask :func:`probabilities`, never softmax the scores yourself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attriflow.errors import UserError

HEADS = ("multiclass", "multilabel", "regression", "zones", "binary")
ZONE_CLASSES = 4


def check_head(head: Any) -> str:
    """``head`` if it is a known head kind, else a UserError listing the valid ones."""
    if head not in HEADS:
        raise UserError(f"head {head!r} is not one of {', '.join(HEADS)}")
    return head


def head_of(info: dict[str, Any]) -> str:
    """The head kind of a loaded run (``load_run``'s info: its ``task``)."""
    return check_head(info.get("task"))


def as_outputs(outputs: Any) -> Tensor:
    """The model output as (N, outputs); a (N,) output (one regression score or logit) becomes (N, 1)."""
    if not isinstance(outputs, Tensor):
        raise UserError(f"the model must return one tensor of outputs, got {type(outputs).__name__}")
    if outputs.ndim == 1:
        return outputs[:, None]
    if outputs.ndim != 2:
        raise UserError(f"the model must return (N, outputs), got shape {tuple(outputs.shape)}")
    return outputs


def _check_width(head: str, outputs: Tensor) -> None:
    width = outputs.shape[1]
    if head == "multiclass" and width < 2:
        raise UserError("a multiclass head needs at least 2 outputs, but the model returns 1 (softmax of one "
                        "logit is always 1): say head='binary' (one logit) or head='regression'")
    if head == "binary" and width != 1:
        raise UserError(f"a binary head has one output (a logit), but the model returns {width}; "
                        "use head='multiclass' for a two-logit softmax head")
    if head == "zones" and width % ZONE_CLASSES:
        raise UserError(f"a zones head has zones x {ZONE_CLASSES} outputs, but the model returns {width}")


def class_scores(head: str, outputs: Any) -> Tensor:
    """(N, classes) scores whose column ``c`` is what explaining class ``c`` differentiates."""
    check_head(head)
    outputs = as_outputs(outputs)
    _check_width(head, outputs)
    if head == "binary":
        return torch.cat([-outputs, outputs], dim=1)
    return outputs


def probabilities(head: str, outputs: Any) -> Tensor:
    """(N, classes) probability of each class (see the module table); regression is refused."""
    check_head(head)
    outputs = as_outputs(outputs).float()
    _check_width(head, outputs)
    if head == "multiclass":
        return torch.softmax(outputs, dim=1)
    if head == "binary":
        p = torch.sigmoid(outputs)
        return torch.cat([1 - p, p], dim=1)
    if head == "multilabel":
        return torch.sigmoid(outputs)
    if head == "zones":
        n = outputs.shape[0]
        return torch.softmax(outputs.reshape(n, -1, ZONE_CLASSES), dim=2).reshape(n, -1)
    raise UserError("a regression head has no class probability; this evaluation needs one "
                    "(use it on a multiclass, binary, multilabel or zones run)")


def target_probability(head: str, outputs: Any, target: Tensor) -> Tensor:
    """(N,) probability of each item's ``target`` class."""
    p = probabilities(head, outputs)
    check_targets(head, p.shape[1], target)
    return p.gather(1, target.to(p.device).long()[:, None])[:, 0]


def num_classes(head: str, outputs: Any) -> int:
    """How many target indices the head's outputs offer."""
    return class_scores(head, outputs).shape[1]


def predicted(head: str, outputs: Any) -> Tensor:
    """(N,) long: the class ``target=None`` explains (see the module table)."""
    scores = class_scores(head, outputs)
    if head == "zones":
        raise UserError("a zones head has no single predicted class: give target = 4 * zone + class "
                        "(e.g. target=4 * 2 + 3 for class 3 of zone 2)")
    if head == "regression" and scores.shape[1] != 1:
        raise UserError(f"a regression head with {scores.shape[1]} outputs has no predicted class: "
                        "give target = the output index to explain")
    if head == "regression":
        return torch.zeros(len(scores), dtype=torch.long, device=scores.device)
    return scores.argmax(1)


def check_targets(head: str, classes: int, target: Tensor) -> None:
    """A UserError naming the first target outside 0..classes-1 for this head."""
    if target.numel() == 0:
        return
    lo, hi = int(target.min()), int(target.max())
    if lo < 0 or hi >= classes:
        bad = lo if lo < 0 else hi
        what = {"binary": "classes 0 (negative) and 1 (positive)", "zones": f"{classes} (zone, class) indices",
                "regression": f"{classes} outputs", "multilabel": f"{classes} labels"}.get(head, f"{classes} classes")
        raise UserError(f"target {bad} is out of range for a {head} head: it has {what} (0..{classes - 1})")


class ScoreHead:
    """Context manager: while open, ``model``'s forward returns :func:`class_scores` of ``head``
    (a forward hook, removed on exit, also after an error), so code that indexes the outputs by
    class (``attribute``) works on every head kind. Only ``binary`` needs a hook."""

    def __init__(self, model: nn.Module, head: str):
        self.model, self.head, self.handle = model, check_head(head), None

    def __enter__(self) -> nn.Module:
        if self.head == "binary":  # the only head whose scores differ from its outputs
            head = self.head
            self.handle = self.model.register_forward_hook(lambda _m, _i, out: class_scores(head, out))
        return self.model

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


__all__ = ["HEADS", "ScoreHead", "check_head", "check_targets", "class_scores", "head_of", "num_classes",
           "predicted", "probabilities", "target_probability"]
