"""Claims of a paper checked against our numbers: claims.csv and the plain-words summary.md.

A claim compares two computed means (with their standard errors). ``holds`` is ``yes`` when the
difference lies beyond twice the combined standard error in the claimed direction, ``no`` when it lies
beyond it in the other direction, and ``not at this scale`` when the run cannot tell them apart.
Every number written here was computed from the result files; published numbers come from
``published.yaml`` with their source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from attriflow.reporting.tables import write_table
from attriflow.utils.io import atomic_write_text

COLUMNS = ["paper", "claim", "measure", "ours", "published", "source", "holds", "scale"]


def verdict(lower: float, lower_sem: float, higher: float, higher_sem: float) -> str:
    """Does ``lower`` lie below ``higher``? yes / no / not at this scale (within 2 combined SE)."""
    if any(math.isnan(v) for v in (lower, higher)):
        return "not at this scale"
    se = math.sqrt((lower_sem if not math.isnan(lower_sem) else 0.0) ** 2 + (higher_sem if not math.isnan(higher_sem) else 0.0) ** 2)
    if lower < higher - 2 * se:
        return "yes"
    if lower > higher + 2 * se:
        return "no"
    return "not at this scale"


def mean_sem(values: pd.Series) -> tuple[float, float]:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.sem()) if len(v) > 1 else 0.0


@dataclass
class Claims:
    """Collects claim rows and writes claims.csv (+ .md) and summary.md."""

    paper: str
    scale: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, claim: str, measure: str, ours: str, holds: str, published: str = "", source: str = "") -> None:
        self.rows.append({"paper": self.paper, "claim": claim, "measure": measure, "ours": ours,
                          "published": published, "source": source, "holds": holds, "scale": self.scale})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def write(self, out_dir: Path, title: str, settings: str) -> None:
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        write_table(df, out_dir / "tables" / "claims.csv", title=f"{title}: claims checked at scale {self.scale}")
        lines = [f"# {title}: what this run reproduces", "", f"Scale: **{self.scale}**. {settings}", ""]
        groups = {"yes": "Reproduced", "no": "Not reproduced (the opposite direction)",
                  "not at this scale": "Not decided at this scale (difference within the run's noise, or not measurable here)"}
        for key, heading in groups.items():
            part = df[df["holds"] == key]
            if part.empty:
                continue
            lines += [f"## {heading}", ""]
            for r in part.itertuples(index=False):
                pub = f" Published: {r.published} ({r.source})." if r.published else ""
                lines.append(f"- {r.claim}. Ours: {r.measure} = {r.ours}.{pub}")
            lines.append("")
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        atomic_write_text(out_dir / "summary.md", "\n".join(lines))


def fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


__all__ = ["COLUMNS", "Claims", "fmt", "mean_sem", "verdict"]
