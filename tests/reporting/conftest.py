"""A small reports tree as the papers' pipelines write it: figures, tables, summary, claims, manifests."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from attriflow.reporting.claims import CLAIM_COLUMNS
from attriflow.reporting.manifest import write_manifest
from attriflow.reporting.tables import write_table

CLAIMS = [
    ("alpha", "gradient maps pass the randomisation test", "SSIM at the last block", "0.12", "0.1", "Fig. 3", "yes", "smoke"),
    ("alpha", "pruning keeps accuracy", "accuracy drop", "0.31", "0.02", "Tab. 1", "no", "smoke"),
    ("beta", "AUROC above 0.9 on MVTec", "mean AUROC", "0.61", "0.91", "Tab. 2", "not at this scale", "smoke"),
]


def _figure(path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(3, 2))
    sns.barplot(x=["a", "b"], y=[1.0, 2.0], ax=ax)
    ax.set(title=title, xlabel="method", ylabel="score")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


@pytest.fixture()
def reports_tree(tmp_path, monkeypatch) -> Path:
    """``tmp/reports/{alpha,beta,gamma}`` with manifests; cwd is ``tmp`` (manifest paths are relative to it)."""
    monkeypatch.chdir(tmp_path)
    rep = Path("reports")
    alpha = []
    for name in ("roar_curve", "sanity"):
        _figure(rep / "alpha" / "figures" / f"{name}.png", name)
        alpha.append(rep / "alpha" / "figures" / f"{name}.png")
    write_table(pd.DataFrame({"run": ["r1", "r2"], "metric": ["accuracy"] * 2, "value": [0.8, 0.5],
                              "published": ["95.1", ""], "source": ["Tab. 1", ""]}), rep / "alpha" / "tables" / "models.csv")
    write_table(pd.DataFrame({"method": [f"m{i}" for i in range(80)], "ours": [i / 100 for i in range(80)],
                              "published": [0.5] * 80}), rep / "alpha" / "tables" / "drops.csv")
    pd.DataFrame([c for c in CLAIMS if c[0] == "alpha"], columns=CLAIM_COLUMNS).to_csv(rep / "alpha" / "tables" / "claims.csv", index=False)
    (rep / "alpha" / "summary.md").write_text("# alpha\n\nThis run reproduces **one** claim of two.\n\n| claim | holds |\n|---|---|\n| a | yes |\n<script>alert(1)</script>\n")
    alpha += [rep / "alpha" / "tables" / f for f in ("models.csv", "models.md", "drops.csv", "drops.md", "claims.csv")] + [rep / "alpha" / "summary.md"]
    _figure(rep / "beta" / "figures" / "auroc.png", "auroc")
    (rep / "beta" / "tables").mkdir(parents=True)
    pd.DataFrame([c for c in CLAIMS if c[0] == "beta"], columns=CLAIM_COLUMNS).to_csv(rep / "beta" / "tables" / "claims.csv", index=False)
    beta = [rep / "beta" / "figures" / "auroc.png", rep / "beta" / "tables" / "claims.csv"]
    for paper, files in (("alpha", alpha), ("beta", beta), ("gamma", [])):
        write_manifest(paper, "smoke", files, rep / paper / "all")
    cap = Path("workflow/report/alpha")
    cap.mkdir(parents=True)
    (cap / "roar_curve.rst").write_text("ROAR accuracy drop at scale **{{ snakemake.config[\"scale\"] }}** on shapes32.\n")
    (Path("workflow/report") / "models.rst").write_text("Trained models of {{ snakemake.wildcards.paper }}.\n")
    bench = Path("logs/benchmarks/train")
    bench.mkdir(parents=True)
    for i, s in enumerate((1.5, 2.5)):
        (bench / f"run{i}.tsv").write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                           f"{s}\t0:00:0{int(s)}\t100.0\t200.0\t90.0\t95.0\t0\t0\t50\t{s}\n")
    os.makedirs("logs/benchmarks/data", exist_ok=True)
    Path("logs/benchmarks/data/shapes.tsv").write_text("s\tmax_rss\n4.0\t50.0\n")
    return tmp_path
