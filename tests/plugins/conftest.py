"""Plug-in packages planted on sys.path (module files plus a dist-info with entry points), and a
registry restored after every test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from attriflow import plugins
from attriflow.attribution import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gradient-x-smoothed"


def plant(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]] | None = None) -> Path:
    """Write modules and an installed-distribution record (what pip leaves behind) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0\n")
    lines = []
    for group, eps in (entry_points or {}).items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Every test starts with only the package's own methods and leaves nothing registered behind."""
    monkeypatch.delenv(plugins.EXTRA_ENV, raising=False)
    methods = dict(registry._METHODS)
    external = dict(plugins._EXTERNAL_METHODS)
    flags = (registry._plugins_loaded, registry._external_loaded)
    modules = set(sys.modules)
    registry._plugins_loaded = registry._external_loaded = False
    yield
    registry._METHODS.clear()
    registry._METHODS.update(methods)
    plugins._EXTERNAL_METHODS.clear()
    plugins._EXTERNAL_METHODS.update(external)
    registry._plugins_loaded, registry._external_loaded = flags
    for name in set(sys.modules) - modules:
        if name.startswith(("planted_", "attriflow_example")):
            del sys.modules[name]


@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """The example package installed with pip into a folder of its own (the shared environment stays as it is)."""
    work = tmp_path_factory.mktemp("example")
    source = shutil.copytree(EXAMPLE, work / "source")  # the build leaves build/ and *.egg-info in the source
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    return site
