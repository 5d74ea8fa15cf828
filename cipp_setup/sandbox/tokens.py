"""The sandbox's token authority: one RS256 key, JWT issue/verify, and the caller a token names.

The identity platform issues every token with this authority; Graph, ARM and CIPP's Easy
Auth verify bearer tokens with it and turn the claims into a `Caller` for their own
authorization. The key is made per instance (per sandbox run), so a token from one run is
never accepted by another, as a token signed for another tenant is not by the real services.

Time is the sandbox clock (`state.clock`), not the wall clock, so tests expire tokens by
moving the clock instead of sleeping.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cipp_setup.sandbox.state import TenantState

CallerKind = Literal["user", "app"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class TokenAuthority:
    """Signs and verifies the sandbox's JWTs with a per-instance RSA-2048 key."""

    def __init__(self, state: TenantState, authority_host: str) -> None:
        self.state = state
        self.authority_host = authority_host.rstrip("/")
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        # A self-signed certificate only so the JWKS can carry x5c/x5t as Entra's does.
        self._cert_der = self._self_signed_certificate()
        self.x5t = _b64url(hashlib.sha1(self._cert_der).digest())
        # Entra's key ids look like the x5t; a random one keeps runs apart.
        self.kid = _b64url(secrets.token_bytes(20))

    def _self_signed_certificate(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(self._private_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    def issue(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWT of `claims`, header {typ: JWT, alg: RS256, x5t, kid}."""
        return jwt.encode(
            claims,
            self._private_key,
            algorithm="RS256",
            headers={"typ": "JWT", "x5t": self.x5t, "kid": self.kid},
        )

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this authority signed and that is valid now, else None.

        Checks the signature and `exp`/`nbf` against the sandbox clock. The audience is
        not checked: each service compares `aud` with what it accepts.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            return None
        now = self.state.clock.now()
        exp = claims.get("exp")
        nbf = claims.get("nbf")
        if not isinstance(exp, (int, float)) or now >= exp:
            return None
        if isinstance(nbf, (int, float)) and now < nbf:
            return None
        return claims

    def jwks(self) -> dict[str, Any]:
        """The signing keys document (discovery/v2.0/keys) in Entra's shape."""
        numbers = self._public_key.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.x5t,
                    "n": _int_b64url(numbers.n),
                    "e": _int_b64url(numbers.e),
                    "x5c": [base64.b64encode(self._cert_der).decode("ascii")],
                    "issuer": f"{self.authority_host}/{self.state.tenant_id}/v2.0",
                }
            ]
        }


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for, in the terms the services authorize with."""

    kind: CallerKind
    object_id: str  # the user's oid, or the client's service principal object id
    app_id: str  # the client application's appId
    tenant_id: str
    scopes: frozenset[str]
    roles: frozenset[str]
    upn: str | None


def caller_from_claims(claims: dict[str, Any], state: TenantState | None = None) -> Caller:
    """The caller a token's claims describe (v1 or v2 token, delegated or app-only).

    `idtyp` decides user vs app; tokens without it count as delegated when they carry
    `scp`, as the real services treat them. For a user token without a UPN claim the
    state (if given) supplies the user's UPN.
    """
    idtyp = claims.get("idtyp")
    if idtyp in ("user", "app"):
        kind: CallerKind = idtyp
    else:
        kind = "user" if "scp" in claims else "app"
    scp = claims.get("scp") or ""
    roles = claims.get("roles") or []
    upn = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    object_id = str(claims.get("oid") or "")
    if kind == "user" and upn is None and state is not None:
        user = state.users.get(object_id)
        upn = user.user_principal_name if user else None
    return Caller(
        kind=kind,
        object_id=object_id,
        app_id=str(claims.get("appid") or claims.get("azp") or ""),
        tenant_id=str(claims.get("tid") or ""),
        scopes=frozenset(s for s in str(scp).split(" ") if s) if kind == "user" else frozenset(),
        roles=frozenset(str(r) for r in roles),
        upn=upn if kind == "user" else None,
    )
