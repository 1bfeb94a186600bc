"""The trained-models table of a paper: test metric per run, its chance level, and provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from attriflow.reporting.published import published
from attriflow.utils.io import read_json


def _published_for(paper: str, m: dict) -> tuple[str, str]:
    """A published number comparable to this run's test metric, with its source ('' when none)."""
    pub = published().get(paper, {})
    spec = m.get("run_spec", {})
    if paper == "semantic-cxr" and m["task"] == "regression":
        init = str(spec.get("init", ""))
        want = "CheXpert init" if ("multilabel" in init or "chexpert" in init) else "ImageNet init" if init != "random" else None
        for row in pub.get("brixia_mae", []):
            if want and want in row["setting"]:
                return f"MAE {row['value']} ({row['setting']})", row["source"]
    if paper in ("prunegrad", "pathways") and spec.get("model") == "resnet8":
        row = published()["prunegrad"]["unmodified_accuracy"][0]
        return f"accuracy {row['value']}% ({row['dataset']}, {row['model']})", row["source"]
    return "", ""


def models_table(run_dirs: list[Path], scale: str, paper: str = "") -> pd.DataFrame:
    """One row per run folder (``metrics.json`` and ``config.yaml`` of :func:`attriflow.models.training.train_run`).

    Only what a rerun reproduces byte for byte: timings (``train_seconds``, ``images_per_second``)
    stay in each run's ``metrics.json`` and in Snakemake's ``logs/benchmarks/``, not in the table."""
    rows = []
    for run_dir in run_dirs:
        m = read_json(Path(run_dir) / "metrics.json")
        m["run_spec"] = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())["spec"]
        metric = m["selection"]["metric"]
        pub, source = _published_for(paper, m)
        dataset = m["dataset"] if isinstance(m["dataset"], str) else "+".join(m["dataset"])
        rows.append({
            "run": m["run"], "model": m["model"], "dataset": dataset, "task": m["task"],
            "init": m["run_spec"].get("init"), "epochs": m["epochs"], "n_train": m["n_train"], "n_test": m["n_test"],
            "metric": metric, "value": m["test"].get(metric), "chance": m["chance"].get(metric),
            "published": pub, "source": source,
            "scale": scale, "seed": m["seed"], "git_commit": m["git_commit"], "torch": m["versions"]["torch"],
        })
    return pd.DataFrame(rows)
