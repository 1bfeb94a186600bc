"""Model parameter randomisation test (Adebayo et al. 2018): how similar each method's map stays
to the original one as the model's weights are re-drawn, stage by stage from the top (cascading)
or one stage at a time (independent).

Stage 0 is the trained model (its row compares the original map with itself: 1, or NaN for a
constant map); stage k has stages 1..k re-drawn (cascading) or only stage k (independent). The
target stays the one given (default: the trained model's predicted class) at every stage, as in
Adebayo et al. and Quantus; ``retarget=True`` explains each randomised model's own predicted class
instead, as PathwayGrad's sanity-check code does. The caller's model is never changed: the work
happens on a deep copy. ``head`` says what the outputs mean (:mod:`attriflow.models.heads`): the
predicted class, and the class scores the explainers see, follow it (binary: classes 0 / 1).

Cost: per chunk of ``batch_size`` images, one explanation per method per stage plus the original
(the floor, ``(stages + 1) x T1`` for the gradient; ``stages x T1`` when the original maps are
given, e.g. read from the stored attribution files); ``retarget`` adds one forward pass per stage.
Similarity features of the original maps are computed once per chunk, the weights re-drawn once
per stage and chunk. Memory is bounded by the chunk: maps and features of at most ``batch_size``
images are held at a time.
"""

from __future__ import annotations

import copy
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import Tensor, nn

from attriflow.errors import UserError
from attriflow.evaluation.batching import (
    Explainer, as_targets, check_explainers, check_given_maps, check_images, chunks, explain_checked, predict_logits,
)
from attriflow.evaluation.similarity import check_measures, get_measure
from attriflow.models.heads import predicted
from attriflow.evaluation.stages import (
    Init, Stage, randomise_stage, resolve_init, resolve_stages, restore_modules, stage_device, stage_generator,
)

ORDERS = ("cascading", "independent")
DEFAULT_MEASURES = ("ssim", "spearman", "spearman_abs", "hog")
COLUMNS = ["image", "method", "order", "stage", "layer", "target", "measure", "value"]


def randomisation_test(
    model: nn.Module,
    x: Tensor,
    target: int | Tensor | None,
    explainers: Mapping[str, Explainer],
    *,
    order: str = "cascading",
    stages: str | Sequence[Stage | Sequence[str]] = "blocks",
    init: str | Init = "normal",
    std: float = 0.1,
    seed: int = 0,
    measures: Sequence[str] = DEFAULT_MEASURES,
    original_maps: Mapping[str, Tensor] | None = None,
    retarget: bool = False,
    batch_size: int = 64,
    head: str = "multiclass",
) -> pd.DataFrame:
    """One row per (image, method, stage, measure): the similarity of the map at that stage to the
    original map.

    ``stages``: ``"blocks"`` (the papers'), ``"layers"`` (every parameterised module) or an explicit
    list (see :mod:`attriflow.evaluation.stages`). ``init``: ``"normal"`` (N(0, ``std``), the
    papers'), ``"reset"`` (PyTorch's default initialisation) or ``init(module, generator)``.
    Stage k's weights depend only on (``seed``, k). ``measures``: names of
    :data:`attriflow.evaluation.similarity.MEASURES`. ``original_maps``: method -> (N, H, W) maps
    the trained model already gave for ``target`` (e.g. stored attribution files); methods not in
    it are explained. ``retarget``: explain each randomised model's predicted class.
    Columns: image, method, order, stage (0 = trained model), layer (stage name), target (the
    class explained), measure, value.
    """
    x = check_images(x)
    explainers = check_explainers(explainers)
    measures = check_measures(measures)
    given = check_given_maps(original_maps, explainers, x, "original_maps")
    if order not in ORDERS:
        raise UserError(f"order {order!r} is not one of {ORDERS}")
    if not isinstance(retarget, bool):
        raise UserError(f"retarget must be True or False, got {retarget!r}")
    init_fn = resolve_init(init, std)
    work = copy.deepcopy(model)
    stage_list = resolve_stages(work, stages)
    original = model.state_dict()  # the caller's tensors: never written, so no copy is needed
    targets = as_targets(target, len(x), x.device, logits=lambda: predict_logits(work, x, batch_size), head=head)
    names = ["original"] + [s.name for s in stage_list]

    blocks: list[dict[str, np.ndarray]] = []
    for part in chunks(len(x), batch_size):
        if part.start > 0:
            work.load_state_dict(original)
        xb, tb = x[part], targets[part]
        image = np.arange(part.start, part.stop)
        reference = {}
        for method, fn in explainers.items():
            maps = given[method][part] if method in given else explain_checked(fn, method, work, xb, tb, head)
            reference[method] = {m: get_measure(m).features(maps) for m in measures}
        for index in range(len(stage_list) + 1):
            if index > 0:
                stage = stage_list[index - 1]
                if order == "independent" and index > 1:
                    restore_modules(work, stage_list[index - 2].modules, original)
                randomise_stage(work, stage, init_fn, stage_generator(seed, index, stage_device(work, stage)))
            explained = predicted(head, predict_logits(work, xb, batch_size)) if retarget and index > 0 else tb
            for method, fn in explainers.items():
                maps = None if index == 0 else explain_checked(fn, method, work, xb, explained, head)
                for m in measures:
                    ref = reference[method][m]
                    other = ref if maps is None else get_measure(m).features(maps)
                    value = get_measure(m).score(ref, other)
                    blocks.append({"image": image, "method": method, "stage": index, "measure": m,
                                   "target": explained.cpu().numpy(), "value": value.detach().cpu().numpy()})
    return _frame(blocks, order, names)


def _frame(blocks: list[dict], order: str, names: list[str]) -> pd.DataFrame:
    if not blocks:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame({
        "image": np.concatenate([b["image"] for b in blocks]),
        "method": np.concatenate([np.repeat(b["method"], len(b["image"])) for b in blocks]),
        "order": order,
        "stage": np.concatenate([np.repeat(b["stage"], len(b["image"])) for b in blocks]),
        "measure": np.concatenate([np.repeat(b["measure"], len(b["image"])) for b in blocks]),
        "target": np.concatenate([b["target"] for b in blocks]).astype(np.int64),
        "value": np.concatenate([b["value"] for b in blocks]).astype(np.float64),
    })
    df["layer"] = np.asarray(names, dtype=object)[df["stage"].to_numpy()]
    return df.sort_values(["method", "stage", "measure", "image"], kind="stable").reset_index(drop=True)[COLUMNS]


def stage_names(model: nn.Module, stages: str | Sequence[Stage | Sequence[str]] = "blocks") -> list[str]:
    """``original`` followed by the stage names, top to bottom: the x axis of a randomisation curve."""
    return ["original"] + [s.name for s in resolve_stages(model, stages)]


__all__ = ["COLUMNS", "DEFAULT_MEASURES", "ORDERS", "randomisation_test", "stage_names"]
