"""A cause's remediation, filled with the values the run found.

Remediation texts are templates (`{tenant}`, `{sam_user_id}`, `{client_id}` ...). Only the
names in `FIELDS` are placeholders, so a PowerShell hashtable `@{...}` or the prose
`api://{client id}` is left alone. A value the run knows replaces its name; a value it
does not know becomes a visible `<sam-user-object-id>`, which the user has to look up —
never a placeholder for something the tool already read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cipp_setup.engine.model import CheckResult, CheckSpec, Remediation
from cipp_setup.shell import set_env_hidden, user_shell

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext

# name → the placeholder shown when the run did not find the value.
FIELDS: Mapping[str, str] = {
    "tenant": "<tenant>",
    "tenant_id": "<tenant-id>",
    "sam_user": "<cipp-sam-user>",
    "sam_user_id": "<cipp-sam-user-object-id>",
    "sam_app_id": "<cipp-sam-app-id>",
    "sam_app_object_id": "<cipp-sam-app-object-id>",
    "sam_sp_id": "<cipp-sam-service-principal-id>",
    "subscription_id": "<subscription-id>",
    "api_url": "<function-app-url>",
    "client_id": "<api-client-id>",
    "client_object_id": "<api-client-app-object-id>",
    "function_app": "<function-app-name>",
    "function_app_id": "<function-app-resource-id>",
    "resource_group": "<resource-group>",
    "identity_principal_id": "<managed-identity-principal-id>",
    "asm_sp_id": "<azure-service-management-service-principal-id>",
    "graph_sp_id": "<microsoft-graph-service-principal-id>",
    "allowed_ranges": "unknown (CIPP does not say)",
    "graph": "https://graph.microsoft.com",
    "set_secret": "read -rs CIPP_API_CLIENT_SECRET && export CIPP_API_CLIENT_SECRET",
}

SECRET_ENV = "CIPP_API_CLIENT_SECRET"

_PLACEHOLDER = re.compile(r"\{(" + "|".join(FIELDS) + r")\}")


def fill(template: Remediation, values: Mapping[str, str]) -> Remediation:
    def sub(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or FIELDS[m.group(1)], text)

    return Remediation(
        portal=sub(template.portal), cli=sub(template.cli),
        powershell=sub(template.powershell), steps=sub(template.steps),
    )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def run_values(ctx: CheckContext, result: CheckResult | None = None) -> dict[str, str]:
    """What the run knows: its inputs, then every result's facts (this result's last)."""
    facts: dict[str, Any] = {}
    for other in ctx.results.values():
        facts.update({k: v for k, v in other.facts.items() if v not in (None, "", [])})
    if result is not None:
        facts.update({k: v for k, v in result.facts.items() if v not in (None, "", [])})
    inputs = ctx.inputs
    values: dict[str, str] = {
        "tenant": inputs.tenant,
        "tenant_id": _text(facts.get("tenant_id")) or _text(facts.get("tid"))
        or (ctx.admin.tenant_id if ctx.admin is not None else ""),
        # Never the signed-in admin by default: the CIPP-SAM user is what the run found or was told.
        "sam_user": _text(facts.get("sam_user_upn")) or (inputs.sam_user or ""),
        "sam_user_id": _text(facts.get("sam_user_id")),
        "sam_app_id": _text(facts.get("sam_app_id")) or (inputs.sam_app_id or ""),
        "sam_app_object_id": _text(facts.get("sam_app_object_id")),
        "sam_sp_id": _text(facts.get("sam_sp_id")),
        "subscription_id": _text(facts.get("subscription_id")) or (inputs.subscription_id or ""),
        "api_url": inputs.api_url or "",
        "client_id": (inputs.api_client_id or "").strip(),
        "client_object_id": _text(facts.get("api_client_app_object_id")),
        "function_app": _text(facts.get("function_app_name")) or _function_app_name(inputs.function_app, inputs.api_url),
        "function_app_id": _text(facts.get("function_app_id"))
        or (inputs.function_app or "" if (inputs.function_app or "").startswith("/") else ""),
        "resource_group": _text(facts.get("resource_group")),
        "identity_principal_id": _text(facts.get("identity_principal_id")),
        "asm_sp_id": _text(facts.get("asm_sp_id")),
        "graph_sp_id": _text(facts.get("graph_sp_id")),
        "graph": getattr(ctx.cloud, "graph_url", "") or "",
        "set_secret": set_env_hidden(SECRET_ENV, user_shell()) + " (or pipe it to --client-secret-stdin)",
    }
    ranges = facts.get("allowed_ip_ranges")
    if isinstance(ranges, (list, tuple)) and ranges:
        values["allowed_ranges"] = ", ".join(str(r) for r in ranges)
    if not values["tenant_id"] and re.fullmatch(r"[0-9a-fA-F-]{36}", inputs.tenant or ""):
        values["tenant_id"] = inputs.tenant
    return {k: v for k, v in values.items() if v}


def _function_app_name(function_app: str | None, api_url: str | None) -> str:
    value = (function_app or "").strip()
    if value.startswith("/"):
        return value.rstrip("/").rsplit("/", 1)[-1]
    if value:
        return value
    host = (api_url or "").removeprefix("https://").split(":")[0].lower()
    return host.split(".")[0] if host.endswith(".azurewebsites.net") else ""


def with_remediation(spec: CheckSpec, result: CheckResult, ctx: CheckContext) -> CheckResult:
    """`result` carrying its cause's remediation, filled (nothing for a pass or skip)."""
    if result.cause is None and not result.status.is_problem:
        return result
    return replace(result, remediation=fill(spec.remediation_for(result.cause), run_values(ctx, result)))
