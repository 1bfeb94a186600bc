"""Synthetic, learnable image sets for the model tests: small, fast, one per task."""

from __future__ import annotations

import pytest
import torch

from attriflow.data.imageset import ImageSet
from attriflow.models.training_data import Splits

SIZE = 16
ZONES = 6


def _noise(n: int, g: torch.Generator) -> torch.Tensor:
    """Dim noise images with room for 16 bright 4x4 patches (row-major on a 4x4 grid)."""
    return torch.rand(n, 3, SIZE, SIZE, generator=g) * 0.3


def _paint(images: torch.Tensor, item: int, slot: int, value: float = 1.0) -> None:
    r, c = divmod(slot, 4)
    images[item, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] = value


def make_set(task: str, n: int = 192, k: int = 4, seed: int = 0, channels: int = 3) -> ImageSet:
    """``n`` images whose targets are written into them as bright 4x4 patches (so a small CNN learns them).

    multiclass: a patch at slot = class; multilabel: a patch per positive label; binary: a patch at
    slot 0 (present in ~1/4 of the images); regression and zones: 6 zone patches with brightness
    = zone score 0..3 / 3, regression target = the sum (0..18).
    """
    g = torch.Generator().manual_seed(seed)
    x = _noise(n, g)
    if task == "multiclass":
        y = torch.arange(n) % k
        y = y[torch.randperm(n, generator=g)]
        for i in range(n):
            _paint(x, i, int(y[i]))
        names = [f"c{i}" for i in range(k)]
    elif task == "multilabel":
        y = (torch.rand(n, k, generator=g) < 0.4).float()
        for i in range(n):
            for j in range(k):
                if y[i, j]:
                    _paint(x, i, j)
        names = [f"l{i}" for i in range(k)]
    elif task == "binary":
        y = (torch.rand(n, generator=g) < 0.25).long()
        for i in range(n):
            if y[i]:
                _paint(x, i, 0)
        names = ["negative", "positive"]
    else:
        zones = torch.randint(0, 4, (n, ZONES), generator=g)
        for i in range(n):
            for z in range(ZONES):
                _paint(x, i, z, 0.3 + 0.7 * float(zones[i, z]) / 3)
        y = zones if task == "zones" else zones.sum(1).float()
        names = [f"z{i}" for i in range(ZONES)] if task == "zones" else ["severity"]
    if channels == 1:
        x = x.mean(1, keepdim=True)
    return ImageSet(images=x, targets=y, task=task, class_names=names, name=f"synthetic-{task}")


def make_splits(task: str, n: int = 192, **kw) -> Splits:
    return Splits(make_set(task, n, seed=0, **kw), make_set(task, n // 3, seed=1, **kw), make_set(task, n // 3, seed=2, **kw))


def tiny_spec(**overrides) -> dict:
    """A spec for a seconds-long run of a narrow ResNet8 on the synthetic sets."""
    spec = {"model": "resnet8", "model_kwargs": {"width": 0.5}, "dataset": "synthetic", "epochs": 3,
            "batch_size": 32, "lr": 0.01, "seed": 0, "device": "cpu"}
    spec.update(overrides)
    return spec


@pytest.fixture(autouse=True)
def _no_network_caches(tmp_path_factory, monkeypatch):
    """Point every weight cache at an empty folder: tests never see (or fetch) real weights."""
    home = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("ATTRIFLOW_WEIGHTS_DIR", str(home / "weights"))
    monkeypatch.chdir(home)
    yield

