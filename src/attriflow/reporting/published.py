"""Published numbers of the five papers, with their sources, for tables that show them beside ours."""

from __future__ import annotations

import functools
from importlib.resources import files

import yaml


@functools.lru_cache(maxsize=1)
def published() -> dict:
    """All published numbers by paper id (see ``published.yaml``)."""
    return yaml.safe_load(files("attriflow.reporting").joinpath("published.yaml").read_text(encoding="utf-8"))
