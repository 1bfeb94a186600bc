"""The in-memory form every dataset loads into, whatever its source."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import TensorDataset

TASKS = ("multiclass", "multilabel", "regression", "zones", "binary")


def head_outputs(task: str, class_names: list[str], targets: torch.Tensor) -> int:
    """Width of the model head a task needs (the same for every data form)."""
    if task in ("multiclass", "binary"):
        return len(class_names) if class_names else int(targets.max()) + 1
    if task == "zones":
        return targets.shape[1] * 4
    return 1 if targets.ndim == 1 else targets.shape[1]


@dataclass
class ImageSet:
    """Images with their targets and, where known, ground-truth masks.

    images:  float32 (N, C, H, W) in [0, 1]
    targets: multiclass / binary: long (N,); multilabel: float (N, K) of 0/1;
             regression: float (N,) or (N, K); zones: long (N, 6) with classes 0..3
    masks:   bool (N, M, H, W) or None; ``mask_names`` names the M planes
    """

    images: torch.Tensor
    targets: torch.Tensor
    task: str
    class_names: list[str] = field(default_factory=list)
    masks: torch.Tensor | None = None
    mask_names: list[str] = field(default_factory=list)
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"ImageSet {self.name!r}: task {self.task!r} is not one of {TASKS}")
        if self.images.ndim != 4:
            raise ValueError(f"ImageSet {self.name!r}: images must be (N, C, H, W), got {tuple(self.images.shape)}")
        if len(self.targets) != len(self.images):
            raise ValueError(f"ImageSet {self.name!r}: {len(self.images)} images but {len(self.targets)} targets")
        if self.masks is not None and (self.masks.shape[0] != len(self.images) or self.masks.shape[-2:] != self.images.shape[-2:]):
            raise ValueError(f"ImageSet {self.name!r}: masks {tuple(self.masks.shape)} do not match images {tuple(self.images.shape)}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_outputs(self) -> int:
        """Width of the model head this task needs."""
        return head_outputs(self.task, self.class_names, self.targets)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])

    def materialise(self, progress: bool | None = None) -> "ImageSet":
        """Already in memory: itself (the same call as :meth:`StreamingSet.materialise`)."""
        return self

    def subset(self, index) -> "ImageSet":
        """A view on some items (a slice, an index tensor or a boolean mask)."""
        return ImageSet(
            images=self.images[index], targets=self.targets[index], task=self.task,
            class_names=list(self.class_names), masks=None if self.masks is None else self.masks[index],
            mask_names=list(self.mask_names), name=self.name, meta=dict(self.meta),
        )

    def tensor_dataset(self) -> TensorDataset:
        """(image, target) pairs for a DataLoader."""
        return TensorDataset(self.images, self.targets)
