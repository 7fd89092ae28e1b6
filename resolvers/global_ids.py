"""Relay global IDs: base64 of "TypeName:uuid"."""

from __future__ import annotations

import base64
import binascii
import uuid


def to_global_id(type_name: str, key: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    """(type name, key) of a global ID, or None for anything malformed."""
    try:
        type_name, _, key = base64.urlsafe_b64decode(global_id.encode()).decode().partition(":")
        return type_name, uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def key_of(global_id: str, type_name: str) -> uuid.UUID | None:
    """The UUID behind a global ID of that type, or None (wrong type or malformed)."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]
