"""What produced a result: seed, scale, git commit and package versions."""

from __future__ import annotations

import functools
import os
import importlib.metadata
import platform
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = ("attriflow", "torch", "torchvision", "timm", "zennit", "numpy", "pandas", "scikit-learn", "scikit-image", "snakemake")


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: str | None = None) -> str:
    """The commit of the working directory's repository (the workflow that runs), else of the package.

    ``-dirty`` marks uncommitted changes to tracked files; ``unknown`` when neither is a git checkout.
    """
    for root in ([cwd] if cwd else [os.getcwd(), str(Path(__file__).resolve().parent)]):
        commit = _commit_of(root)
        if commit != "unknown":
            return commit
    return "unknown"


@functools.lru_cache(maxsize=8)
def _commit_of(root: str) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(seed: int | None = None, scale: str | None = None, **extra: Any) -> dict[str, Any]:
    """A record to store beside every result."""
    rec: dict[str, Any] = {"seed": seed, "scale": scale, "git_commit": git_commit(), "versions": package_versions()}
    rec.update(extra)
    return rec


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels on CPU."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    deterministic_kernels()


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor`` (about 1.3 s in every job; nothing here compiles): the same kernel flag, and
    inductor's flag too when something has already loaded it."""
    import torch

    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True
    torch._C._set_deterministic_algorithms(True, warn_only=True)
