"""Stored attribution maps: one uncompressed ``.npz`` per (model, method), written atomically.

Arrays: ``maps`` (as computed), ``targets`` (int64), ``logits``; 0-d strings: ``method``,
``params`` (JSON), ``provenance`` (JSON: seed, scale, git commit, package versions, extras) and
``format`` (this layout's version). Loading needs no pickle.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from attriflow.errors import UserError
from attriflow.utils.io import PathLike, save_npz
from attriflow.utils.provenance import provenance

FORMAT = "attriflow-attributions-1"
_KEYS = ("maps", "targets", "logits", "method", "params", "provenance", "format")


@dataclass
class AttributionRecord:
    """Attribution maps with what they explain and how they were made."""

    maps: Tensor
    targets: Tensor
    logits: Tensor
    method: str
    params: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)


def save_attributions(
    path: PathLike, maps, targets, logits, method: str, params: dict[str, Any], *,
    seed: int | None = None, scale: str | None = None, **extra: Any,
) -> Path:
    """Write maps (N, ...), targets (N,), logits (N, classes), the method, its parameters and provenance."""
    arrays = {"maps": _numpy(maps), "targets": _numpy(targets).astype(np.int64), "logits": _numpy(logits)}
    n = len(arrays["maps"])
    bad = {k: len(v) for k, v in arrays.items() if v.ndim == 0 or len(v) != n}
    if bad:
        raise UserError(f"save_attributions: maps, targets and logits must have the same length N={n}; got {bad}")
    if not isinstance(method, str) or not method:
        raise UserError(f"save_attributions: method must be a name, got {method!r}")
    record = provenance(seed=seed, scale=scale, **extra)
    return save_npz(
        path,
        **arrays,
        method=np.array(method),
        params=np.array(json.dumps(jsonable(params or {}), sort_keys=True)),
        provenance=np.array(json.dumps(jsonable(record), sort_keys=True)),
        format=np.array(FORMAT),
    )


def load_attributions(path: PathLike) -> AttributionRecord:
    """Read a file written by :func:`save_attributions` (tensors on the CPU)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise UserError(f"{path}: not an attribution file (missing {', '.join(missing)})")
            if str(data["format"]) != FORMAT:
                raise UserError(f"{path}: format {str(data['format'])!r}, expected {FORMAT!r}")
            return AttributionRecord(
                maps=torch.from_numpy(data["maps"].copy()),
                targets=torch.from_numpy(data["targets"].copy()),
                logits=torch.from_numpy(data["logits"].copy()),
                method=str(data["method"]),
                params=json.loads(str(data["params"])),
                provenance=json.loads(str(data["provenance"])),
            )
    except (FileNotFoundError, UserError):
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable attribution file ({type(exc).__name__}: {exc})") from exc


def jsonable(value: Any) -> Any:
    """``value`` with tensors / arrays / paths made JSON-safe (large tensors become shape + checksum)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size <= 64:
            return value.tolist()
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return {"shape": list(value.shape), "dtype": str(value.dtype), "sha256": digest}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    return np.asarray(value)
