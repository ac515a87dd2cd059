"""Shared fixtures: paths to the hand-written exports and to ../shared."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples every run, so a red build is reproducible; locally, new ones
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"
#: screenshots kept for people to look at (CI keeps the folder as its artifacts)
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                  "--no-first-run", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own Parquet cache folder, never the user's."""
    monkeypatch.setenv("FUNNELKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


#: test modules whose every test runs twice: with the pandas metrics and with the DuckDB engine under them
ON_BOTH_ENGINES = ("test_metrics_", "test_review", "test_api_parameters", "test_maven_crm")


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.startswith(ON_BOTH_ENGINES) and "metric_engine" in metafunc.fixturenames:
        metafunc.parametrize("metric_engine", ["pandas", "duckdb"], indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def metric_engine(request):
    """Which engine runs the metrics on a loaded dataset (``FUNNELKIT_ENGINE``), for the modules above both."""
    engine = getattr(request, "param", None)
    before = os.environ.get("FUNNELKIT_ENGINE")
    if engine is not None:
        os.environ["FUNNELKIT_ENGINE"] = engine
    yield engine
    if before is None:
        os.environ.pop("FUNNELKIT_ENGINE", None)
    else:
        os.environ["FUNNELKIT_ENGINE"] = before


@pytest.fixture
def data_dir() -> Path:
    return DATA


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data; skips (or fails in CI) when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI, where ../shared must be present")
        pytest.skip(f"{path} not present (../shared/data is only in the team's checkout and CI)")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; fails in CI where `make browser` must have installed it, skips elsewhere."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; `make browser` installs Debian's package")
        pytest.skip("chromium is not installed (make browser installs it, as root)")
    return path


def browse(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless chromium with its own profile folder; the page's console goes to stderr."""
    profile = tmp_path / "profile"
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
