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
    text = header + "\n" + "\n\n".join(sections) + "\n"
    out = Path(__file__).parent / "RESULTS.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
