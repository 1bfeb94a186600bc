"""``attriflow verify`` recomputes the manifests of reports/ and names what changed."""

from __future__ import annotations

import pytest

from attriflow.cli import main
from attriflow.errors import UserError
from attriflow.reporting.manifest import write_manifest
from attriflow.reporting.models_table import models_table
from attriflow.reporting.verify import verify_reports


def _reports(root):
    tables = root / "reports" / "p1" / "tables"
    tables.mkdir(parents=True)
    (tables / "a.csv").write_text("x,y\n1,2\n")
    (tables / "b.csv").write_text("x\n3\n")
    files = ["reports/p1/tables/a.csv", "reports/p1/tables/b.csv"]
    write_manifest("p1", "smoke", [root / f for f in files], root / "reports" / "p1" / "all")
    # manifests list paths as snakemake gives them: relative to the working directory
    text = (root / "reports" / "p1" / "all").read_text().replace(f"{root.as_posix()}/", "")
    (root / "reports" / "p1" / "all").write_text(text)
    return tables


def test_clean_reports_verify(tmp_path, capsys):
    _reports(tmp_path)
    result = verify_reports(tmp_path / "reports")
    assert result.clean and sorted(result.ok) == ["reports/p1/tables/a.csv", "reports/p1/tables/b.csv"]
    assert main(["verify", "--reports", str(tmp_path / "reports")]) == 0
    assert "2 files as recorded: all files match" in capsys.readouterr().out


def test_changed_missing_and_unlisted_files_are_named(tmp_path, capsys):
    tables = _reports(tmp_path)
    (tables / "a.csv").write_text("x,y\n1,3\n")
    (tables / "b.csv").unlink()
    (tables / "extra.csv").write_text("z\n")
    result = verify_reports(tmp_path / "reports")
    assert result.changed == ["reports/p1/tables/a.csv"]
    assert result.missing == ["reports/p1/tables/b.csv"]
    assert result.unlisted == ["reports/p1/tables/extra.csv"]
    assert main(["verify", "--reports", str(tmp_path / "reports")]) == 1
    out = capsys.readouterr().out
    assert "changed: reports/p1/tables/a.csv" in out and "missing: reports/p1/tables/b.csv" in out


def test_no_manifest_or_a_malformed_one_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no manifests"):
        verify_reports(tmp_path / "reports")
    _reports(tmp_path)
    (tmp_path / "reports" / "p1" / "all").write_text("# header\nnot-a-digest  x.csv\n")
    with pytest.raises(UserError, match=r"all:2: not a manifest line"):
        verify_reports(tmp_path / "reports")


def test_models_table_holds_no_timings(tmp_path):
    """Timings differ between two runs of the same thing: they are not results."""
    import yaml

    from attriflow.utils.io import write_json

    run = tmp_path / "r"
    run.mkdir()
    write_json(run / "metrics.json", {
        "run": "r", "model": "resnet8", "dataset": "shapes32", "task": "multiclass", "epochs": 1, "n_train": 4,
        "n_test": 2, "selection": {"metric": "accuracy"}, "test": {"accuracy": 0.5}, "chance": {"accuracy": 0.25},
        "train_seconds": 1.234, "images_per_second": 99.0, "seed": 0, "git_commit": "abc", "versions": {"torch": "2"},
    })
    (run / "config.yaml").write_text(yaml.safe_dump({"spec": {"model": "resnet8"}}))
    df = models_table([run], scale="smoke")
    assert not {"train_seconds", "images_per_second"} & set(df.columns)
    assert df.loc[0, "value"] == 0.5
