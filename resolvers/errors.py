"""Top-level errors with a stable `extensions.code` (for arguments, not mutation input)."""

from __future__ import annotations

from graphql import GraphQLError


class BadUserInputError(GraphQLError):
    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT", **details})
