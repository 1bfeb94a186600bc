"""Claims as data: every paper's ``reports/<id>/tables/claims.csv`` collected into ``reports/claims.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from attriflow.errors import UserError
from attriflow.utils.io import save_dataframe

CLAIM_COLUMNS = ["paper", "claim", "measure", "ours", "published", "source", "holds", "scale"]
HOLDS = ("yes", "no", "not at this scale")


def read_claims(path: str | Path) -> pd.DataFrame:
    """One paper's claims file, checked: every column present, ``holds`` one of :data:`HOLDS`."""
    path = Path(path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: claims table lacks column(s) {missing}; the columns are {CLAIM_COLUMNS}")
    df["holds"] = df["holds"].str.strip().str.lower()
    bad = sorted(set(df["holds"]) - set(HOLDS))
    if bad:
        raise UserError(f"{path}: column 'holds' has value(s) {bad}; valid values are {list(HOLDS)}")
    return df[CLAIM_COLUMNS]


def collect_claims(paths: list[str | Path]) -> pd.DataFrame:
    """Every paper's claims in one table (paper order as given); an empty table with the columns when none."""
    frames = [read_claims(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def claims_summary(claims: pd.DataFrame, papers: list[str]) -> pd.DataFrame:
    """Per paper: how many claims hold, do not hold, or cannot be judged at this scale (0 for papers without claims)."""
    counts = claims.groupby(["paper", "holds"]).size().unstack(fill_value=0) if len(claims) else pd.DataFrame()
    rows = []
    for paper in list(papers) + sorted(set(claims["paper"]) - set(papers)):
        row = {"paper": paper}
        for h in HOLDS:
            row[h] = int(counts.loc[paper, h]) if paper in counts.index and h in counts.columns else 0
        row["claims"] = sum(row[h] for h in HOLDS)
        rows.append(row)
    return pd.DataFrame(rows, columns=["paper", "claims", *HOLDS])


def write_claims(claims: pd.DataFrame, out: str | Path) -> Path:
    """``reports/claims.csv``: the collected claims, written atomically."""
    return save_dataframe(Path(out), claims[CLAIM_COLUMNS])
