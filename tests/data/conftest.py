"""Helpers shared by the embedded-data tests."""

from __future__ import annotations

from pathlib import Path

from attriflow.utils.io import file_digest


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, by relative path: equal dicts mean byte-identical trees."""
    return {str(p.relative_to(folder)): file_digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}
