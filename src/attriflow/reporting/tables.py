"""Tables as CSV plus Markdown, every row carrying its provenance."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from attriflow.utils.io import atomic_write_text, save_dataframe


def write_table(df: pd.DataFrame, csv_path: str | Path, title: str = "", note: str = "") -> tuple[Path, Path]:
    """Write ``df`` to ``csv_path`` and a Markdown twin (``.md``) with an optional title and note."""
    csv_path = Path(csv_path)
    md_path = csv_path.with_suffix(".md")
    save_dataframe(csv_path, df)
    lines = [f"# {title}", ""] if title else []
    lines.append(_markdown(df))
    if note:
        lines += ["", note]
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t ``level`` interval (NaN from fewer than two values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) < 2:
        return float(v.mean()), math.nan
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def seed_summary(df: pd.DataFrame, keys: Sequence[str], value: str, seed: str = "seed") -> pd.DataFrame:
    """One row per ``keys``: ``value`` as the mean over seeds, ``<value>_ci95`` the half-width of its 95%
    interval (empty for one seed), ``n_seeds`` and ``seeds`` (e.g. "0 1 2"). Other columns keep their first value."""
    rows = []
    for key, part in df.groupby(list(keys), sort=False, dropna=False):
        mean, half = mean_ci(part[value])
        first = part.iloc[0].to_dict()
        seeds = sorted({int(s) for s in part[seed].dropna()}) if seed in part else []
        rows.append({**first, **dict(zip(keys, key if isinstance(key, tuple) else (key,))), value: mean,
                     f"{value}_ci95": half, "n_seeds": len(seeds) or len(part), "seeds": " ".join(map(str, seeds))})
    cols = [c for c in df.columns if c != seed] + [f"{value}_ci95", "n_seeds", "seeds"]
    return pd.DataFrame(rows, columns=cols)


def _markdown(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"  # a missing number is an empty cell, not "nan"
        return "" if v is None else str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows])
