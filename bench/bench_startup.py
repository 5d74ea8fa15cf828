"""Start-up cost: `cipp-setup --help` and `check --help` against a bare `python -c pass`.

Aim (issue 3): --help within 5x of a bare interpreter start. Runs are interleaved and
medians taken, so the ratio is measured side by side in one run.
"""

from __future__ import annotations

import sys

from _common import PYTHON, cli_path, interleaved_medians, table


def main(runs: int = 15) -> str:
    cli = cli_path()
    medians = interleaved_medians(
        {
            "python -c pass": [PYTHON, "-c", "pass"],
            "cipp-setup --help": [cli, "--help"],
            "cipp-setup check --help": [cli, "check", "--help"],
        },
        runs,
    )
    base = medians["python -c pass"]
    rows = [(name, f"{t * 1000:.0f} ms", f"{t / base:.2f}x") for name, t in medians.items()]
    return "### Start-up\n\n" + table(["command", f"median of {runs}", "vs python -c pass"], rows)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
