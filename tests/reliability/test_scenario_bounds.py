"""Scenario loading has bounds (issue 14): files nested 5,000 deep crashed the loader,
a FIFO and `size.users: 100000000` hung it, /dev/zero never ended. Each is refused in
one line naming the file, exit 2, before any sandbox starts; a scenario inside the
bounds still loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cipp_setup.cli.main import main
from cipp_setup.sandbox.scenario import ScenarioError, load_scenario
from cipp_setup.sandbox.scenario.source import MAX_EXTENDS, MAX_NESTING, MAX_SCENARIO_BYTES

CHILD = "description: a child scenario\nextends: legacy-ready\n"


def _refused(capsys: pytest.CaptureFixture[str], target: str | Path, words: str) -> None:
    code = main(["check", "--sandbox", str(target)])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, out + err
    assert len(lines) == 1 and lines[0].startswith("cipp-setup: error: --sandbox: "), err
    assert words in lines[0], lines[0]
    assert "Traceback" not in out + err


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_a_scenario_nested_thousands_deep_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flow: bool
) -> None:
    path = tmp_path / "deep.yaml"
    if flow:
        body = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    else:
        # (indentation costs bytes: 900 levels stay under the size bound)
        body = "x:\n" + "".join("  " * level + "a:\n" for level in range(1, 900))
    path.write_text(CHILD + body, encoding="utf-8")
    _refused(capsys, path, "nested too deeply")


def test_nesting_at_the_bound_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "nested.yaml"
    # MAX_NESTING levels in all: the document itself is the first.
    path.write_text(CHILD + "notes: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="notes"):  # past the bound check: the schema speaks
        load_scenario(path)
    path.write_text(CHILD + "notes: " + "[" * MAX_NESTING + "]" * MAX_NESTING + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="nested too deeply"):
        load_scenario(path)


def test_a_huge_filler_count_is_refused_not_grown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(CHILD + "size:\n  users: 100000000\n", encoding="utf-8")
    _refused(capsys, path, "size.users: 100000000 is greater than the maximum")


def test_filler_within_the_bound_still_grows(tmp_path: Path) -> None:
    path = tmp_path / "some.yaml"
    path.write_text(CHILD + "size:\n  users: 50\n", encoding="utf-8")
    state = load_scenario(path)
    assert len(state.users) >= 50


def test_a_file_larger_than_a_scenario_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(CHILD.encode() + b"#" * (MAX_SCENARIO_BYTES + 10))
    _refused(capsys, path, "larger than")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_waiting_for_a_writer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # nobody ever writes: opening it for reading would block for ever
    _refused(capsys, fifo, "not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists() or sys.platform.startswith("win"), reason="no /dev/zero")
def test_dev_zero_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    _refused(capsys, "/dev/zero", "not a regular file")


def test_a_directory_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "scenarios.yaml"
    folder.mkdir()
    _refused(capsys, folder, "a directory")


def test_a_long_extends_chain_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parent = "legacy-ready"
    for index in range(MAX_EXTENDS + 2):
        path = tmp_path / f"s{index}.yaml"
        path.write_text(f"description: level {index}\nextends: {parent}\n", encoding="utf-8")
        parent = path.name
    _refused(capsys, tmp_path / f"s{MAX_EXTENDS + 1}.yaml", f"more than {MAX_EXTENDS} scenarios")
