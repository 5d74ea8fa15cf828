"""The guard that keeps tests off real Microsoft hosts also covers subprocesses."""

from __future__ import annotations

import subprocess
import sys


def test_a_subprocess_started_by_a_test_cannot_resolve_a_microsoft_host() -> None:
    probe = "import socket; socket.getaddrinfo('login.microsoftonline.com', 443)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "RealNetworkAccessError" in run.stderr
    assert "tests must never contact a real Microsoft host" in run.stderr


def test_a_subprocess_may_still_use_loopback() -> None:
    probe = "import socket; print(len(socket.getaddrinfo('127.0.0.1', 443)) > 0)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"
