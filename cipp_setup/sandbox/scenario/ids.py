"""Ids a scenario derives: stable across runs, and shaped as the real services shape them."""

from __future__ import annotations

import base64
import hashlib
import uuid

# Namespace for every id a scenario derives (uuid5 of "scenario/kind/key").
_ID_NAMESPACE = uuid.UUID("0b6f9c3e-8d2a-5e41-9c7b-3a1d5f2e4c60")


def derived_id(scenario_name: str, kind: str, key: str) -> str:
    """The id of the object `key` of `kind` that a scenario left without one."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{scenario_name}/{kind}/{key}"))


def b64_guid_bytes(*guids: str) -> str:
    raw = b"".join(uuid.UUID(g).bytes_le for g in guids)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def oauth2_grant_id(client_id: str, resource_id: str, principal_id: str | None = None) -> str:
    """Graph's oauth2PermissionGrant id: base64url of the client, resource [and user] GUID bytes."""
    return b64_guid_bytes(client_id, resource_id, *([principal_id] if principal_id else []))


def role_assignment_id(role_definition_id: str, principal_id: str) -> str:
    """A unifiedRoleAssignment id as Graph forms it: base64url(role + principal bytes) + "-1"."""
    return b64_guid_bytes(role_definition_id, principal_id) + "-1"


def role_eligibility_id(role_definition_id: str, principal_id: str) -> str:
    """A roleEligibilityScheduleInstance id as Graph forms it (suffix "-1-e")."""
    return b64_guid_bytes(role_definition_id, principal_id) + "-1-e"


_SECRET_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"


def derived_secret(seed: str) -> str:
    """A 40-character client secret of the real shape (``xxx8Q~...``), derived from `seed`."""
    digest = (
        hashlib.sha256(seed.encode("utf-8")).digest()
        + hashlib.sha256(b"2" + seed.encode()).digest()
    )
    chars = [_SECRET_ALPHABET[b % len(_SECRET_ALPHABET)] for b in digest]
    prefix = "".join(c if c.isalnum() else "x" for c in chars[:3])
    return prefix + "8Q~" + "".join(chars[3:37])
