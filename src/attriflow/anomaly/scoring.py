"""Anomaly scores (the distillation loss), AUROC, and the kNN baseline in the expert's features.

The baseline is DN2 (Bergman, Cohen and Hoshen 2020, "Deep Nearest Neighbor Anomaly Detection"):
the score of an image is the mean Euclidean distance of its expert feature (global average pool
of the last conv stage) to its k nearest normal training features (k = 2 in DN2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from attriflow.anomaly.loss import DistillationLoss, LossSpec, combine
from attriflow.errors import UserError
from attriflow.models.vgg import stage_outputs


@torch.no_grad()
def anomaly_scores(expert: nn.Module, cloner: nn.Module, images: torch.Tensor, spec: LossSpec,
                   batch_size: int = 256, expert_outputs: list[torch.Tensor] | None = None) -> np.ndarray:
    """The per-image distillation loss (N,): one expert and one cloner forward per image.

    ``expert_outputs`` (the frozen expert's stage outputs for ``images``, e.g. from
    :func:`attriflow.anomaly.cloner.expert_outputs`) skips the expert: scoring a fixed test set
    again during training then costs one cloner forward per image.
    """
    if expert_outputs is None:
        loss = DistillationLoss(expert, cloner, spec).eval()
        out = [loss(images[i : i + batch_size])[:, 0] for i in range(0, len(images), batch_size)]
    else:
        if len(expert_outputs) != len(spec.stages) or any(len(r) != len(images) for r in expert_outputs):
            raise UserError(f"expert_outputs must hold one tensor per stage {list(spec.stages)} with {len(images)} rows")
        out = [combine(stage_outputs(cloner, images[i : i + batch_size], spec.stages),
                       [r[i : i + batch_size] for r in expert_outputs], spec)
               for i in range(0, len(images), batch_size)]
    return torch.cat(out).double().cpu().numpy()


def auroc(labels, scores) -> float:
    """AUROC of ``scores`` for ``labels`` (1 = anomalous); a UserError when one class is missing."""
    labels = np.asarray(labels).astype(int).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise UserError(f"{len(labels)} labels but {len(scores)} scores")
    if labels.min(initial=1) == labels.max(initial=0):
        raise UserError("AUROC needs both normal (0) and anomalous (1) items; only one kind was given")
    from sklearn.metrics import roc_auc_score  # on first use: the CLI starts without scikit-learn

    return float(roc_auc_score(labels, scores))


@torch.no_grad()
def pooled_features(expert: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Global-average-pooled output of the expert's ``features`` (N, C)."""
    out = [expert.features(images[i : i + batch_size]).mean(dim=(2, 3)) for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def knn_scores(train_features: torch.Tensor, test_features: torch.Tensor, k: int = 2) -> np.ndarray:
    """Mean distance of every test feature to its ``k`` nearest training features (DN2's score)."""
    if int(k) != k or k < 1 or k > len(train_features):
        raise UserError(f"k must be a whole number in 1..{len(train_features)} (the normal training images), got {k!r}")
    d = torch.cdist(test_features.double(), train_features.double())
    return d.topk(int(k), dim=1, largest=False).values.mean(dim=1).cpu().numpy()
