"""Run every benchmark side by side and write bench/RESULTS.md.

Usage (from the project's virtual environment): python bench/run_all.py
Absolute times vary on shared machines; the ratios are measured in one run, side by side.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_check  # noqa: E402
import bench_install  # noqa: E402
import bench_sandbox  # noqa: E402
import bench_startup  # noqa: E402
import bench_verdict  # noqa: E402


def main() -> None:
    # CIPP_BENCH_BEFORE: a folder holding an earlier version to run beside this one:
    #   git archive REV cipp_setup checks | tar -x -C DIR && mv DIR/checks DIR/cipp_setup/checks
    before = os.environ.get("CIPP_BENCH_BEFORE")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="cipp-bench-installed-") as folder:
        # A regular install, as a user has it: the start-up and verdict runs use it.
        install = bench_install.main(keep=Path(folder))
        installed = bench_install.installed_python(Path(folder))
        sections = [
            bench_startup.main(installed=installed, before=before),
            bench_verdict.main(before=before, python=installed),
            install,
            bench_sandbox.throughput(),
            bench_sandbox.load_times(),
            bench_check.main(),
        ]
    header = (
        "# Benchmark results\n\n"
        f"Measured {datetime.date.today().isoformat()} with `python bench/run_all.py` on "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at the start (a shared machine: compare "
        "the ratios, not the absolute times).\n"
    )
    aims = (
        "### The aims these figures answer\n\n"
        "- Issue 13: `cipp-setup --help` and `cipp-setup check --help` within 3x of `python -c pass`\n"
        "  (console script of a regular install, medians of interleaved runs).\n"
        "- Issue 13: time to verdict of a full legacy `check` with a saved sign-in against\n"
        "  `sandbox serve --latency-ms 50` within 2.5x of its floor (interpreter start plus the\n"
        "  dependent round trips counted on the request log); its peak RSS reported.\n"
        "- Issue 13: install size and time reported, and whether leaving msgraph's generated\n"
        "  modules uncompiled helps or hurts.\n"
        "- Earlier (issues 2 and 3): the sandbox serves 500 requests/s or more on loopback; the\n"
        "  100,000-user scenario loads in under 2 s; a full legacy check (in process) within 1.25x\n"
        "  of its dependency-depth floor, and the large tenant within 1.1x of the small one."
    )
    text = header + "\n" + "\n\n".join(sections + [aims]) + "\n"
    out = Path(__file__).parent / "RESULTS.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
