"""The token authority on its own: signing, verification on the sandbox clock, callers."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from cipp_setup.sandbox.state import TenantState, User
from cipp_setup.sandbox.tokens import TokenAuthority, caller_from_claims

TENANT_ID = "4f6c1a2b-93d7-4e0a-8b5c-2d1e7f9a0c31"
HOST = "https://127.0.0.1:4443"


@pytest.fixture(scope="module")
def state() -> TenantState:
    state = TenantState(tenant_id=TENANT_ID, default_domain="contoso.onmicrosoft.com")
    state.add_user(User("u-1", "ada@contoso.onmicrosoft.com", "Ada"))
    return state


@pytest.fixture(scope="module")
def authority(state: TenantState) -> TokenAuthority:
    return TokenAuthority(state, HOST)


def claims(state: TenantState, **extra: Any) -> dict[str, Any]:
    now = int(state.clock.now())
    base: dict[str, Any] = {"aud": "https://graph.microsoft.com", "tid": TENANT_ID,
                            "iat": now - 300, "nbf": now - 300, "exp": now + 3600}
    base.update(extra)
    return base


def test_issued_token_verifies_and_names_its_key(state: TenantState, authority: TokenAuthority) -> None:
    token = authority.issue(claims(state, oid="u-1"))
    header = jwt.get_unverified_header(token)
    assert header == {"typ": "JWT", "alg": "RS256", "x5t": authority.x5t, "kid": authority.kid}
    verified = authority.verify(token)
    assert verified is not None and verified["oid"] == "u-1"


def test_expiry_and_not_before_follow_the_sandbox_clock(authority: TokenAuthority) -> None:
    own_state = TenantState(tenant_id=TENANT_ID, default_domain="contoso.onmicrosoft.com")
    own = TokenAuthority(own_state, HOST)
    token = own.issue(claims(own_state))
    now = int(own_state.clock.now())
    early = own.issue(claims(own_state, nbf=now + 600, exp=now + 7200))
    assert own.verify(token) is not None and own.verify(early) is None
    own_state.clock.advance(3601)
    assert own.verify(token) is None
    assert own.verify(early) is not None


def test_foreign_or_tampered_tokens_are_refused(state: TenantState, authority: TokenAuthority) -> None:
    other = TokenAuthority(state, HOST)
    assert authority.verify(other.issue(claims(state))) is None
    head, _body, signature = authority.issue(claims(state)).split(".")
    forged_body = jwt.utils.base64url_encode(b'{"aud":"x","exp":9999999999}').decode()
    assert authority.verify(f"{head}.{forged_body}.{signature}") is None
    assert authority.verify("not a token") is None
    unsigned = jwt.encode(claims(state), key=None, algorithm="none")  # type: ignore[arg-type]
    assert authority.verify(unsigned) is None


def test_jwks_publishes_the_signing_key(state: TenantState, authority: TokenAuthority) -> None:
    (key,) = authority.jwks()["keys"]
    assert {"kty", "use", "kid", "x5t", "n", "e", "x5c", "issuer"} <= set(key)
    assert key["kid"] == authority.kid and key["issuer"] == f"{HOST}/{TENANT_ID}/v2.0"
    decoded = jwt.decode(authority.issue(claims(state)), jwt.PyJWK(key).key, algorithms=["RS256"],
                         audience="https://graph.microsoft.com")
    assert decoded["tid"] == TENANT_ID


def test_callers_from_delegated_and_app_claims(state: TenantState) -> None:
    user = caller_from_claims({"idtyp": "user", "oid": "u-1", "appid": "client-1", "tid": TENANT_ID,
                               "scp": "User.Read Directory.Read.All", "upn": "ada@contoso.onmicrosoft.com"})
    assert user.kind == "user" and user.object_id == "u-1" and user.app_id == "client-1"
    assert user.scopes == {"User.Read", "Directory.Read.All"} and user.roles == frozenset()
    assert user.upn == "ada@contoso.onmicrosoft.com"

    app = caller_from_claims({"idtyp": "app", "oid": "sp-1", "azp": "client-2", "tid": TENANT_ID,
                              "roles": ["Logs.Read"]})
    assert app.kind == "app" and app.object_id == "sp-1" and app.app_id == "client-2"
    assert app.roles == {"Logs.Read"} and app.scopes == frozenset() and app.upn is None

    # Without idtyp, scp marks a delegated token; the state supplies a missing UPN.
    v2_user = caller_from_claims({"oid": "u-1", "azp": "client-1", "scp": "user_impersonation"}, state)
    assert v2_user.kind == "user" and v2_user.upn == "ada@contoso.onmicrosoft.com"
