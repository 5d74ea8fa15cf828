"""Meta-tests over the check catalogue: every check is complete and the registry is sound."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
from cipp_setup.checks import REGISTRY, checks_for, get_check

from cipp_setup.engine.model import COMMON_CAUSES, Check, Severity

KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SERVICES = {"graph", "arm", "api"}
IDS = [c.spec.id for c in REGISTRY]


def test_ids_are_unique_kebab_case() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(KEBAB.match(i) for i in IDS), IDS


def test_the_legacy_ids_are_fixed() -> None:
    # Other tools and scripts rely on these ids: changing one is a breaking change.
    assert [c.spec.id for c in checks_for("legacy")] == [
        "sam-user-global-admin",
        "sam-app-azure-management-consent",
        "sam-user-subscription-contributor",
        "api-token",
        "api-list-logs",
    ]


@pytest.mark.parametrize("check", REGISTRY, ids=IDS)
def test_every_check_is_complete(check: Check) -> None:
    spec = check.spec
    assert spec.title.strip() and not spec.title.endswith(".")
    assert isinstance(spec.severity, Severity)
    assert len(spec.remediation.portal) > 20 and "→" in spec.remediation.portal
    assert len(spec.remediation.cli) > 10
    assert len(spec.docs) > 100
    assert spec.causes
    assert spec.generations
    assert spec.services and spec.services <= SERVICES
    assert spec.timeout_s > 0
    codes = [c.code for c in spec.causes]
    assert len(codes) == len(set(codes))
    assert all(KEBAB.match(c) for c in codes)
    assert all(c.meaning.strip() for c in spec.causes)
    # A check's own causes do not shadow the engine's common ones.
    assert not set(codes) & {c.code for c in COMMON_CAUSES}


def test_dependencies_exist_and_have_no_cycle() -> None:
    by_id = {c.spec.id: c for c in REGISTRY}
    for check in REGISTRY:
        for dep in check.spec.depends_on:
            assert dep in by_id, f"{check.spec.id} depends on unknown {dep}"
            # Catalogue order puts a dependency first, which also rules out cycles.
            assert IDS.index(dep) < IDS.index(check.spec.id)

    state: dict[str, str] = {}

    def visit(node: str) -> None:
        assert state.get(node) != "visiting", f"dependency cycle through {node}"
        if state.get(node) == "done":
            return
        state[node] = "visiting"
        for dep in by_id[node].spec.depends_on:
            visit(dep)
        state[node] = "done"

    for check_id in by_id:
        visit(check_id)


def _cause_literals(check: Check) -> set[str]:
    """Cause codes a check's module can produce: first argument (or cause=) of
    failed/errored/warned, values assigned to `cause`, and module tables of causes."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(type(check))))
    found: set[str] = set()

    def strings(node: ast.AST) -> set[str]:
        return {
            n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and KEBAB.match(n.value)
        }

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("failed", "errored", "warned"):
            if node.args and isinstance(node.args[0], ast.Constant) and node.func.attr != "warned":
                found.add(node.args[0].value)
            for kw in node.keywords:
                if kw.arg == "cause" and isinstance(kw.value, ast.Constant):
                    found.add(kw.value.value)
        elif isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if "cause" in names or any("CAUSE" in n or "TEXTS" in n for n in names):
                found |= strings(node.value)
    return found


@pytest.mark.parametrize("check", REGISTRY, ids=IDS)
def test_every_cause_used_in_source_is_declared(check: Check) -> None:
    declared = {c.code for c in check.spec.causes} | {c.code for c in COMMON_CAUSES}
    used = _cause_literals(check)
    assert used, "the source scan found no cause at all: the scan is broken"
    assert used <= declared, f"undeclared causes: {sorted(used - declared)}"


def test_get_check_and_unknown_id() -> None:
    assert get_check("api-token") is REGISTRY[IDS.index("api-token")]
    with pytest.raises(KeyError, match="unknown check id"):
        get_check("no-such-check")


def test_checks_for_keeps_catalogue_order() -> None:
    legacy = checks_for("legacy")
    assert [IDS.index(c.spec.id) for c in legacy] == sorted(IDS.index(c.spec.id) for c in legacy)


def test_importing_the_catalogue_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cipp_setup.checks, cipp_setup.engine.diagnose, cipp_setup.gateways;"
        "heavy=[m for m in sys.modules if m.split('.')[0] in ('msal','azure','msgraph','kiota_http','httpx','requests')];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_check_is_marked_fixable_exactly_when_cipp_setup_fix_has_a_planner_for_it() -> None:
    # No PLANNERS table any more: a check plans its own fix (FixableCheck.plan), and
    # `fixable` is derived from that, so the catalogue's fixable checks are these seven.
    from cipp_setup.checks import REGISTRY

    from cipp_setup.engine.model import FixableCheck

    assert {c.spec.id for c in REGISTRY if c.spec.fixable} == {c.spec.id for c in REGISTRY
                                                              if isinstance(c, FixableCheck)} == {
        "sam-user-global-admin", "sam-app-azure-management-consent", "sam-user-subscription-contributor",
        "sam-app-graph-application-permissions", "sam-user-app-registration", "function-app-managed-identity", "api-client-app",
        "api-easy-auth",
    }
