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
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> tuple[str, str]:
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("no headless browser: install Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    return binary, driver


@pytest.fixture()
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    binary, driver = _browser()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,2000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def check_page(drv, page: Path, shot: Path) -> dict:
    """Open ``page``; assert no console error, every image displayed, every table with rows; save a screenshot."""
    drv.get(page.resolve().as_uri())
    drv.execute_script("return document.readyState")  # get() returns after the load event
    errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, f"console errors on {page}: {errors}"
    images = drv.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    assert images, "the page shows no image"
    broken = [src for src, done, width in images if not done or width == 0]
    assert not broken, f"images not displayed: {broken}"
    tables = drv.execute_script(
        "return Array.from(document.querySelectorAll('table')).map(t => [t.className, t.querySelectorAll('tbody tr').length]);")
    assert tables and all(rows > 0 for _, rows in tables), f"tables without rows: {tables}"
    title = drv.title
    drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    return {"images": len(images), "tables": len(tables), "title": title}


def test_fixture_page_in_headless_chromium(reports_tree, browser, tmp_path):
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


def test_built_page_in_headless_chromium(browser, tmp_path):
    """The page of this checkout's last `snakemake reports/all`, when one was built; its screenshot goes beside it."""
    page = ROOT / "reports" / "index.html"
    if not page.is_file():
        pytest.skip("reports/index.html is not built in this checkout (run snakemake --cores all reports/all)")
    shot = tmp_path / "index.png"
    check_page(browser, page, shot)
    shutil.copy(shot, ROOT / "reports" / "index.png")
