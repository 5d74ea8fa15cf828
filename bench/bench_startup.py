"""Start-up cost: `cipp-setup --help` and `check --help` against a bare `python -c pass`.

Aim (issue 13): --help and check --help within 3x of a bare interpreter start. Runs are interleaved and
medians taken, so the ratio is measured side by side in one run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from _common import PYTHON, cli_path, interleaved_medians, table


def main(runs: int = 15, installed: str | None = None, before: str | None = None) -> str:
    """`installed`: the python of a regular (non-editable) install, measured beside this
    development venv's editable one (whose import hook costs a few ms at every start).
    `before`: a folder with an earlier `cipp_setup` (see run_all.py), run on `installed`."""
    commands: dict[str, Sequence[str]] = {"python -c pass": [PYTHON, "-c", "pass"]}
    envs: dict[str, dict[str, str]] = {}
    venvs = {"": PYTHON} if installed is None else {" (installed)": installed, " (editable, dev venv)": PYTHON}
    if installed is not None and before:
        venvs = {" (installed, before)": installed, **venvs}
    for label, python in venvs.items():
        cli = cli_path(python)
        for name, argv in ((f"cipp-setup --help{label}", [cli, "--help"]),
                           (f"cipp-setup check --help{label}", [cli, "check", "--help"])):
            commands[name] = argv
            if "before" in label and before:
                envs[name] = {"PYTHONPATH": before}
    medians = interleaved_medians(commands, runs, envs)
    base = medians["python -c pass"]
    rows = [(name, f"{t * 1000:.0f} ms", f"{t / base:.2f}x") for name, t in medians.items()]
    return (f"### Start-up (console script, medians of {runs} interleaved runs)\n\n"
            + table(["command", f"median of {runs}", "vs python -c pass"], rows))

if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
