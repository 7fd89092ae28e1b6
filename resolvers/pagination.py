"""Cursor (keyset) pagination: opaque cursors that carry the sort key of an edge."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from resolvers.errors import BadUserInputError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    """How many and from where. `forward` pages with first/after, else with last/before."""

    size: int
    cursor: list[Any] | None
    forward: bool


def encode_cursor(sort: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, *key])).decode()


def decode_cursor(cursor: str, sort: str, argument: str) -> list[Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        payload = None
    if not isinstance(payload, list) or not payload or payload[0] != sort:
        raise BadUserInputError(
            f"`{argument}` is not a cursor of this list in this sort order",
            argument=argument,
        )
    return payload[1:]


def page_request(
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    sort: str,
) -> PageRequest:
    if first is not None and last is not None:
        raise BadUserInputError("pass either `first` or `last`, not both")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
            raise BadUserInputError(
                f"`{name}` must be between 0 and {MAX_PAGE_SIZE}", argument=name
            )
    if last is not None or (before is not None and first is None):
        if after is not None:
            raise BadUserInputError("`last`/`before` cannot be combined with `after`")
        cursor = decode_cursor(before, sort, "before") if before else None
        return PageRequest(last if last is not None else DEFAULT_PAGE_SIZE, cursor, False)
    if before is not None:
        raise BadUserInputError("`before` pages backwards: use it with `last`")
    cursor = decode_cursor(after, sort, "after") if after else None
    return PageRequest(first if first is not None else DEFAULT_PAGE_SIZE, cursor, True)


def newest_first_position(cursor: list[Any], argument: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a newest-first cursor carries: exactly an ISO 8601 datetime with a
    timezone and a UUID, both strings. Anything else (a forged cursor) is BAD_USER_INPUT."""
    try:
        if len(cursor) == 2 and all(isinstance(value, str) for value in cursor):
            created_at = datetime.fromisoformat(cursor[0])
            if created_at.utcoffset() is not None:
                return created_at.astimezone(UTC), uuid.UUID(cursor[1])
    except (ValueError, OverflowError):
        pass
    raise BadUserInputError("the cursor is malformed", argument=argument)
