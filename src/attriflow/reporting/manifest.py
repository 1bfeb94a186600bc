"""Per-paper manifests (one line per figure or table with its SHA-256) and the index of all five."""

from __future__ import annotations

from pathlib import Path

from attriflow.utils.io import atomic_write_text, sha256_file, write_json
from attriflow.utils.provenance import provenance


def write_manifest(paper: str, scale: str, files: list[str | Path], out: str | Path) -> Path:
    """``reports/<paper>/all``: a header, then ``<sha256>  <path>`` per output; empty list when none is built."""
    lines = [f"# attriflow {paper} at scale {scale}: {len(files)} figure/table files"]
    lines += [f"{sha256_file(f)}  {Path(f).as_posix()}" for f in sorted(map(str, files))]
    return atomic_write_text(out, "\n".join(lines) + "\n")


def write_index(manifests: list[str | Path], scale: str, seed: int, out: str | Path) -> dict:
    """``reports/all`` (the manifests' contents in one file) and ``reports/provenance.json`` beside it; returns the provenance."""
    out = Path(out)
    parts = [f"# attriflow reports at scale {scale}, seed {seed}", ""]
    for m in sorted(map(Path, manifests)):
        parts.append(Path(m).read_text(encoding="utf-8").rstrip())
        parts.append("")
    prov = provenance(seed=seed, scale=scale)
    prov["papers"] = {Path(m).parent.name: Path(m).as_posix() for m in manifests}
    write_json(out.parent / "provenance.json", prov)
    atomic_write_text(out, "\n".join(parts))
    return prov
