"""One clean smoke run through the real snakemake, shared by every workflow test module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PAPERS = ["semantic-cxr", "pathways", "positive-grad", "mkd", "prunegrad"]
ROAR = [f"results/roar/shapes32-resnet8/{m}/50/seed{s}/metrics.json" for m in ("gradient", "random") for s in (0, 1)]
BINARY = "cxr-weak-weighted"  # a one-logit head, through the generic evaluations
EVAL = [f"results/eval/{kind}/{BINARY}/gradient.csv" for kind in ("perturbation", "class_sensitivity")]
SMOKE = ["snakemake", "--cores", "2", "reports/all", *ROAR, *EVAL, "--configfile", "config/smoke.yaml"]


def env(work: Path) -> dict[str, str]:
    """The environment of a command in the copy ``work``: its own ``src`` first on the import path,
    so a run uses the code as copied, whatever changes in the checkout meanwhile."""
    path = os.pathsep.join(filter(None, [str(work / "src"), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": path}


def run(cmd: list[str], cwd: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env(cwd))
    if res.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((cwd / "logs").rglob("*.log"))) if (cwd / "logs").exists() else ""
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}\n{logs}")
    return res


def copy_tree(work: Path) -> Path:
    """A git copy of the working tree (tracked and new files, nothing ignored) at ``work``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run(["git", "init", "-q"], work)
    run([*git, "add", "-A"], work)
    # fixed dates: two copies of the same files get the same commit, as two clones of one commit do
    date = "2026-01-01T00:00:00+00:00"
    res = subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=work, capture_output=True, text=True,
                         env={**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    assert res.returncode == 0, res.stderr
    return work


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """The smoke run, uninterrupted, in a fresh copy of the repository."""
    work = copy_tree(tmp_path_factory.mktemp("wf") / "attriflow")
    run(SMOKE, work)
    return work
