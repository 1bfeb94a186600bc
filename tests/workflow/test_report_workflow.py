"""reports/all as a page, `snakemake --report`, and rerun cost, on the session's smoke run (real snakemake)."""

from __future__ import annotations

import re
import resource
import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from attriflow.reporting.claims import CLAIM_COLUMNS
from attriflow.reporting.page import caption_file, read_manifest

from .conftest import ROAR, ROOT, run

pytestmark = pytest.mark.workflow
PAPERS = ["semantic-cxr", "pathways", "positive-grad", "mkd", "prunegrad"]
SMOKE = ["--configfile", "config/smoke.yaml"]


def dry_run_jobs(workdir: Path, *args: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run would execute."""
    out = run(["snakemake", "-n", "reports/all", *ROAR, *args], workdir).stdout
    jobs: list[tuple[str, dict]] = []
    for line in out.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line.strip()):
            jobs.append((m.group(1), {}))
        elif jobs and (m := re.match(r"^wildcards: (.*)$", line.strip())):
            jobs[-1][1].update(dict(kv.split("=", 1) for kv in m.group(1).split(", ")))
    return jobs


def test_page_shows_every_built_figure_and_table(workdir):
    page = (workdir / "reports" / "index.html").read_text()
    for paper in PAPERS:
        assert f'id="paper-{paper}"' in page
        for f in read_manifest(workdir / "reports" / paper / "all"):
            rel = Path(f).relative_to("reports").as_posix()
            if f.suffix == ".png":
                assert f'src="{rel}"' in page
            elif f.suffix == ".csv":
                assert f'id="{paper}-{f.stem}"' in page and f'href="{rel}"' in page
            if f.suffix in (".png", ".csv"):  # captioned: what it shows, setting, scale, dataset
                assert caption_file(workdir / "workflow" / "report", paper, f.stem), \
                    f"no caption workflow/report/{paper}/{f.stem}.rst (or <name>.rst of <name>_<run>) for {f}"
    claims = pd.read_csv(workdir / "reports" / "claims.csv")
    assert list(claims.columns) == CLAIM_COLUMNS
    assert "config hash (SHA-256)" in page and "Wall time per rule" in page
    # 11 configured runs and the 3 seed-1 copies of the semantic-cxr dissected runs (papers.semantic-cxr.seeds)
    assert re.search(r"<td>train</td><td class=\"num\">14</td>", page), "the 14 smoke trainings' benchmark files"


def test_page_in_headless_chromium(workdir, browser, check_page, tmp_path):
    figures = [f for p in PAPERS for f in read_manifest(workdir / "reports" / p / "all") if f.suffix == ".png"]
    shot = tmp_path / "index-smoke.png"
    seen = check_page(browser, workdir / "reports" / "index.html", shot, min_images=len(figures))
    assert seen["images"] == len(figures)
    if (ROOT / "reports").is_dir():
        shutil.copy(shot, ROOT / "reports" / "index-smoke.png")


def test_snakemake_report_has_a_caption_for_every_report_item(workdir):
    run(["snakemake", "--report", "report.zip", "reports/all", *SMOKE], workdir)
    with zipfile.ZipFile(workdir / "report.zip") as z:
        names = z.namelist()
        text = "\n".join(z.read(n).decode("utf-8", "ignore") for n in names if n.endswith((".html", ".js", ".json")))
    assert any(n.endswith("index.html") and "reports" in n for n in names) or "index.html" in text
    for caption in ("Trained models of this paper", "The replication report as one page", "Every paper's claims"):
        assert caption in text, f"caption {caption!r} missing from report.zip"
    captions = sorted(p.relative_to(workdir / "workflow") for p in (workdir / "workflow" / "report").rglob("*.rst"))
    for smk in (workdir / "workflow" / "rules").rglob("*.smk"):
        for ref in re.findall(r'caption="([^"]+)"', smk.read_text()):
            assert (smk.parent / ref).resolve().is_file(), f"{smk.name}: caption {ref} does not exist (have {captions})"


def test_second_run_with_nothing_changed_is_quick(workdir):
    """Budget 10 s. Asserted on the CPU time snakemake uses (user + system), which is its wall time on an
    idle machine (it runs one thread here); the wall time is printed too, as it grows with other load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = run(["snakemake", "--cores", "2", "reports/all", *ROAR, *SMOKE], workdir)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert "Nothing to be done" in res.stdout + res.stderr
    print(f"second snakemake --cores 2 reports/all at smoke scale: {cpu:.1f} s CPU, {wall:.1f} s wall")
    assert cpu < 10, f"a run with nothing to do used {cpu:.1f} s of CPU ({wall:.1f} s wall; budget 10 s)"


def test_changing_one_method_reruns_only_the_jobs_that_use_it(workdir, tmp_path):
    assert dry_run_jobs(workdir, *SMOKE) == []
    cfg = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    cfg["attribution"]["methods"]["random"] = {"seed": 3}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = dry_run_jobs(workdir, "--configfile", str(changed))
    by_rule: dict[str, list[dict]] = {}
    for rule, wc in jobs:
        by_rule.setdefault(rule, []).append(wc)
    assert sorted(wc["split"] for wc in by_rule.get("attribute", [])) == ["test", "train", "val"]
    own = ("attribute", "roar", "evaluate_maps", "evaluate_perturbation")  # the method's own jobs
    assert all(wc.get("entry") == "random" for r in own for wc in by_rule.get(r, []))
    assert sorted(wc["seed"] for wc in by_rule.get("roar", [])) == ["0", "1"]  # one retraining per seed of roar.seeds
    assert "train" not in by_rule and "generate_embedded" not in by_rule
    # beyond the method's own jobs, only report jobs (which show the config) may rerun
    reports = {"index", "paper_manifest", "methods_report", "methods_manifest"}
    assert set(by_rule) - set(own) <= reports | {r for r in by_rule if r.startswith(tuple(p.replace("-", "_") for p in PAPERS))}
