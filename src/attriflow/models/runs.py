"""The stored form of a trained model (``model.pt``) and loading it back.

``model.pt`` holds plain dicts, lists and tensors only, so it loads with ``weights_only=True``::

    {"format": "attriflow-model/1",
     "state_dict": {...},                       # the weights selected on the validation set
     "model": {"name", "num_classes", "in_chans", "kwargs"},   # what create_model needs
     "task", "class_names", "input_size": [H, W], "epoch", "run": {the training spec}}

Beside it, ``model.pt.sha256`` records the file's SHA-256 (``sha256sum`` format), written before
``model.pt`` is renamed into place; loading checks it, so a truncated, changed or swapped file is
a clear error rather than a model with other weights.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from attriflow.errors import UserError
from attriflow.utils.io import atomic_path, atomic_write_text, load_torch, sha256_file

FORMAT = "attriflow-model/1"


def save_model_file(path: str | os.PathLike, model: nn.Module, info: dict[str, Any]) -> Path:
    """Write ``model``'s weights (on the CPU) and ``info`` (see the module docstring) atomically."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # serialised in memory: torch.save names the zip's records after the file it writes, so a
    # temporary file's random name would make two saves of the same weights differ in bytes
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "state_dict": state, **info}, buffer)
    data = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        atomic_write_text(checksum_file_of(path), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


def checksum_file_of(path: str | os.PathLike) -> Path:
    """Where the SHA-256 of a model file is recorded: ``<file>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def check_model_checksum(path: str | os.PathLike) -> None:
    """A UserError unless ``path`` has the SHA-256 recorded beside it."""
    path = Path(path)
    record = checksum_file_of(path)
    if not record.is_file():
        raise UserError(f"{path}: no recorded checksum {record.name} beside it, so the file cannot be trusted; "
                        "retrain the run (attriflow train) to write both")
    expected = record.read_text(encoding="utf-8").split()[0] if record.read_text(encoding="utf-8").strip() else ""
    actual = sha256_file(path)
    if actual != expected:
        raise UserError(f"{path}: SHA-256 {actual} does not match {expected or 'nothing'} recorded in {record.name} "
                        "(truncated, changed or replaced since it was saved); retrain the run")


def read_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """A ``model.pt`` as a dict, checked against its recorded SHA-256; a missing, corrupt,
    tampered or foreign file is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file (is the run finished?)")
    check_model_checksum(path)
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
