"""Small value conversions in the gateways, pinned against the SDKs' own types."""

from __future__ import annotations

from azure.mgmt.resource.subscriptions.models import SubscriptionState

from cipp_setup.gateways.arm import _state


def test_subscription_state_reads_as_arm_spells_it() -> None:
    assert _state(SubscriptionState.ENABLED) == "Enabled"
    assert _state(SubscriptionState.DISABLED) == "Disabled"
    assert _state("Warned") == "Warned"
    assert _state(None) == ""
