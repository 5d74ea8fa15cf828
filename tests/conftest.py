"""Shared test fixtures: a guard against real network traffic, and sandbox factories."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import netguard

from cipp_setup.sandbox.runtime import Sandbox
from cipp_setup.sandbox.state import TenantState

SUBPROCESS_GUARD = Path(__file__).parent / "subprocess_guard"


# Several tests stop a child with Ctrl-C (SIGINT): `sandbox serve` in teardown, `fix` in
# the interruption tests. A test run started in the background (`cmd &` in a script,
# nohup, some CI runners) inherits SIGINT *ignored*, and exec passes that on, so the
# children would never see it (each teardown then waited out its 30 s timeout). A handler
# here (not SIG_IGN) makes every child start with SIGINT at its default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection to a non-loopback address fails loudly, here and in subprocesses."""
    netguard.install(monkeypatch.setattr)
    existing = os.environ.get("PYTHONPATH")
    paths = [str(SUBPROCESS_GUARD), str(Path(__file__).parent)] + ([existing] if existing else [])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes: ``sandbox_factory("legacy-fresh")`` or ``sandbox_factory(state, latency_ms=5)``.

    Extra keyword arguments go to `Sandbox`. Every sandbox is stopped at teardown.
    """
    started: list[Sandbox] = []

    def start(scenario: str | TenantState, **kwargs: Any) -> Sandbox:
        if isinstance(scenario, TenantState):
            state = scenario
        else:
            state = _load_builtin(scenario)
        sandbox = Sandbox(state, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """A started sandbox for the built-in "legacy-ready" scenario."""
    return sandbox_factory("legacy-ready")


def _load_builtin(name: str) -> TenantState:
    from cipp_setup.sandbox import scenario

    return scenario.load_scenario(name)
