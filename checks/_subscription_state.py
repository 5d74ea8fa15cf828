"""What a subscription's state means for CIPP, for the checks that depend on the subscription.

ARM reports `state` as Enabled, Warned, PastDue, Disabled or Deleted. Azure's own rules:
- Disabled: the subscription is read-only (every write is refused with
  ReadOnlyDisabledSubscription) and its apps are stopped: CIPP's Function App does not
  serve, and nothing (neither CIPP's activation nor a fix) can write its settings.
- Deleted: cancelled; disabled the same way until its resources are removed.
- Warned / PastDue: a grace period: everything still runs and takes writes, but Azure
  disables the subscription if the reason (spending limit, unpaid invoice) stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cipp_setup.engine.model import Cause, Evidence, Message, Remediation

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext
    from cipp_setup.gateways.arm import SubscriptionInfo


@dataclass(frozen=True)
class StateEffect:
    state: str
    cause: str
    blocking: bool  # True: fail (writes refused, apps stopped); False: warn (grace period)
    summary: str
    hint: str

    def evidence(self, subscription: str) -> Evidence:
        return Evidence("subscription state", f"{self.state} ({subscription})", "Enabled")

    def message(self) -> Message:
        return Message("hint", self.hint)


_EFFECTS = {
    "disabled": StateEffect(
        "Disabled", "subscription-disabled", True,
        "is Disabled: Azure refuses every write in it (ReadOnlyDisabledSubscription) and has stopped its apps, "
        "CIPP's Function App among them",
        "Re-enable it: Azure portal → Subscriptions → the subscription → Overview (reactivate, or settle the "
        "payment or spending limit that disabled it). Then run the check again.",
    ),
    "deleted": StateEffect(
        "Deleted", "subscription-deleted", True,
        "is Deleted (cancelled): it is read-only, its apps are stopped and its resources will be removed",
        "Reactivate it while Azure still allows (Azure portal → Subscriptions → Reactivate), or deploy CIPP "
        "in an active subscription.",
    ),
    "warned": StateEffect(
        "Warned", "subscription-warned", False,
        "is Warned: it still runs and takes writes, but Azure disables it if the warning's reason stays",
        "Azure portal → Subscriptions → the subscription → Overview says why it is warned; address it before "
        "Azure disables the subscription (CIPP would stop).",
    ),
    "pastdue": StateEffect(
        "PastDue", "subscription-past-due", False,
        "is PastDue: payment is overdue; it still runs and takes writes, but Azure disables it if it stays unpaid",
        "Settle the outstanding balance (Azure portal → Cost Management + Billing) before Azure disables the "
        "subscription (CIPP would stop).",
    ),
}

_PORTAL = "Azure portal → Subscriptions → {subscription_id} → Overview"
_SHOW = "az account show --subscription {subscription_id} --query state -o tsv"
_SHOW_PS = "(Get-AzSubscription -SubscriptionId {subscription_id}).State"


def _cause(code: str, meaning: str, effect_key: str) -> Cause:
    return Cause(code, meaning, Remediation(steps=_EFFECTS[effect_key].hint, portal=_PORTAL, cli=_SHOW,
                                            powershell=_SHOW_PS))


# Each cause carries its own remediation: no role assignment or app change helps here.
CAUSES = (
    _cause("subscription-disabled",
           "The subscription is Disabled: writes are refused and CIPP's Function App is stopped.", "disabled"),
    _cause("subscription-deleted", "The subscription is Deleted (cancelled): read-only, its apps stopped.", "deleted"),
    _cause("subscription-warned",
           "The subscription is Warned: it works during a grace period, then Azure disables it.", "warned"),
    _cause("subscription-past-due",
           "The subscription is PastDue: it works during a grace period, then Azure disables it.", "pastdue"),
)


def effect_of(state: str) -> StateEffect | None:
    """None for Enabled (or a state ARM did not report)."""
    return _EFFECTS.get(state.replace(" ", "").lower())


async def hosting_subscription(ctx: CheckContext, subscription_id: str) -> SubscriptionInfo | None:
    """The subscription that hosts the Function App (shared with the other checks' read of
    it), or None when the admin cannot read it: its state is then simply not known."""
    from . import _lookups as lk

    key = subscription_id.strip().lower()

    async def look_up() -> SubscriptionInfo:
        return await lk.arm(ctx).get_subscription(key)

    try:
        found: SubscriptionInfo = await ctx.shared(f"subscription:{key}", look_up)
    except Exception:  # noqa: BLE001 - NotFound, PermissionDenied, a lookup's own error: state unknown
        return None
    return found
