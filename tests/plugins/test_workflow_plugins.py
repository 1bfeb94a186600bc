"""Plug-ins through the real snakemake: the example package, installed with pip, goes through the smoke
DAG from one config entry and appears in every benchmark table; a broken plug-in stops the workflow,
naming it, before any job runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from attriflow.reporting.methods import BENCHMARKS, output_names

from .conftest import plant

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.workflow


def copy_repo(dest: Path) -> Path:
    """The working tree's tracked and new files (nothing ignored), as the smoke test does."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


def snakemake(work: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": path}
    return subprocess.run(["snakemake", *args], cwd=work, capture_output=True, text=True, timeout=1500, env=env)


def smoke_config(work: Path, **changes) -> Path:
    cfg = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        cfg[section][leaf] = value
    path = work / "config" / "plugin.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def example_run(example_site, tmp_path_factory):
    work = copy_repo(tmp_path_factory.mktemp("wf-plugin") / "attriflow")
    methods = yaml.safe_load((work / "config" / "smoke.yaml").read_text())["attribution"]["methods"]
    cfg = smoke_config(work, benchmark__methods=["gradient", "random", "gradient_x_smoothed"],
                       attribution__methods={**methods, "gradient_x_smoothed": {"sigma": 1.5}})
    res = snakemake(work, example_site, "--cores", "2", "reports/methods/all", "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return work


def test_the_example_is_a_row_of_every_benchmark_table(example_run):
    cfg = yaml.safe_load((example_run / "config" / "plugin.yaml").read_text())
    evaluations = cfg["benchmark"].get("evaluations", list(BENCHMARKS))
    assert evaluations == list(BENCHMARKS)  # the smoke config benchmarks on all four
    manifest = (example_run / "reports/methods/all").read_text()
    assert all(f"reports/methods/{name}" in manifest for name in output_names(evaluations))
    for ev in evaluations:
        table = pd.read_csv(example_run / f"reports/methods/tables/{ev}.csv")
        row = table[table["method"] == "gradient_x_smoothed"]
        assert len(row) == 1 and row["kind"].item() == "plug-in" and row["score"].notna().all(), ev
        assert set(table["method"]) == {"gradient", "random", "gradient_x_smoothed"}
    ranking = pd.read_csv(example_run / "reports/methods/tables/ranking.csv")
    assert "gradient_x_smoothed" in set(ranking["method"])
    assert "1 plug-in: gradient_x_smoothed" in (example_run / "reports/methods/summary.md").read_text()


def test_the_example_maps_were_made_by_the_plugin_with_its_config_parameters(example_run):
    from attriflow.attribution import load_attributions

    rec = load_attributions(example_run / "results/attributions/shapes32-resnet8/test/gradient_x_smoothed.npz")
    assert rec.method == "gradient_x_smoothed" and rec.params["sigma"] == 1.5
    cost = pd.read_csv(example_run / "reports/methods/tables/cost.csv")
    mine = cost[(cost.method == "gradient_x_smoothed") & (cost.stage == "attribute")]
    assert mine["jobs"].item() == 3 and mine["wall_s"].item() > 0  # train, val and test maps, timed by snakemake


@pytest.mark.parametrize("how", ["entry point", "config extra"])
def test_a_broken_plugin_stops_the_workflow_before_any_job(how, tmp_path):
    work = copy_repo(tmp_path / "attriflow")
    site = tmp_path / "site"
    source = "def spoil(model, x, target):\n    next(model.parameters()).data.zero_()\n    return x\n"
    if how == "entry point":
        plant(site, "planted-spoil", {"planted_spoil": source}, {"attriflow.methods": {"spoil": "planted_spoil:spoil"}})
        cfg = smoke_config(work)
    else:
        plant(site, "planted-spoil", {"planted_spoil": source})
        cfg = smoke_config(work, attribution__extra=["planted_spoil:spoil"])
    res = snakemake(work, site, "--cores", "1", "reports/all", "--configfile", str(cfg))
    assert res.returncode != 0
    assert "attribution plug-in 'spoil'" in res.stderr and "changes the model it explains" in res.stderr, res.stderr[-3000:]
    assert not (work / "results").exists() and not (work / "data" / "shapes").exists()  # no job ran
