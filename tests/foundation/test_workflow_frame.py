"""The workflow frame: config validation, lint, formatting, DAG contents, install files in step."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ["semantic-cxr", "pathways", "positive-grad", "mkd", "prunegrad"]


def snakemake(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def write_config(tmp_path: Path, edit) -> Path:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    edit(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(bogus_key=1), ["bogus_key", "not allowed"]),
        (lambda c: c.update(scale="huge"), ["'huge' is not one of", "smoke", "demo", "paper"]),
        (lambda c: c["runs"]["shapes64-vgg"].update(epochs=-1), ["-1 is less than the minimum of 0", "epochs"]),
        (lambda c: c["runs"]["shapes64-vgg"].update(lr_typo=0.1), ["lr_typo"]),
        (lambda c: c["papers"]["mkd"].update(datasets=["imagenet-full"]), ["imagenet-full", "is not one of"]),
    ],
    ids=["unknown-key", "bad-scale", "bad-epochs", "unknown-run-key", "unknown-dataset"],
)
def test_bad_config_stops_with_key_and_allowed_values(tmp_path, edit, expected):
    res = snakemake("-n", "reports/all", "--configfile", str(write_config(tmp_path, edit)))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "validating config" in out.lower() or "validation" in out.lower()
    for text in expected:
        assert text in out, f"{text!r} not in snakemake's message:\n{out[-2000:]}"


def test_every_config_validates_and_the_dag_reaches_the_data_of_all_papers():
    for cfg in ("config.yaml", "smoke.yaml", "paper.yaml"):
        res = snakemake("-n", "reports/all", "--configfile", f"config/{cfg}", "--quiet", "rules")
        assert res.returncode == 0, res.stdout + res.stderr
    res = snakemake("-n", "--forceall", "reports/all")  # the whole DAG, whatever already exists locally
    assert res.returncode == 0, res.stderr
    for name in ("cxr-phantoms", "shapes", "textures", "digits"):
        assert f"data/{name}/meta.json" in res.stdout
    for paper in PAPERS:
        assert f"reports/{paper}/all" in res.stdout
    paper = snakemake("-n", "--forceall", "reports/all", "--configfile", "config/paper.yaml")
    for name in ("mvtec-ad", "cifar10", "nih-chestxray8", "chexpert", "imagenet-val"):
        assert f"data/{name}/meta.json" in paper.stdout


def test_one_paper_can_be_run_alone():
    res = snakemake("-n", "reports/mkd/all", "--quiet", "rules")
    assert res.returncode == 0
    assert "cxr-phantoms" not in snakemake("-n", "--forceall", "reports/mkd/all").stdout


def test_lint_is_clean():
    res = snakemake("--lint")
    assert res.returncode == 0 and "good condition" in res.stdout + res.stderr, res.stdout + res.stderr


def test_snakefmt_is_clean():
    exe = Path(sys.executable).with_name("snakefmt")
    res = subprocess.run([str(exe), "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower() for r in reqs if not r.startswith("-")}


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _names(pip) == wanted
    pins = {r for r in project["dependencies"] if "==" in r}
    assert pins <= set(pip), "exact pins (torch, torchvision) must match"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    test_cmd = next(c for c in commands if "pytest" in c)
    run_cmd = next(c for c in commands if "reports/all" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines(), "the README's test command must appear verbatim in .ci/run"
    assert "pip install" in test_cmd and "pip install" in run_cmd
    assert "snakemake --cores all reports/all" in run_cmd
