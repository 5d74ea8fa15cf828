"""Small helpers shared by the benchmark scripts (timing, subprocess runs, tables)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def cli_path(python: str | None = None) -> str:
    """The installed console script next to this interpreter (same venv)."""
    name = "cipp-setup.exe" if os.name == "nt" else "cipp-setup"
    return str(Path(python or PYTHON).with_name(name))


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured process: as a user's, who has byte code. pip compiles
    an installed package; PYTHONDONTWRITEBYTECODE (set on some development machines)
    would make every run of an editable install compile the whole package from source."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_command(argv: Sequence[str], *, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=child_env(env))
    return time.perf_counter() - started


def interleaved_medians(commands: dict[str, Sequence[str]], runs: int,
                        envs: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so machine noise hits all alike.
    `envs`: extra environment variables for some of the commands, by name."""
    extra = envs or {}

    def env_of(name: str) -> dict[str, str] | None:
        return dict(os.environ, **extra[name]) if name in extra else None

    samples: dict[str, list[float]] = {name: [] for name in commands}
    for name, argv in commands.items():
        time_command(argv, env=env_of(name))  # warm-up, not counted: byte code written, files in the OS cache
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(time_command(argv, env=env_of(name)))
    return {name: statistics.median(values) for name, values in samples.items()}


def median_of(fn: Callable[[], float], runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
