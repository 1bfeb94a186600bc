"""Training the MKD cloner on normal images only, against expert outputs computed once.

The normal training set is fixed and the expert frozen, so the expert's stage outputs are
computed once per run (no augmentation) and reused every epoch: an epoch costs one cloner
forward and backward per image. Adam, learning rate 1e-3 and batch 64 as in the authors' code.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from attriflow.anomaly.loss import LossSpec, combine
from attriflow.errors import UserError
from attriflow.models.vgg import stage_outputs


@torch.no_grad()
def expert_outputs(expert: nn.Module, images: torch.Tensor, stages, batch_size: int = 256) -> list[torch.Tensor]:
    """The expert's stage outputs for every image, concatenated per stage (computed without gradients)."""
    parts = [stage_outputs(expert, images[i : i + batch_size], stages) for i in range(0, len(images), batch_size)]
    return [torch.cat([p[k] for p in parts]) for k in range(len(stages))]


def train_cloner(expert: nn.Module, cloner: nn.Module, images: torch.Tensor, spec: LossSpec, *, epochs: int,
                 lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                 eval_every: int | None = None, on_eval: Callable[[int, nn.Module], dict] | None = None,
                 progress: bool = False, desc: str = "cloner") -> list[dict]:
    """Train ``cloner`` in place to match ``expert`` on ``images`` (normal only); returns the history.

    The history has one row per epoch ``{"epoch", "loss"}`` (mean per-image loss); when
    ``eval_every`` and ``on_eval`` are given, ``on_eval(epoch, cloner)`` runs after epoch 0 (the
    untrained-by-one-epoch state, as the authors' loop starts evaluating at epoch 0) and every
    ``eval_every`` epochs, with the cloner in eval mode, and its dict is merged into that row.
    Shuffling comes from ``seed``; the expert is never updated.
    """
    if int(epochs) != epochs or epochs < 1:
        raise UserError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if len(images) == 0:
        raise UserError("no normal training images to train the cloner on")
    real = expert_outputs(expert, images, spec.stages)
    optimiser = torch.optim.Adam(cloner.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict] = []
    bar = tqdm(range(int(epochs)), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        cloner.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for start in range(0, len(images), batch_size):
            idx = order[start : start + batch_size]
            pred = stage_outputs(cloner, images[idx], spec.stages)
            loss = combine(pred, [r[idx] for r in real], spec)
            optimiser.zero_grad(set_to_none=True)
            loss.mean().backward()
            optimiser.step()
            total += float(loss.detach().sum())
        row = {"epoch": epoch + 1, "loss": total / len(images)}
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        if on_eval is not None and eval_every and (epoch % eval_every == 0 or epoch + 1 == epochs):
            cloner.eval()
            row.update(on_eval(epoch + 1, cloner))
        history.append(row)
    cloner.eval()
    return history
