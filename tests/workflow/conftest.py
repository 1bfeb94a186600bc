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
ROAR = [f"results/roar/shapes32-resnet8/{m}/50/metrics.json" for m in ("gradient", "random")]
SMOKE = ["snakemake", "--cores", "2", "reports/all", *ROAR, "--configfile", "config/smoke.yaml"]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def run(cmd: list[str], cwd: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env())
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
    run(["git", "init", "-q"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot"], work)
    return work


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """The smoke run, uninterrupted, in a fresh copy of the repository."""
    work = copy_tree(tmp_path_factory.mktemp("wf") / "attriflow")
    run(SMOKE, work)
    return work
