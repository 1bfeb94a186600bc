"""Class sensitivity (positive-grad test 1): does a method's map change with the class it explains?

For each image the map of the predicted class is compared with the map of the lowest-scoring
class and with the map of a random other class. A method that explains the prediction gives
low similarity (SSIM by default). The random class is drawn as Quantus' RandomLogit does:
``RandomState(seed).randint(0, classes - 1, N)`` indexes the classes without the predicted one.

Head kinds (``head``, :mod:`attriflow.models.heads`): multiclass; binary (classes 0 / 1, so both
comparisons explain the other class, whose score is the negated logit); multilabel (the most
probable label against the least probable / a random other label). Regression and zones heads
are refused: their outputs are not alternative classes of one decision.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.evaluation.batching import (
    Explainer, check_explainers, check_given_maps, check_images, chunks, explain_checked, predict_logits,
)
from attriflow.evaluation.similarity import check_measures, get_measure
from attriflow.models.heads import check_head, class_scores, predicted as predicted_class

COMPARISONS = ("lowest", "random")
COLUMNS = ["image", "method", "comparison", "target", "other_class", "measure", "value"]


def random_other_class(target: Tensor, num_classes: int, seed: int = 0) -> Tensor:
    """For each target a class drawn uniformly from the other ``num_classes - 1`` (seeded)."""
    if num_classes < 2:
        raise UserError(f"a random other class needs at least 2 classes, got {num_classes}")
    draw = torch.from_numpy(np.random.RandomState(seed).randint(0, num_classes - 1, len(target))).to(target.device)
    return draw + (draw >= target).long()


def other_classes(logits: Tensor, comparisons: Sequence[str] = COMPARISONS, seed: int = 0) -> dict[str, Tensor]:
    """The class each comparison explains instead of the predicted one: ``lowest`` (argmin logit), ``random``."""
    predicted = logits.argmax(1)
    out = {}
    for name in comparisons:
        if name == "lowest":
            out[name] = logits.argmin(1)
        elif name == "random":
            out[name] = random_other_class(predicted, logits.shape[1], seed)
        else:
            raise UserError(f"class-sensitivity comparison {name!r} is not one of {COMPARISONS}")
    return out


def class_sensitivity(
    model: nn.Module,
    x: Tensor,
    explainers: Mapping[str, Explainer],
    *,
    logits: Tensor | None = None,
    predicted_maps: Mapping[str, Tensor] | None = None,
    comparisons: Sequence[str] = COMPARISONS,
    measures: Sequence[str] = ("ssim",),
    seed: int = 0,
    batch_size: int = 64,
    head: str = "multiclass",
) -> pd.DataFrame:
    """One row per (image, method, comparison, measure): the similarity of the predicted class's
    map to the other class's map. ``logits``: the model's outputs for ``x`` if already known (e.g.
    from a stored attribution file), else one forward pass computes them. ``predicted_maps``:
    method -> (N, H, W) maps of the predicted class if already known (a stored attribution file
    of target None); methods not in it are explained.
    Columns: image, method, comparison, target (predicted class), other_class, measure, value."""
    x = check_images(x)
    if check_head(head) in ("regression", "zones"):
        raise UserError(f"class sensitivity compares the maps of alternative classes; a {head} head has none "
                        "(use a multiclass, binary or multilabel run)")
    explainers = check_explainers(explainers)
    measures = check_measures(measures)
    given = check_given_maps(predicted_maps, explainers, x, "predicted_maps")
    logits = predict_logits(model, x, batch_size) if logits is None else torch.as_tensor(logits).to(x.device)
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.ndim != 2 or len(logits) != len(x):
        raise UserError(f"logits must be (N, classes) with N = {len(x)}, got {tuple(logits.shape)}")
    scores = class_scores(head, logits)
    predicted = predicted_class(head, logits)
    others = other_classes(scores, comparisons, seed)
    frames = []
    for part in chunks(len(x), batch_size):
        xb = x[part]
        for method, fn in explainers.items():
            if method in given:
                reference = given[method][part]
            else:
                reference = explain_checked(fn, method, model, xb, predicted[part], head)
            ref_features = {m: get_measure(m).features(reference) for m in measures}
            for name, classes in others.items():
                maps = explain_checked(fn, method, model, xb, classes[part], head)
                for m in measures:
                    value = get_measure(m).score(ref_features[m], get_measure(m).features(maps))
                    frames.append(pd.DataFrame({
                        "image": np.arange(part.start, part.stop), "method": method, "comparison": name,
                        "target": predicted[part].cpu().numpy(), "other_class": classes[part].cpu().numpy(),
                        "measure": m, "value": value.detach().cpu().numpy().astype(np.float64),
                    }))
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["method", "comparison", "measure", "image"], kind="stable").reset_index(drop=True)[COLUMNS]


__all__ = ["COLUMNS", "COMPARISONS", "class_sensitivity", "other_classes", "random_other_class"]
