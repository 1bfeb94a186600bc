"""Fixtures shared by test folders: one torch thread, and a headless Chromium (system package) driven by selenium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op torch thread for every in-process test: the small models gain nothing from two, and on
    a shared machine an OpenMP team waiting for a descheduled thread stalls each op by a time slice."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def _check_page(drv, page: Path, shot: Path, min_images: int = 1) -> dict:
    """Open ``page``; assert no console error, at least ``min_images`` images and every one displayed,
    every table with rows; save a screenshot to ``shot``."""
    drv.get(page.resolve().as_uri())
    drv.execute_script("return document.readyState")  # get() returns after the load event
    errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, f"console errors on {page}: {errors}"
    images = drv.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    assert len(images) >= min_images, f"the page shows {len(images)} images, expected at least {min_images}"
    broken = [src for src, done, width in images if not done or width == 0]
    assert not broken, f"images not displayed: {broken}"
    tables = drv.execute_script(
        "return Array.from(document.querySelectorAll('table')).map(t => [t.className, t.querySelectorAll('tbody tr').length]);")
    assert tables and all(rows > 0 for _, rows in tables), f"tables without rows: {tables}"
    title = drv.title
    drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    return {"images": len(images), "tables": len(tables), "title": title}


@pytest.fixture()
def check_page():
    """``check_page(driver, page, screenshot)``: the page's browser checks, as a fixture for any test folder."""
    return _check_page
