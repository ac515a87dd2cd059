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
