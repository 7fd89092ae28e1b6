"""argon2 work is capped process-wide: each hash holds ~64 MiB, so a burst must queue."""

import asyncio
import threading
import time

import pytest

from auth import passwords


class SlowCountingHasher:
    """Stands in for argon2: slow, and records how many run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def _work(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._work()
        return "$argon2id$fake"

    def verify(self, password_hash: str, password: str) -> bool:
        self._work()
        return True


async def test_concurrent_hashing_and_verifying_is_capped(monkeypatch: pytest.MonkeyPatch):
    fake = SlowCountingHasher()
    monkeypatch.setattr(passwords._argon2, "hasher", fake)
    await asyncio.gather(
        *(passwords.hash_password("correct-horse-battery") for _ in range(10)),
        *(passwords.verify_password("$argon2id$fake", "x") for _ in range(10)),
    )
    assert 1 < fake.most <= passwords.MAX_CONCURRENT_HASHES


async def test_hash_and_verify_still_work():
    hashed = await passwords.hash_password("correct-horse-battery")
    assert await passwords.verify_password(hashed, "correct-horse-battery")
    assert not await passwords.verify_password(hashed, "wrong-horse-battery")
    assert not await passwords.verify_password(None, "correct-horse-battery")


async def test_the_cost_applies_to_new_hashes_and_every_stored_hash_still_verifies():
    before = passwords._argon2.cost
    try:
        passwords.use_password_hash_cost(1, 1024)
        cheap = await passwords.hash_password("correct-horse-battery")
        assert "$m=1024,t=1," in cheap
        passwords.use_password_hash_cost(2, 2048)
        dearer = await passwords.hash_password("correct-horse-battery")
        assert "$m=2048,t=2," in dearer
        for stored in (cheap, dearer):
            assert await passwords.verify_password(stored, "correct-horse-battery")
        # An unknown email costs what a real account does: the dummy is made at the cost.
        assert not await passwords.verify_password(None, "correct-horse-battery")
        assert "$m=2048,t=2," in passwords._argon2.dummy_hash()
    finally:
        passwords.use_password_hash_cost(*before)
