"""The sandbox tenant: an offline, faithful stand-in for Entra ID, Graph, ARM and CIPP."""

from __future__ import annotations

from cipp_setup.sandbox.control import RemoteControl, SandboxControl, SandboxControlError
from cipp_setup.sandbox.faults import parse_fault_spec
from cipp_setup.sandbox.runtime import Sandbox, serve_forever
from cipp_setup.sandbox.scenario import ScenarioError, list_scenarios, load_scenario

__all__ = [
    "RemoteControl",
    "Sandbox",
    "SandboxControl",
    "SandboxControlError",
    "ScenarioError",
    "list_scenarios",
    "load_scenario",
    "parse_fault_spec",
    "serve_forever",
]
