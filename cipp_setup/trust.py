"""What the tool trusts: a CA bundle file is checked here, before any client is built.

A leaf module (standard library only): cloud files (cipp_setup/cloud.py) and the transport
(gateways/transport.py) both check CA files, and neither may import the other.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TransportConfigError(ValueError):
    """A proxy variable or CA bundle that cannot be used; str() is one line (exit 2)."""


def validate_ca_bundle(path: str) -> str:
    """`--ca-bundle FILE`: a readable PEM file with at least one CA certificate. Returns the
    absolute path; raises TransportConfigError with one line otherwise."""
    resolved = Path(path).expanduser()
    try:
        text = resolved.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise TransportConfigError(
            f"--ca-bundle: cannot read {path}: {exc.strerror or exc}"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TransportConfigError(
            f"--ca-bundle: expected a PEM file with one or more CA certificates "
            f"(-----BEGIN CERTIFICATE-----), got {path}"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(resolved))
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise TransportConfigError(
            f"--ca-bundle: {path} holds no usable CA certificate ({reason})"
        ) from None
    return str(resolved.resolve())
