"""SIGKILL the real snakemake (and its jobs) during data generation, training, attribution and a
ROAR retrain; rerunning completes and every table is byte-identical to the uninterrupted run's.
While a run holds the directory, a second snakemake there is refused by the lock."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import SMOKE, copy_tree, env, run

pytestmark = pytest.mark.workflow

# stage -> the job's command, and a file whose existence means the job is under way
STAGES = [
    ("data generation", "attriflow data generate", None),
    ("training", "attriflow train", "results/models/*/checkpoint.pt"),
    ("attribution", "attriflow attribute", None),
    ("ROAR retrain", "attriflow roar", None),
]


def _group_commands(pgid: int) -> list[str]:
    """Command lines of the processes in process group ``pgid``."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ProcessLookupError):
            continue
    return out


def _kill_during(work: Path, command: str, marker: str | None, on_hold=None, timeout: float = 1500) -> None:
    """Start the smoke run; SIGKILL snakemake and all its jobs once ``command`` runs (and ``marker`` exists)."""
    proc = subprocess.Popen(SMOKE, cwd=work, env=env(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"snakemake ended ({proc.returncode}) before '{command}' was caught running")
            if any(command in c for c in _group_commands(proc.pid)) and (marker is None or list(work.glob(marker))):
                if on_hold is not None:
                    on_hold()
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return
            time.sleep(0.05)
        raise AssertionError(f"'{command}' did not start within {timeout} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _second_run_is_refused(work: Path) -> None:
    res = subprocess.run(SMOKE, cwd=work, env=env(work), capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert "cannot be locked" in res.stdout + res.stderr


def _digests(work: Path, pattern: str) -> dict[str, str]:
    return {p.relative_to(work).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(work.glob(pattern))}


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> Path:
    """The smoke run killed once in each stage, each time rerun with the same command (after
    ``snakemake --unlock``, which a SIGKILLed snakemake needs), to the end."""
    work = copy_tree(tmp_path_factory.mktemp("killed") / "attriflow")
    for stage, command, marker in STAGES:
        hold = (lambda: _second_run_is_refused(work)) if stage == "training" else None
        _kill_during(work, command, marker, on_hold=hold)
        run([*SMOKE, "--unlock"], work)
    run(SMOKE, work)
    return work


# The methods benchmark's cost table (wall time and memory of every job, from Snakemake's benchmark
# files) is a timing record by design, like those files: it, and the manifest that lists it, differ by run.
TIMINGS = {"reports/methods/tables/cost.csv", "reports/methods/all"}


def test_a_killed_and_resumed_run_gives_byte_identical_tables(resumed, workdir):
    ours, clean = _digests(resumed, "reports/**/*.csv"), _digests(workdir, "reports/**/*.csv")
    assert TIMINGS & set(clean), "the timing record moved: update TIMINGS"
    ours, clean = ({k: v for k, v in d.items() if k not in TIMINGS} for d in (ours, clean))
    assert ours and ours == clean
    for pattern in ("results/**/*.csv", "reports/*/all"):
        ours, clean = (
            {k: v for k, v in _digests(w, pattern).items() if k not in TIMINGS} for w in (resumed, workdir)
        )
        assert ours and ours == clean, pattern


def test_a_killed_and_resumed_run_trains_the_same_weights(resumed, workdir):
    import torch

    models = sorted(p.relative_to(workdir) for p in workdir.glob("results/**/model.pt"))
    assert models
    for rel in models:
        a = torch.load(workdir / rel, weights_only=True)["state_dict"]
        b = torch.load(resumed / rel, weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), rel
        assert (workdir / rel).read_bytes() == (resumed / rel).read_bytes(), rel  # and so the recorded SHA-256


def test_verify_finds_both_runs_clean_and_names_a_changed_table(resumed, workdir):
    assert run(["attriflow", "verify"], resumed).returncode == 0
    assert run(["attriflow", "verify"], workdir).returncode == 0
    table = next(resumed.glob("reports/*/tables/models.csv"))
    table.write_text(table.read_text() + "\n")
    res = subprocess.run(["attriflow", "verify"], cwd=resumed, env=env(resumed), capture_output=True, text=True)
    assert res.returncode == 1 and f"changed: {table.relative_to(resumed).as_posix()}" in res.stdout
