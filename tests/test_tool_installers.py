"""`pipx install .` and `uv tool install .` from a clone, as the README documents them: each
makes its own environment and puts `cipp-setup` in a bin folder; the installed tool then
runs a sandbox check from outside the repository (so nothing comes from the source tree).

Slow (each resolves and installs every dependency). pipx and uv are installed from the
package registry into a venv of their own for these tests, not into the test environment:
pipx brings click, and with click present `import httpx` loads httpx's command-line tool
(click, pygments, rich) in every process that imports httpx.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from scenario_verdicts import documented_statuses

REPO = Path(__file__).resolve().parent.parent


def _installer_env(extra: dict[str, str]) -> dict[str, str]:
    """The installers reach the package registry (not a Microsoft host): no network guard."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def _clone(tmp_path: Path) -> Path:
    """A copy of the repository's tracked files, as a fresh clone has them."""
    clone = tmp_path / "cipp-setup"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True,
                   capture_output=True, text=True)
    return clone


def _runs_a_sandbox_check(cli: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    run = subprocess.run([str(cli), "check", "--sandbox", "legacy-ready", "--json"], cwd=outside,
                         capture_output=True, text=True, timeout=300, env=_installer_env({}), check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert {c["id"]: c["status"] for c in json.loads(run.stdout)["checks"]} == documented_statuses("legacy-ready")
    assert str(REPO) not in run.stderr


def _exe(folder: Path, name: str) -> Path:
    return folder / (f"{name}.exe" if os.name == "nt" else name)


@pytest.fixture(scope="module")
def installers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv holding pipx and uv; yields its interpreter."""
    folder = tmp_path_factory.mktemp("installers")
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    got = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "pipx", "uv"], capture_output=True,
                         text=True, timeout=600, env=_installer_env({}), check=False)
    assert got.returncode == 0, got.stderr[-2000:]
    yield python
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """The installed environments hold ~40,000 files: remove them at once, not at the
    start of a later pytest session (pytest keeps the last three sessions' folders)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_pipx_installs_the_clone_as_a_tool(installers: Path, tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    home, bin_dir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    install = subprocess.run(
        [str(installers), "-m", "pipx", "install", str(clone)], capture_output=True, text=True, timeout=1200, check=False,
        env=_installer_env({"PIPX_HOME": str(home), "PIPX_BIN_DIR": str(bin_dir),
                            "PIPX_MAN_DIR": str(tmp_path / "pipx-man")}),
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    _runs_a_sandbox_check(_exe(bin_dir, "cipp-setup"), tmp_path)


@pytest.mark.slow
def test_uv_tool_installs_the_clone_as_a_tool(installers: Path, tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    bin_dir = tmp_path / "uv-bin"
    install = subprocess.run(
        [str(installers), "-m", "uv", "tool", "install", str(clone)], capture_output=True, text=True, timeout=1200, check=False,
        env=_installer_env({"UV_TOOL_DIR": str(tmp_path / "uv-tools"), "UV_TOOL_BIN_DIR": str(bin_dir)}),
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    _runs_a_sandbox_check(_exe(bin_dir, "cipp-setup"), tmp_path)
