"""Password hashing with argon2id (by default argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from settings import PRODUCTION_HASH_MEMORY_KIB, PRODUCTION_HASH_TIME_COST

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


class _Argon2:
    """The hasher of new passwords at one cost. Stored hashes name their own cost, so each
    verifies whatever cost it was made with."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self.cost = (time_cost, memory_kib)
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._dummy_hash: str | None = None

    def dummy_hash(self) -> str:
        # Verified against when the email is unknown, so a login takes as long either way and
        # does not reveal which emails have accounts (hence made at the same cost, on first use).
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("timing-equaliser-not-a-password")
        return self._dummy_hash


_argon2 = _Argon2(PRODUCTION_HASH_TIME_COST, PRODUCTION_HASH_MEMORY_KIB)


def use_password_hash_cost(time_cost: int, memory_kib: int) -> None:
    """Hash new passwords at this argon2id cost: the settings' (PASSWORD_HASH_*), applied once
    at start-up by the server (production's floor is checked in settings.py)."""
    global _argon2
    if _argon2.cost != (time_cost, memory_kib):
        _argon2 = _Argon2(time_cost, memory_kib)


# Each argon2 run holds ~64 MiB: a burst of sign-ins (or sign-up probes) must queue for these
# slots rather than exhaust memory or starve the thread pool the rest of the app shares.
MAX_CONCURRENT_HASHES = 4

# One semaphore per event loop, made on first use: a semaphore belongs to one loop, and there
# is none at import time (one loop per process when serving; tests may run several).
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)

_T = TypeVar("_T")


async def _run_argon2(work: Callable[[], _T]) -> _T:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
    async with slots:
        # argon2 is deliberately slow (~30-50 ms at production cost): keep it off the event loop.
        return await asyncio.to_thread(work)


async def hash_password(password: str) -> str:
    argon2 = _argon2
    return await _run_argon2(lambda: argon2.hasher.hash(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    argon2 = _argon2

    def verify() -> bool:
        against = password_hash or argon2.dummy_hash()
        try:
            return argon2.hasher.verify(against, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await _run_argon2(verify)


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
