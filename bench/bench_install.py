"""Install size and time, the longest installed path (Windows' 260-character limit), and
whether skipping byte-compilation of msgraph's generated modules helps or hurts.

Each variant installs the repository (non-editable, as a user's `pip install .`) into a
fresh virtual environment, with pip's cache as it is on this machine (so the time is
install work, not downloads), then times a sandbox check: the first run (which compiles
whatever it imports that was left uncompiled) and the median of the next ones.

  compile (pip's default)   every .py compiled at install
  no msgraph/generated .pyc pip --no-compile, then compileall of everything except
                            msgraph/generated (its ~20,000 request builders and models;
                            the tool imports a few hundred, compiled on first use)
  no .pyc at all            pip --no-compile
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import cast

from _common import REPO, child_env, table

VARIANTS = ("compile (pip's default)", "no msgraph/generated .pyc", "no .pyc at all")


def _site_packages(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Lib" / "site-packages"
    return next((env_dir / "lib").glob("python3*/site-packages"))


def _bin(env_dir: Path, name: str) -> str:
    return str(env_dir / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else "")))


def _size(folder: Path) -> tuple[int, int]:
    total = files = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def longest_paths(site: Path) -> tuple[int, str, int]:
    """Longest path relative to site-packages, and how many exceed 200 characters."""
    longest, where, over = 0, "", 0
    for root, _dirs, names in os.walk(site):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), site)
            over += len(rel) > 200
            if len(rel) > longest:
                longest, where = len(rel), rel
    return longest, where, over


def _env() -> dict[str, str]:
    env = child_env()  # a user's machine writes the byte code of what it imports
    env.pop("PYTHONPATH", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _timed(argv: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def one_variant(variant: str, folder: Path, runs: int) -> dict[str, object]:
    env_dir = folder / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = _bin(env_dir, "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    if variant != VARIANTS[0]:
        pip.append("--no-compile")
    install = _timed([*pip, str(REPO)])
    site = _site_packages(env_dir)
    if variant == VARIANTS[1]:
        install += _timed([python, "-m", "compileall", "-q", "-j", "0", "-x", r"msgraph[/\\]generated", str(site)])
    size, files = _size(site)
    msgraph_size, _ = _size(site / "msgraph")
    check = [_bin(env_dir, "cipp-setup"), "check", "--sandbox", "legacy-ready"]
    outside = folder / "elsewhere"
    outside.mkdir()
    first = _timed(check, cwd=outside)
    later = statistics.median(_timed(check, cwd=outside) for _ in range(runs))
    result: dict[str, object] = {"install": install, "size": size, "files": files, "msgraph": msgraph_size,
                                 "first": first, "later": later}
    if variant == VARIANTS[0]:
        result["longest"] = longest_paths(site)
    return result


def main(runs: int = 3, keep: Path | None = None) -> str:
    """`keep`: leave the default variant's venv there (the other benchmarks measure the
    installed tool, as a user has it, rather than this editable development install)."""
    results = {}
    for variant in VARIANTS:
        if variant == VARIANTS[0] and keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            results[variant] = one_variant(variant, keep, runs)
            continue
        with tempfile.TemporaryDirectory(prefix="cipp-bench-install-") as folder:
            results[variant] = one_variant(variant, Path(folder), runs)
    rows = [
        (v, f"{r['install']:.0f} s", f"{r['size'] / 2**20:.0f} MiB", f"{r['files']:,}",
         f"{r['msgraph'] / 2**20:.0f} MiB", f"{r['first']:.2f} s", f"{r['later']:.2f} s")
        for v, r in results.items()
    ]
    longest, where, over = cast("tuple[int, str, int]", results[VARIANTS[0]]["longest"])
    return (
        f"### Install: size, time, byte-compilation (fresh venv each, pip cache warm; check = "
        f"`check --sandbox legacy-ready`, later = median of {runs})\n\n"
        + table(["variant", "install time", "site-packages", "files", "of it msgraph", "first check", "later checks"],
                rows)
        + f"\n\nLongest installed path, counted from site-packages: {longest} characters "
        f"(`{where}`); {over:,} paths exceed 200. Windows without long-path support allows 260 "
        "for the whole path, the venv's folder included."
    )


def installed_python(folder: Path) -> str:
    """The interpreter of a venv `main(keep=folder)` left."""
    return _bin(folder / "venv", "python")


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
