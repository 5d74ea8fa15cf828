"""A subscription's state gives the verdict Azure implies, in the checks that depend on it.

Disabled and Deleted: ARM refuses writes (ReadOnlyDisabledSubscription) and App Service
stops the apps, so the prerequisite fails with a cause no role assignment can fix, and
ListLogs names the stopped app. Warned and PastDue: a grace period, so the checks warn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from test_checks_current import diagnose as diagnose_current
from test_checks_current import inputs_for as current_inputs
from test_checks_current import verdicts
from test_checks_legacy import diagnose as diagnose_legacy
from test_checks_legacy import inputs_for as legacy_inputs


def _set_state(sandbox: Any, state: str) -> None:
    sandbox.state.subscriptions[sandbox.identities_document()["subscription_id"].lower()].state = state


@pytest.mark.parametrize(("state", "cause"), [("Disabled", "subscription-disabled"),
                                              ("Deleted", "subscription-deleted")])
def test_legacy_read_only_subscription_fails_contributor_and_the_stopped_app(sandbox_factory: Any, state: str,
                                                                          cause: str) -> None:
    sb = sandbox_factory("legacy-ready")
    _set_state(sb, state)
    d = diagnose_legacy(sb, replace(legacy_inputs(sb), subscription_id=sb.identities_document()["subscription_id"]))
    v = verdicts(d)
    assert v["sam-user-subscription-contributor"] == ("fail", cause)
    assert v["api-list-logs"] == ("fail", "function-app-stopped")
    result = next(r for r in d.report.results if r.check_id == "sam-user-subscription-contributor")
    assert result.fix_available is False  # no role makes a read-only subscription writable
    assert any(state in e.found for e in result.evidence)


@pytest.mark.parametrize(("state", "cause"), [("Warned", "subscription-warned"), ("PastDue", "subscription-past-due")])
def test_legacy_grace_period_warns_and_everything_still_answers(sandbox_factory: Any, state: str, cause: str) -> None:
    sb = sandbox_factory("legacy-ready")
    _set_state(sb, state)
    d = diagnose_legacy(sb, replace(legacy_inputs(sb), subscription_id=sb.identities_document()["subscription_id"]))
    v = verdicts(d)
    assert v["sam-user-subscription-contributor"] == ("warn", cause)
    assert v["api-list-logs"] == ("pass", None)


@pytest.mark.parametrize(("state", "cause"), [("Disabled", "subscription-disabled"),
                                              ("Deleted", "subscription-deleted")])
def test_current_read_only_subscription_fails_the_identity_check_and_list_logs(sandbox_factory: Any, state: str,
                                                                             cause: str) -> None:
    sb = sandbox_factory("current-ready")
    _set_state(sb, state)
    v = verdicts(diagnose_current(sb, current_inputs(sb)))
    assert v["function-app-managed-identity"] == ("fail", cause)
    assert v["api-list-logs"] == ("fail", "function-app-stopped")


@pytest.mark.parametrize(("state", "cause"), [("Warned", "subscription-warned"), ("PastDue", "subscription-past-due")])
def test_current_grace_period_warns(sandbox_factory: Any, state: str, cause: str) -> None:
    sb = sandbox_factory("current-ready")
    _set_state(sb, state)
    v = verdicts(diagnose_current(sb, current_inputs(sb)))
    assert v["function-app-managed-identity"] == ("warn", cause)
    assert v["api-list-logs"] == ("pass", None)
