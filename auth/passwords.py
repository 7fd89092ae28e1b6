"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

# Verified against when the email is unknown, so a login takes as long either way and does not
# reveal which emails have accounts.
_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow (~30-50 ms): keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    lowered, address = password.lower(), email.strip().lower()
    # Either way round: the password holds the email, or is a piece of it.
    if address and (address in lowered or lowered in address):
        return "must not contain your email address"
    return None
