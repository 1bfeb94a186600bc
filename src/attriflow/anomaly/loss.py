"""The MKD distillation loss between expert and cloner stage outputs, per image.

For tapped stages l (max-pool stages 2..5 of VGG16 by default):
L_val = sum_l mean((a_l^cloner - a_l^expert)^2), L_dir = sum_l (1 - cos(flat a_l^cloner, flat a_l^expert)).
The paper writes L = L_val + lambda L_dir; the authors' code computes L_dir + lambda L_val.
``lambda_on`` picks which term lambda multiplies (``"val"``: the code, ``"dir"``: the paper), and
``use_dir=False`` drops L_dir (the ablation "without L_dir": L = L_val).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from attriflow.errors import UserError
from attriflow.models.vgg import stage_outputs

LAMBDA_ON = ("val", "dir")


@dataclass(frozen=True)
class LossSpec:
    """What the loss distils and how its terms are weighted (recorded with every run)."""

    stages: tuple[int, ...] = (2, 3, 4, 5)
    lam: float = 0.01
    lambda_on: str = "val"
    use_dir: bool = True

    def __post_init__(self) -> None:
        if self.lambda_on not in LAMBDA_ON:
            raise UserError(f"lambda_on={self.lambda_on!r} is not valid; valid: 'val' (the authors' code: "
                            "L_dir + lambda L_val) or 'dir' (the paper: L_val + lambda L_dir)")
        if not self.stages or any(int(s) != s or s < 1 for s in self.stages):
            raise UserError(f"stages must be max-pool stage numbers >= 1, got {list(self.stages)}")
        if float(self.lam) < 0:
            raise UserError(f"lambda must be >= 0, got {self.lam}")
        object.__setattr__(self, "stages", tuple(int(s) for s in self.stages))

    @classmethod
    def from_dict(cls, d: dict | None) -> "LossSpec":
        d = dict(d or {})
        valid = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - valid
        if unknown:
            raise UserError(f"unknown loss settings {sorted(unknown)}; valid: {sorted(valid)}")
        if "stages" in d:
            d["stages"] = tuple(d["stages"])
        return cls(**d)

    def to_dict(self) -> dict:
        return {**asdict(self), "stages": list(self.stages)}


def combine(pred: Sequence[torch.Tensor], real: Sequence[torch.Tensor], spec: LossSpec) -> torch.Tensor:
    """Per-image loss (N,) from matching lists of cloner and expert stage outputs."""
    if len(pred) != len(real):
        raise UserError(f"cloner gave {len(pred)} stage outputs, expert {len(real)}")
    l_val = pred[0].new_zeros(pred[0].shape[0])
    l_dir = pred[0].new_zeros(pred[0].shape[0])
    for p, r in zip(pred, real):
        if p.shape != r.shape:
            raise UserError(f"cloner stage output {tuple(p.shape)} does not match the expert's {tuple(r.shape)}; "
                            "build the cloner for the expert's width (models.vgg.mkd_cloner(width=...))")
        p, r = p.flatten(1), r.flatten(1)
        l_val = l_val + (p - r).pow(2).mean(dim=1)
        if spec.use_dir:
            l_dir = l_dir + (1.0 - F.cosine_similarity(p, r, dim=1))
    lam = float(spec.lam)
    if not spec.use_dir:
        return l_val
    return l_dir + lam * l_val if spec.lambda_on == "val" else l_val + lam * l_dir


class DistillationLoss(nn.Module):
    """``forward(x) -> (N, 1)``: the per-image MKD loss of ``cloner`` against the frozen ``expert``.

    Shaped like a one-output classifier so the attribution library explains it directly:
    ``attribute(DistillationLoss(expert, cloner, spec), x, target=0, method="gradient")`` is the
    gradient of the loss with respect to the input.
    """

    def __init__(self, expert: nn.Module, cloner: nn.Module, spec: LossSpec = LossSpec()):
        super().__init__()
        self.expert = expert
        self.cloner = cloner
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        real = stage_outputs(self.expert, x, self.spec.stages)
        pred = stage_outputs(self.cloner, x, self.spec.stages)
        return combine(pred, real, self.spec)[:, None]
