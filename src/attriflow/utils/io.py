"""Atomic file writes and checksums: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

PathLike = str | os.PathLike


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_npy(path: PathLike, array: np.ndarray) -> Path:
    """Save one array as uncompressed ``.npy`` (bytes independent of any compressor version)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def save_npz(path: PathLike, **arrays: np.ndarray) -> Path:
    """Save several arrays as an uncompressed ``.npz``, atomically. Written straight to the file in
    buffered pieces, so a memory-mapped array (e.g. maps of a whole dataset) is never loaded at once."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    return Path(path)


def save_dataframe(path: PathLike, df) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    return atomic_write_text(path, df.to_csv(index=False))


def save_torch(path: PathLike, obj: Any) -> Path:
    """``torch.save`` atomically (tensors and plain containers only, so it loads with weights_only=True)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_torch(path: PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True``; a corrupt file raises a ValueError naming it."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pickle / zip errors differ between versions
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc


def file_digest(path: PathLike, algo: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (any hashlib algorithm), read in chunks."""
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def parse_json_object(text: str, flag: str) -> dict:
    """A command-line argument ``flag`` holding a JSON object, parsed; a UserError names the flag otherwise."""
    from attriflow.errors import UserError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} {text!r}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise UserError(f"{flag} must be a JSON object, got {text!r}")
    return value
