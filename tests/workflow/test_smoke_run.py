"""The whole DAG through the real snakemake at smoke scale, in a temporary copy of the repository."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import pytest

from .conftest import BINARY, PAPERS, ROOT, run

pytestmark = pytest.mark.workflow


def test_every_paper_has_a_manifest_whose_hashes_match(workdir):
    index = (workdir / "reports" / "all").read_text()
    for paper in PAPERS:
        manifest = workdir / "reports" / paper / "all"
        assert f"attriflow {paper} at scale smoke" in manifest.read_text()
        assert f"attriflow {paper} at scale smoke" in index
        for line in manifest.read_text().splitlines()[1:]:
            digest, rel = line.split("  ", 1)
            assert hashlib.sha256((workdir / rel).read_bytes()).hexdigest() == digest


def test_models_tables_have_one_row_per_run_with_provenance(workdir):
    import pandas as pd
    import yaml

    cfg = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    for paper in PAPERS:
        runs = cfg["papers"][paper].get("runs", [])
        if not runs:
            continue
        df = pd.read_csv(workdir / "reports" / paper / "tables" / "models.csv")
        assert sorted(df["run"]) == sorted(runs)
        assert (df["scale"] == "smoke").all() and df["git_commit"].str.len().ge(40).all()
        assert df["value"].notna().all()


def test_provenance_records_seed_versions_and_commit(workdir):
    prov = json.loads((workdir / "reports" / "provenance.json").read_text())
    head = run(["git", "rev-parse", "HEAD"], workdir).stdout.strip()
    assert prov["scale"] == "smoke" and prov["seed"] == 0
    assert prov["git_commit"].startswith(head)
    assert prov["versions"]["torch"].startswith("2.14.1")
    assert sorted(prov["papers"]) == sorted(PAPERS)


def test_second_run_has_nothing_to_do(workdir):
    res = run(["snakemake", "-n", "reports/all", "--configfile", "config/smoke.yaml"], workdir)
    assert "Nothing to be done" in res.stdout + res.stderr


def test_generated_data_matches_the_committed_data_dvc(workdir):
    """Embedded data is bit-reproducible: dvc sees no change against data.dvc as committed."""
    committed = (ROOT / "data.dvc")
    produced = (workdir / "data.dvc").read_text()
    if committed.exists():
        assert produced == committed.read_text()
    status = run(["dvc", "status", "data.dvc"], workdir).stdout
    assert "up to date" in status.lower(), status


def test_dvc_push_pull_round_trip_does_not_retrigger(workdir, tmp_path):
    store = tmp_path / "store"
    run(["dvc", "remote", "add", "-f", "-d", "local", str(store)], workdir)
    run(["dvc", "push", "data.dvc"], workdir)
    victim = next(p for p in sorted((workdir / "data").rglob("*.npy")))
    original = victim.read_bytes()
    shutil.rmtree(workdir / "data")
    run(["dvc", "pull", "data.dvc"], workdir)
    assert victim.read_bytes() == original
    res = run(["snakemake", "-n", "reports/all", "--configfile", "config/smoke.yaml"], workdir)
    assert "Nothing to be done" in res.stdout + res.stderr


def test_roar_jobs_retrain_on_masked_images_from_stored_maps(workdir):
    from attriflow.attribution import load_attributions
    from attriflow.utils.io import read_json

    for method in ("gradient", "random"):
        metrics = read_json(workdir / f"results/roar/shapes32-resnet8/{method}/50/seed0/metrics.json")
        # at smoke scale: the point completes with a finite accuracy; orderings belong to the demo report
        assert math.isfinite(metrics["test"]["accuracy"])
        roar = metrics["roar"]  # each point records what it is
        assert roar["method"] == method and roar["percent"] == 50 and roar["fraction"] == 0.5
        assert metrics["n_train"] == 96  # the smoke limit of the run being retrained
        for split, n in (("train", 96), ("test", metrics["n_test"])):
            rec = load_attributions(workdir / f"results/attributions/shapes32-resnet8/{split}/{method}.npz")
            assert rec.method == method and rec.maps.shape == (n, 32, 32)
            assert rec.provenance["scale"] == "smoke"
        # a second seed of roar.seeds is a second retraining, recorded as such
        repeat = read_json(workdir / f"results/roar/shapes32-resnet8/{method}/50/seed1/metrics.json")
        assert metrics["seed"] == 0 and repeat["seed"] == 1 and repeat["roar"]["seed"] == 1
        assert repeat["val"]["loss"] != metrics["val"]["loss"]
        if method == "gradient":  # the paper table gives the mean over the seeds and its interval
            import pandas as pd

            table = pd.read_csv(workdir / "reports/prunegrad/tables/roar.csv")
            row = table[(table["method"] == method) & (table["fraction"] == 50)].iloc[0]
            mean = 50.0 * (metrics["test"]["accuracy"] + repeat["test"]["accuracy"])
            assert row["n_seeds"] == 2 and row["seeds"] == "0 1" and row["accuracy"] == pytest.approx(mean)


def test_binary_head_evaluations_use_the_sigmoid(workdir):
    """The review's defect, through the real workflow: a one-logit head's probability is not 1."""
    import pandas as pd

    df = pd.read_csv(workdir / f"results/eval/perturbation/{BINARY}/gradient.csv")
    assert len(df) and (df["p_original"] < 1).all() and (df["rel_change"] > 0).any()
    cs = pd.read_csv(workdir / f"results/eval/class_sensitivity/{BINARY}/gradient.csv")
    assert len(cs) and (cs["other_class"] == 1 - cs["target"]).all()  # a binary head has classes 0 and 1


def test_semantic_cxr_seed_copies_train_with_their_seed_and_their_inits_copy(workdir):
    """papers.semantic-cxr.seeds [0, 1]: every dissected run is trained again as <run>-seed1, starting
    from its init's seed-1 copy, dissected, and the study's tables are means over both seeds."""
    import pandas as pd
    import yaml

    from attriflow.utils.io import read_json

    def spec(run):
        return yaml.safe_load((workdir / f"results/models/{run}/config.yaml").read_text())["spec"]

    cfg = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())["papers"]["semantic-cxr"]
    assert cfg["seeds"] == [0, 1] and "shapes64-densenet" in cfg["dissection"]["runs"]
    copy, base = spec("cxr-severity-imagenet-seed1"), spec("cxr-severity-imagenet")
    assert copy["seed"] == 1 and base["seed"] == 0
    assert copy["init"] == "shapes64-densenet-seed1" and base["init"] == "shapes64-densenet"
    assert spec("shapes64-densenet-seed1")["seed"] == 1
    assert {k: v for k, v in copy.items() if k not in ("seed", "init")} == {k: v for k, v in base.items() if k not in ("seed", "init")}
    layer = cfg["dissection"]["layer"]
    for run in cfg["dissection"]["runs"]:
        assert (workdir / f"results/dissection/{run}-seed1/{layer}/units.csv").is_file()
    for run in cfg["study"]["semantic"]:  # a copy's example figure stays with its results, out of the report
        assert (workdir / f"results/dissection/{run}-seed1/{layer}/semantic.png").is_file()
        assert not (workdir / f"reports/semantic-cxr/figures/semantic_{run}-seed1.png").exists()
    tables = workdir / "reports" / "semantic-cxr" / "tables"
    cu = pd.read_csv(tables / "concept_units.csv")
    assert sorted(cu["run"].unique()) == sorted(cfg["dissection"]["runs"])  # one row set per configured run
    assert (cu["n_seeds"] == 2).all() and (cu["seeds"] == "0 1").all()
    sev = pd.read_csv(tables / "severity.csv").set_index("run").loc["cxr-severity-imagenet"]
    maes = [read_json(workdir / f"results/models/{r}/metrics.json")["test"]["mae"]
            for r in ("cxr-severity-imagenet", "cxr-severity-imagenet-seed1")]
    assert sev["n_seeds"] == 2 and sev["mae"] == pytest.approx(sum(maes) / 2, abs=1e-4) and sev["mae_ci95"] > 0
    rank = pd.read_csv(tables / "semantic_rank.csv")
    assert (rank["n_seeds"] == 2).all()
    one = len(pd.read_csv(workdir / f"results/dissection/cxr-weak-weighted/{layer}/semantic.csv"))
    assert (rank["n_images"] <= 2 * one).all()  # the images of both seeds pooled
    assert "mean over 2 training seeds (0 1)" in (workdir / "reports/semantic-cxr/summary.md").read_text()
