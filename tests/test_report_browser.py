"""report.html in a real headless browser (Debian's chromium): it renders, shows every
check, and logs nothing to the console.

The browser is found on PATH; when it is missing and the tests run as root with apt-get,
`apt-get install -y chromium` is tried once per session (after an `apt-get update` when
the first try fails). Otherwise the tests are skipped, saying why. The browser gets no
network at all: every host name resolves to nothing.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_fixtures import fix_report_data, report_data

from cipp_setup.render.bundle import render_reports

INSTALL_TIMEOUT_S = 900
BROWSER_TIMEOUT_S = 90


@functools.cache
def _find_or_install_chromium() -> tuple[str | None, str]:
    """(path, why not): the browser, installed once if we may."""
    path = shutil.which("chromium")
    if path:
        return path, ""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "chromium is not installed and cannot be (not root, or no apt-get): apt-get install chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "install", "-y", "-q", "chromium"],
                 ["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"installing chromium failed: {exc}"
        if step[1] == "install" and done.returncode == 0:
            break
    path = shutil.which("chromium")
    return (path, "") if path else (None, "apt-get install -y chromium did not provide a chromium binary")


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = _find_or_install_chromium()
    if path is None:
        pytest.skip(f"no headless browser: {why}")
    return path


def _run_browser(chromium: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: a report must need none
        *extra, page.as_uri(),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_the_console_check_catches_a_page_that_logs(chromium: str, tmp_path: Path) -> None:
    """The detector itself: a page with a script error must be caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><script>throw new Error("canary-uncaught")</script></body></html>')
    done = _run_browser(chromium, page, tmp_path / "profile", "--dump-dom")
    assert any("canary-uncaught" in line for line in _console_lines(done.stderr)), done.stderr[-2000:]


@pytest.mark.parametrize("data", [report_data(), fix_report_data()], ids=["check", "fix"])
def test_report_html_renders_every_check_without_console_errors(chromium: str, tmp_path: Path, data: object) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_reports(data, redact_ids=True)["report.html"], encoding="utf-8")  # type: ignore[arg-type]
    done = _run_browser(chromium, page, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>cipp-setup" in dom and "</html>" in dom
    for result in data.results:  # type: ignore[attr-defined]
        assert f'id="check-{result.check_id}"' in dom
        assert re.search(rf"<code>{re.escape(result.check_id)}</code>", dom)
    assert _console_lines(done.stderr) == []


def test_report_html_screenshot_is_drawn(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_reports(report_data())["report.html"], encoding="utf-8")
    shot = tmp_path / "report.png"
    done = _run_browser(chromium, page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1100,1600")
    assert shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000  # a drawn page, not a blank one
    assert _console_lines(done.stderr) == []
