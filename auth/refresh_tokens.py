"""Refresh-token families: issue, rotate (reuse revokes the family), revoke."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth.tokens import hash_refresh_token, new_refresh_token
from db.models import RefreshToken


@dataclass(frozen=True, slots=True)
class Rotation:
    user_id: uuid.UUID
    refresh_token: str


class RefreshTokenRejectedError(Exception):
    """Unknown, expired, revoked, or already used (then its whole family is revoked)."""


async def issue_refresh_token(session: AsyncSession, user_id: uuid.UUID, ttl_seconds: int) -> str:
    """Start a new family (a sign-in): it lives `ttl_seconds`, however often it is rotated."""
    return await _add_refresh_token(
        session, user_id, uuid.uuid4(), datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    )


async def _add_refresh_token(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID, expires_at: datetime
) -> str:
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
        )
    )
    await session.flush()
    return token


async def rotate_refresh_token(session: AsyncSession, token: str) -> Rotation:
    """Spend `token` and issue its successor in the same family, expiring when it does.

    The successor inherits the family's expiry, so a session ends a fixed time after sign-in
    even when it is used every day (a stolen token cannot be kept alive forever).

    The row is locked so two concurrent uses of one token cannot both succeed. A token used a
    second time means a copy leaked: the whole family is revoked, and the caller must commit
    that revocation even though it answers with an error.
    """
    now = datetime.now(UTC)
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
        .with_for_update()
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise RefreshTokenRejectedError
    if row.used_at is not None:
        await revoke_family(session, row.family_id)
        raise RefreshTokenRejectedError
    row.used_at = now
    successor = await _add_refresh_token(session, row.user_id, row.family_id, row.expires_at)
    return Rotation(row.user_id, successor)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_refresh_token(session: AsyncSession, token: str) -> bool:
    """Log out: revoke the token's family. False when the token is unknown."""
    family_id = await session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if family_id is None:
        return False
    await revoke_family(session, family_id)
    return True
