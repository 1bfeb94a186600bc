"""The report page in a real headless Chromium: it loads without console errors, shows every image
(naturalWidth > 0), every table has rows; a screenshot is kept as an artifact of the test run.

Chromium and its driver come from the system packages (Debian: ``apt-get install chromium
chromium-driver``; .ci/run installs them when it can), selenium from the ``test`` extra. The test skips,
saying why, only where no browser or driver is installed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from attriflow.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_fixture_page_in_headless_chromium(reports_tree, browser, check_page, tmp_path):
    rc = main(["report", "index", "--scale", "smoke", "--seed", "0", "--out", "reports/all", "--page", "reports/index.html",
               "--claims", "reports/claims.csv", "--config-json", json.dumps({"scale": "smoke", "device": "cpu"}),
               "--captions", "workflow/report", "--benchmarks", "logs/benchmarks",
               "reports/alpha/all", "reports/beta/all", "reports/gamma/all"])
    assert (rc or 0) == 0
    shot = tmp_path / "index.png"
    seen = check_page(browser, reports_tree / "reports" / "index.html", shot)
    assert seen["images"] == 3 and "replication report" in seen["title"]
    # a broken image is caught: the same page with one figure missing fails the check
    (reports_tree / "reports/alpha/figures/sanity.png").write_bytes(b"not a png")
    with pytest.raises(AssertionError, match="sanity.png"):
        check_page(browser, reports_tree / "reports" / "index.html", tmp_path / "broken.png")


def test_built_page_in_headless_chromium(browser, check_page, tmp_path):
    """The page of this checkout's last `snakemake reports/all`, when one was built; its screenshot goes beside it."""
    page = ROOT / "reports" / "index.html"
    if not page.is_file():
        pytest.skip("reports/index.html is not built in this checkout (run snakemake --cores all reports/all)")
    shot = tmp_path / "index.png"
    check_page(browser, page, shot)
    shutil.copy(shot, ROOT / "reports" / "index.png")
