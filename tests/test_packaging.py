"""The installed distribution: the catalogue ships as cipp_setup.checks, nothing is left out.

Builds a wheel, installs it (non-editable) into a fresh virtual environment and runs
`cipp-setup check --sandbox legacy-ready` from a directory outside the repository, so
nothing can be imported from the source tree by accident.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from scenario_verdicts import documented_statuses

REPO = Path(__file__).resolve().parent.parent


def _source_packages() -> set[str]:
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "cipp_setup").rglob("__init__.py")
    }
    found.add("cipp_setup.checks")  # checks/ at the root, mapped into the package
    return found


def test_every_source_package_is_listed_for_packaging() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _source_packages() <= listed, f"missing from pyproject packages: {_source_packages() - listed}"
    assert config["tool"]["setuptools"]["package-dir"]["cipp_setup.checks"] == "checks"


def _env_for_pip() -> dict[str, str]:
    """pip may reach the package registry (not a Microsoft host): no network guard for it."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.slow
def test_a_fresh_non_editable_install_runs_a_sandbox_check(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, text=True, env=_env_for_pip(),
    )
    (wheel,) = wheels.glob("cipp_setup-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cipp_setup/checks/__init__.py" in names
    assert not any(n.startswith("checks/") for n in names), "a top-level checks package must not ship"
    assert any(n.startswith("cipp_setup/sandbox/scenarios/") and n.endswith(".yaml") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True, text=True, env=_env_for_pip(),
    )
    assert install.returncode == 0, install.stderr[-2000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    top_level = subprocess.run([str(python), "-c", "import checks"], cwd=outside, capture_output=True, text=True)
    assert top_level.returncode != 0 and "No module named 'checks'" in top_level.stderr

    cli = bin_dir / ("cipp-setup.exe" if os.name == "nt" else "cipp-setup")
    run = subprocess.run(
        [str(cli), "check", "--sandbox", "legacy-ready", "--json"],
        cwd=outside, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    import json

    envelope = json.loads(run.stdout)
    assert {c["id"]: c["status"] for c in envelope["checks"]} == documented_statuses("legacy-ready")
    assert str(REPO) not in run.stderr  # nothing came from the source tree
