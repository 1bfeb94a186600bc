"""Datasets too large for memory: a map-style ``torch.utils.data.Dataset`` that decodes one item at a time.

Two forms of data share one interface (``len``, ``targets``, ``task``, ``class_names``,
``mask_names``, ``subset``, ``num_outputs``, ``image_shape``):

- :class:`~attriflow.data.imageset.ImageSet`: every image in memory (the embedded views);
- :class:`StreamingSet`: a list of item references (file paths, array rows) and a picklable
  *decoder* that turns one reference into an image (and its masks); targets stay in memory
  (they are small), images are decoded, converted to float32 in [0, 1] and resized per item.

Code that runs over a dataset uses :func:`make_loader` / :func:`batches` and never touches
``.images``, so it works on both: an ImageSet is sliced in memory, a StreamingSet goes through
a ``DataLoader`` with workers, pinned memory and prefetch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, TensorDataset

from attriflow.data.imageset import TASKS, ImageSet, head_outputs
from attriflow.errors import UserError

# A decoder: reference -> (image as uint8 / float array (H, W) or (H, W, C), masks bool (M, H, W) or None).
Decoder = Callable[[Any], tuple[np.ndarray, np.ndarray | None]]


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) uint8 / float -> float32 (C, H, W) in [0, 1]."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    x = torch.from_numpy(np.array(array.transpose(2, 0, 1), order="C"))  # a writable copy
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float().clamp_(0.0, 1.0)


@dataclass
class StreamingSet(Dataset):
    """Images decoded on demand; item ``i`` is ``(image float32 (C, H, W), target)``.

    refs:     one reference per item, given to ``decoder``
    decoder:  picklable callable (a module-level function or a dataclass instance), so
              DataLoader workers can run it
    targets:  as in :class:`ImageSet` (long (N,), float (N, K), ...)
    channels: 1 or 3 (what the decoder returns)
    image_size: (h, w) every item is resized to; None keeps the decoded size (then every
              item must have the same size to be batched)
    """

    refs: Sequence[Any]
    decoder: Decoder
    targets: torch.Tensor
    task: str
    channels: int
    class_names: list[str] = field(default_factory=list)
    mask_names: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"StreamingSet {self.name!r}: task {self.task!r} is not one of {TASKS}")
        if len(self.targets) != len(self.refs):
            raise ValueError(f"StreamingSet {self.name!r}: {len(self.refs)} items but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.refs)

    def sample(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(image, target, masks)`` of one item, masks bool (M, H, W) or None, resized like the image."""
        from attriflow.data.loading import _resize

        image, masks = self.decoder(self.refs[index])
        x = _to_tensor(image)
        if x.shape[0] != self.channels:
            raise UserError(f"dataset {self.name!r}: item {self.refs[index]!r} decoded to {x.shape[0]} channels, "
                            f"expected {self.channels}")
        m = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks, dtype=bool))
        if self.image_size is not None and tuple(x.shape[-2:]) != tuple(self.image_size):
            xs, ms = _resize(x[None], None if m is None else m[None], tuple(self.image_size))
            x, m = xs[0], None if ms is None else ms[0]
        return x, self.targets[index], m

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = self.sample(index)
        return x, y

    def subset(self, index) -> "StreamingSet":
        """The items at ``index`` (a slice, an index tensor / list or a boolean mask)."""
        positions = np.arange(len(self))[_numpy_index(index)]
        return replace(self, refs=[self.refs[int(i)] for i in np.atleast_1d(positions)],
                       targets=self.targets[torch.as_tensor(np.atleast_1d(positions), dtype=torch.long)],
                       class_names=list(self.class_names), mask_names=list(self.mask_names), meta=dict(self.meta))

    @property
    def num_outputs(self) -> int:
        return head_outputs(self.task, self.class_names, self.targets)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every item (decodes the first one when no ``image_size`` is set)."""
        if self.image_size is not None:
            return (self.channels, *self.image_size)
        if not len(self):
            raise UserError(f"dataset {self.name!r} is empty")
        return tuple(self.sample(0)[0].shape)

    def materialise(self, progress: bool | None = None) -> ImageSet:
        """All items in memory as an :class:`ImageSet` (for small sets and subsets only)."""
        from tqdm.auto import tqdm

        images, masks = [], []
        for i in tqdm(range(len(self)), desc=f"decoding {self.name}", unit="img", disable=None if progress is None else not progress):
            x, _, m = self.sample(i)
            images.append(x)
            masks.append(m)
        has_masks = bool(masks) and all(m is not None for m in masks)
        c, h, w = self.image_shape if len(self) else (self.channels, 1, 1)
        return ImageSet(images=torch.stack(images) if images else torch.empty(0, c, h, w), targets=self.targets.clone(),
                        task=self.task, class_names=list(self.class_names),
                        masks=torch.stack(masks) if has_masks else None,
                        mask_names=list(self.mask_names) if has_masks else [], name=self.name, meta=dict(self.meta))


def _numpy_index(index):
    if isinstance(index, torch.Tensor):
        return index.cpu().numpy()
    return index


def is_streaming(data) -> bool:
    return isinstance(data, StreamingSet)


def image_shape(data: ImageSet | StreamingSet) -> tuple[int, int, int]:
    """(C, H, W) of the items of either form."""
    return tuple(data.image_shape)


def as_imageset(data: ImageSet | StreamingSet, progress: bool | None = None) -> ImageSet:
    """``data`` in memory: an ImageSet as is, a StreamingSet decoded (use on limited sets only)."""
    return data.materialise(progress) if is_streaming(data) else data


def make_loader(data: ImageSet | StreamingSet, batch_size: int, *, generator: torch.Generator | None = None,
                drop_last: bool = False, num_workers: int = 0, pin_memory: bool = False,
                prefetch_factor: int = 2, persistent_workers: bool = False) -> DataLoader:
    """Batches ``(x, y)`` of either form: shuffled with ``generator`` when given, in order otherwise.

    An ImageSet is indexed a whole batch at a time in memory; a StreamingSet is decoded item by
    item in ``num_workers`` worker processes, ``prefetch_factor`` batches ahead per worker, into
    pinned memory when ``pin_memory`` (set it when the batches go to a GPU); ``persistent_workers``
    keeps the workers between passes (a loader iterated every epoch). The order of the items
    depends only on ``generator``, never on the number of workers.
    """
    if is_streaming(data):
        dataset: Dataset = data
    else:
        dataset = TensorDataset(data.images, data.targets)
    base = RandomSampler(dataset, generator=generator) if generator is not None else SequentialSampler(dataset)
    sampler = BatchSampler(base, batch_size, drop_last=drop_last)
    if not is_streaming(data):  # one tensor index per batch: no per-item collation
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=num_workers, pin_memory=pin_memory)
    extra = {"prefetch_factor": prefetch_factor, "persistent_workers": persistent_workers} if num_workers > 0 else {}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory, **extra)


class _WithMasks(Dataset):
    """Items ``(image, target, masks)`` of a StreamingSet (for concept sets, e.g. dissection probes)."""

    def __init__(self, data: StreamingSet):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        x, y, m = self.data.sample(index)
        if m is None:
            raise UserError(f"dataset {self.data.name!r}: item {self.data.refs[index]!r} has no masks")
        return x, y, m


def batches(data: ImageSet | StreamingSet, batch_size: int, masks: bool = False,
            **loader_options) -> Iterator[tuple[torch.Tensor, ...]]:
    """``(x, y)`` batches of ``data`` in item order, ``(x, y, masks)`` with ``masks=True`` (bool
    (B, M, H, W)); see :func:`make_loader` for the options."""
    if masks and not data.mask_names:
        raise UserError(f"dataset {data.name!r} has no masks")
    if not is_streaming(data):
        for start in range(0, len(data), batch_size):
            part = slice(start, start + batch_size)
            yield (data.images[part], data.targets[part]) + ((data.masks[part],) if masks else ())
        return
    if not masks:
        yield from make_loader(data, batch_size, **loader_options)
        return
    options = {k: v for k, v in loader_options.items() if k in ("num_workers", "pin_memory", "prefetch_factor")}
    extra = {"prefetch_factor": options.pop("prefetch_factor", 2)} if options.get("num_workers") else {}
    yield from DataLoader(_WithMasks(data), batch_size=batch_size, shuffle=False, **options, **extra)
