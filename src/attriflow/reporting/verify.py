"""``attriflow verify``: recompute the SHA-256 of every file the manifests of ``reports/`` list
(``reports/<paper>/all``, see :mod:`attriflow.reporting.manifest`) and say what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from attriflow.errors import UserError
from attriflow.utils.io import sha256_file


@dataclass
class Verification:
    """What :func:`verify_reports` found: files as listed, changed, missing, and files under a
    paper's ``tables/`` or ``figures/`` that its manifest does not list."""

    ok: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.unlisted)

    def lines(self) -> list[str]:
        out = [f"changed: {p}" for p in self.changed] + [f"missing: {p}" for p in self.missing]
        out += [f"not in its manifest: {p}" for p in self.unlisted]
        verdict = "all files match" if self.clean else "reports differ from their manifests"
        out.append(f"{len(self.manifests)} manifests, {len(self.ok)} files as recorded: {verdict}")
        return out


def read_manifest(path: Path) -> list[tuple[str, str]]:
    """``(sha256, path)`` pairs of a manifest; a malformed line is a UserError naming file and line."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise UserError(f"{path}:{number}: not a manifest line '<sha256>  <path>': {line!r}")
        pairs.append((digest, name))
    return pairs


def verify_reports(reports: str | Path = "reports", root: str | Path | None = None) -> Verification:
    """Check every ``<reports>/<paper>/all``; listed paths are relative to ``root`` (default: the
    folder holding ``reports``, where snakemake ran)."""
    reports = Path(reports)
    root = Path(root) if root is not None else reports.resolve().parent
    manifests = sorted(reports.glob("*/all"))
    if not manifests:
        raise UserError(f"{reports}: no manifests <paper>/all to verify (run snakemake reports/all first)")
    result = Verification(manifests=[m.as_posix() for m in manifests])
    for manifest in manifests:
        listed = set()
        for digest, name in read_manifest(manifest):
            path = root / name
            listed.add(path.resolve())
            if not path.is_file():
                result.missing.append(name)
            elif sha256_file(path) != digest:
                result.changed.append(name)
            else:
                result.ok.append(name)
        for sub in ("tables", "figures"):
            for path in sorted((manifest.parent / sub).glob("*")):
                full = path.resolve()
                if path.is_file() and full not in listed:
                    base = root.resolve()
                    result.unlisted.append(full.relative_to(base).as_posix() if full.is_relative_to(base) else str(full))
    return result


__all__ = ["Verification", "read_manifest", "verify_reports"]
