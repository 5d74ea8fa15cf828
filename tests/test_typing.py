"""Strict mypy over the package and, separately, the check catalogue (see pyproject)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("target", [[], ["checks"]], ids=["cipp_setup", "checks"])
def test_mypy_strict_finds_no_issue(target: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *target],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
