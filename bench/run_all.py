"""Run every benchmark side by side and write bench/RESULTS.md.

Usage (from the project's virtual environment): python bench/run_all.py
Absolute times vary on shared machines; the ratios are measured in one run, side by side.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_check  # noqa: E402
import bench_sandbox  # noqa: E402
import bench_startup  # noqa: E402


def main() -> None:
    sections = [
        bench_startup.main(),
        bench_sandbox.throughput(),
        bench_sandbox.load_times(),
        bench_check.main(),
    ]
    header = (
        "# Benchmark results\n\n"
        f"Measured {datetime.date.today().isoformat()} with `python bench/run_all.py` on "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores (a shared machine: compare the ratios, not the absolute times).\n"
    )
    aims = (
        "### The aims these figures answer (issues 2 and 3)\n\n"
        "- `--help` within 5x of `python -c pass`.\n"
        "- The sandbox serves 500 requests/s or more on loopback.\n"
        "- The 100,000-user scenario loads in under 2 s.\n"
        "- A full legacy check within 1.25x of its dependency-depth floor, and the large tenant\n"
        "  within 1.1x of the small one."
    )
    text = header + "\n" + "\n\n".join(sections + [aims]) + "\n"
    out = Path(__file__).parent / "RESULTS.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
