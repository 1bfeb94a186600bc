"""The stored form of a trained model (``model.pt``) and loading it back.

``model.pt`` holds plain dicts, lists and tensors only, so it loads with ``weights_only=True``::

    {"format": "attriflow-model/1",
     "state_dict": {...},                       # the weights selected on the validation set
     "model": {"name", "num_classes", "in_chans", "kwargs"},   # what create_model needs
     "task", "class_names", "input_size": [H, W], "epoch", "run": {the training spec}}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from attriflow.errors import UserError
from attriflow.utils.io import load_torch, save_torch

FORMAT = "attriflow-model/1"


def save_model_file(path: str | os.PathLike, model: nn.Module, info: dict[str, Any]) -> Path:
    """Write ``model``'s weights (on the CPU) and ``info`` (see the module docstring) atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_torch(path, {"format": FORMAT, "state_dict": state, **info})


def read_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """A ``model.pt`` as a dict; a corrupt or foreign file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file (is the run finished?)")
    try:
        obj = load_torch(path)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise UserError(f"{path}: not an attriflow model file (format {FORMAT})")
    return obj


def model_file_of(run: str | os.PathLike) -> Path:
    path = Path(run)
    return path / "model.pt" if path.is_dir() or path.suffix != ".pt" else path


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a finished run (a run folder or its ``model.pt``) in eval mode.

    Returns ``(model, info)``: ``info`` is the file's content without the weights (model spec,
    task, class names, input size, training spec). The caller's random number streams are untouched.
    """
    from attriflow.models.registry import create_model

    path = model_file_of(run_dir)
    obj = read_model_file(path)
    spec = obj["model"]
    with torch.random.fork_rng(devices=[]):
        model = create_model(spec["name"], num_classes=spec["num_classes"], in_chans=spec["in_chans"], **spec["kwargs"])
    try:
        model.load_state_dict(obj["state_dict"])
    except RuntimeError as exc:
        raise UserError(f"{path}: weights do not fit the model it names ({spec['name']}): {exc}") from exc
    info = {k: v for k, v in obj.items() if k != "state_dict"}
    return model.to(device).eval(), info
