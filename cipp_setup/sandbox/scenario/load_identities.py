"""Loading `identities:`: which tenant objects a sandbox session signs in as and talks to.

Each field left out falls back to what the cipp section names (its SAM user and app, the
Function App's subscription), so a scenario states only what differs.
"""

from __future__ import annotations

from typing import Any

from cipp_setup.sandbox.scenario.resolve import Resolver


def load_identities(ctx: Resolver, spec: dict[str, Any]) -> None:
    ids = ctx.state.identities
    cipp = ctx.state.cipp
    if "admin" in spec:
        ids.admin_user_id = ctx.principal(spec["admin"], "identities.admin", ("user",)).object_id
    if "sam_user" in spec:
        ids.sam_user_id = ctx.principal(
            spec["sam_user"], "identities.sam_user", ("user",)
        ).object_id
    elif cipp is not None:
        ids.sam_user_id = cipp.sam_user_id
    if "sam_app" in spec:
        ids.sam_app_id = ctx.application(spec["sam_app"], "identities.sam_app").app_id
    elif cipp is not None:
        ids.sam_app_id = cipp.sam_app_id
    if "subscription" in spec:
        ids.subscription_id = ctx.subscription(
            spec["subscription"], "identities.subscription"
        ).subscription_id
    elif cipp is not None:
        ids.subscription_id = ctx.state.sites[cipp.function_app.lower()].subscription_id
    if "api_client" in spec:
        app = ctx.application(spec["api_client"], "identities.api_client")
        ids.api_client_id = app.app_id
        if "api_client_secret" in spec:
            ids.api_client_secret = spec["api_client_secret"]
        else:
            valid = sorted(app.password_credentials, key=lambda c: c.end_time, reverse=True)
            if not valid:
                raise ctx.fail(
                    "identities.api_client_secret",
                    f"application {spec['api_client']!r} has no "
                    "password_credentials: expected api_client_secret or a password credential",
                )
            ids.api_client_secret = valid[0].secret_text
    elif "api_client_secret" in spec:
        raise ctx.fail("identities.api_client_secret", "expected identities.api_client as well")
    target = spec.get("api_url", "function_app")
    if target != "function_app" and cipp is None:
        raise ctx.fail(
            "identities.api_url", "expected a cipp section: the URL points at one of its hosts"
        )
    if target == "processor_app" and (cipp is None or not cipp.processor_app):
        raise ctx.fail(
            "identities.api_url",
            "expected cipp.processor_app to be set for api_url: processor_app",
        )
    ids.api_url_target = target
