"""The credential wrappers (a saved sign-in's serialisation, the stale-token renewal) look
like the credential they wrap: azure-core's bearer policy calls `get_token_info` on any
credential that has it, so a wrapper must not claim it over a credential without it
(azure-identity before 1.18, which pyproject.toml allows)."""

from __future__ import annotations

from typing import Any

import pytest

from cipp_setup.gateways.signin_cache import SerializedCredential
from cipp_setup.gateways.stale_token import RenewableCredential


class OldCredential:
    """azure-identity 1.17's shape: get_token only."""

    def get_token(self, *scopes: str, **kwargs: Any) -> str:
        return "token:" + " ".join(scopes) + (":claims" if kwargs.get("claims") else "")

    def close(self) -> None:
        pass


class NewCredential(OldCredential):
    def get_token_info(self, *scopes: str, options: Any = None) -> str:
        return "info:" + " ".join(scopes) + (":claims" if (options or {}).get("claims") else "")


@pytest.mark.parametrize("wrap", [SerializedCredential, RenewableCredential])
def test_a_wrapper_offers_get_token_info_only_where_the_credential_has_it(wrap: Any) -> None:
    old, new = wrap(OldCredential()), wrap(NewCredential())
    assert not hasattr(old, "get_token_info")
    assert old.get_token("a/.default") == "token:a/.default"
    assert new.get_token_info("a/.default") == "info:a/.default"


def test_renewal_after_a_401_reaches_either_method() -> None:
    for inner, call in ((OldCredential(), "get_token"), (NewCredential(), "get_token_info")):
        credential = RenewableCredential(inner)
        credential.renew("a/.default")
        assert getattr(credential, call)("a/.default").endswith(":claims")  # once, fresh
        assert not getattr(credential, call)("a/.default").endswith(":claims")
