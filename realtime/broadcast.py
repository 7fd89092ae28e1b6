"""Fan-out of real-time events between gateway replicas: broadcaster's `Broadcast` API on our own
Redis pub/sub backend, with bounded per-subscriber queues.

Why not broadcaster's own pieces (see DESIGN.md, "Known traps"): its Redis backend receives nothing
with redis-py 8 (ready before the SUBSCRIBE completes), its listener dies silently when Redis
restarts, and its per-subscriber queues are unbounded.

The contract, for the subscription resolvers:

- `async with broadcast.subscribe(channel) as subscriber` returns once Redis has confirmed the
  subscription, so an event published after that is delivered. When Redis is away it returns at
  once instead, and a `Resync` follows when the channel is live again. Either way: every event
  published after `subscribe()` returns is delivered, or followed by a `Resync`.
- `Resync` (an `Event` subclass, message "") means "you may have missed events on this channel":
  replay from the outbox (`since` the last eventId seen), then carry on.
- `SubscriberTooSlow` is raised by `get()` (and so by `async for`) when a subscriber fell more than
  `queue_size` events behind; the caller closes that client, which can resume with `since`.
- `BrokerUnavailable` is raised by `publish()` when Redis does not answer quickly; the outbox
  relay retries later.
- `status()` is "ok" or "reconnecting: <why>", for /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

from broadcaster import Broadcast, BroadcastBackend, Event
from broadcaster._backends.memory import MemoryBackend
from broadcaster._base import Subscriber, Unsubscribed
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "BoundedSubscriber",
    "BrokerUnavailable",
    "EventBroadcast",
    "RedisPubSubBackend",
    "Resync",
    "SubscriberTooSlow",
    "Unsubscribed",
    "create_broadcast",
]

logger = logging.getLogger(__name__)

# What a failing Redis socket raises, through redis-py or straight from asyncio.
_BROKER_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)


class BrokerUnavailable(Exception):
    """Redis did not take the message (down, unreachable or too slow): retry later."""


class SubscriberTooSlow(Exception):
    """The subscriber fell more than `queue_size` events behind and was cut off."""


class Resync(Event):
    """Marker on a channel: events may have been missed (Redis was away); replay from the store."""

    def __init__(self, channel: str) -> None:
        super().__init__(channel=channel, message="")

    def __eq__(self, other: object) -> bool:
        # Event equality compares channel and message only: a plain Event("x", "") is no Resync.
        return isinstance(other, Resync) and other.channel == self.channel

    def __repr__(self) -> str:
        return f"Resync(channel={self.channel!r})"


@dataclass(slots=True)
class _Sent:
    """A SUBSCRIBE or UNSUBSCRIBE awaiting its reply; Redis answers them in order per channel."""

    kind: str
    confirmed: asyncio.Future[bool] | None = None
    resync: bool = False


class RedisPubSubBackend(BroadcastBackend):
    """Redis pub/sub for broadcaster: subscribe-then-ready, reconnect and resubscribe, resync.

    One reader task owns the subscriber connection. Publishing uses a separate small pool with
    short timeouts, so a dead Redis fails a publish fast instead of hanging the caller.
    """

    def __init__(
        self,
        url: str,
        key_prefix: str,
        *,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        health_check_interval: float = 5.0,
        connect_timeout: float = 1.0,
        confirm_timeout: float = 5.0,
        publish_timeout: float = 0.5,
        backlog: int = 1000,
    ) -> None:
        # BroadcastBackend.__init__ only raises NotImplementedError: not called.
        self._prefix = key_prefix
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._health_check_interval = health_check_interval
        self._connect_timeout = connect_timeout
        self._confirm_timeout = confirm_timeout
        self._publish_timeout = publish_timeout
        # No retries inside redis-py: the reader has its own backoff, and publish must fail fast.
        self._pool = ConnectionPool.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        # One retry: the first command after a Redis restart meets a stale pooled connection.
        self._publisher = Redis.from_url(
            url,
            socket_connect_timeout=publish_timeout / 2,
            socket_timeout=publish_timeout / 2,
            retry=Retry(NoBackoff(), 1),
        )
        self._channels: set[str] = set()  # wanted by our subscribers (un-prefixed)
        self._sent: dict[str, deque[_Sent]] = {}  # per channel, on the current connection
        self._conn: AbstractConnection | None = None  # set only while the reader is listening
        self._resubscribing = 0  # replies still due for the resubscribe after a (re)connect
        self._error = "not connected"
        self._down_since: float | None = None
        # Reset only once fully resubscribed, so a connection that always fails right after
        # the handshake (e.g. an ACL refusing SUBSCRIBE) still backs off.
        self._failures = 0
        # Bounded: if the listener ever lags, the reader stops reading and Redis buffers for us.
        self._events: asyncio.Queue[Event] = asyncio.Queue(maxsize=backlog)
        self._reader: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        # Called when Redis is back after an outage (the outbox relay retries its publishes).
        self.on_reconnected: Callable[[], None] = lambda: None

    # -- status ----------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Connected, and every wanted channel is subscribed in Redis."""
        return self._conn is not None and self._resubscribing == 0

    def status(self) -> str:
        """Return "ok", or "reconnecting: <why>" (for /readyz)."""
        if self.healthy:
            return "ok"
        if self._reader is None:
            return "not connected"
        if self._conn is not None:
            return f"reconnecting: resubscribing {self._resubscribing} channels"
        return f"reconnecting: {self._error}"

    # -- BroadcastBackend --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the reader and wait (briefly) for its first connection attempt.

        Redis being away is not fatal: the reader keeps retrying and `status()` says why.
        """
        if self._reader is not None:
            raise RuntimeError("RedisPubSubBackend is already connected")
        self._first_attempt = asyncio.Event()
        self._reader = asyncio.create_task(self._read_forever(), name="redis-pubsub-reader")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._connect_timeout * 3):
                await self._first_attempt.wait()
        if not self.healthy:
            logger.warning("Redis pub/sub not available yet (%s); retrying", self.status())

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await _cancel_and_wait(reader)
        self._forget_connection("disconnected")
        await self._publisher.aclose()
        await self._pool.disconnect()

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the subscription; at once (unconfirmed) when Redis is
        away, in which case the reader subscribes on reconnection and sends `Resync(channel)`."""
        if self._reader is None:
            raise RuntimeError("connect() the backend before subscribing")
        self._channels.add(channel)
        conn = self._conn
        if conn is None:
            return
        confirmed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._sent.setdefault(channel, deque()).append(_Sent("subscribe", confirmed))
        with contextlib.suppress(*_BROKER_ERRORS):
            # On failure the reader sees the connection drop, releases `confirmed` and
            # resubscribes the channel (with a Resync) on the next connection.
            await self._send(conn, "SUBSCRIBE", self._prefix + channel)
        try:
            async with asyncio.timeout(self._confirm_timeout):
                await confirmed
        except TimeoutError:
            # Redis and we disagree about this connection: start afresh, which resubscribes
            # everything (this channel included) and sends the Resync.
            logger.warning("Redis did not confirm SUBSCRIBE %r: reconnecting", channel)
            await self._abandon(conn)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        conn = self._conn
        if conn is None:
            return  # the next connection only subscribes what is wanted then
        self._sent.setdefault(channel, deque()).append(_Sent("unsubscribe"))
        with contextlib.suppress(*_BROKER_ERRORS):
            await self._send(conn, "UNSUBSCRIBE", self._prefix + channel)

    async def publish(self, channel: str, message: Any) -> None:
        """Publish `message` (a str) on `channel`; `BrokerUnavailable` within ~publish_timeout."""
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._publisher.publish(self._prefix + channel, message)
        except _BROKER_ERRORS as error:
            raise BrokerUnavailable(
                f"Redis did not take the publish: {_describe(error)}"
            ) from error

    async def next_published(self) -> Event:
        """The next message, or a `Resync(channel)` once a channel is live again after an outage."""
        return await self._events.get()

    # -- the reader ----------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        while True:
            conn = self._pool.make_connection()
            try:
                await conn.connect()
                await self._listen(conn)  # returns only by raising
            except Exception as error:  # CancelledError (shutdown) is not an Exception
                if self._conn is not None:
                    logger.warning(
                        "Redis pub/sub connection lost (%s); reconnecting", _describe(error)
                    )
                elif self._down_since is None:
                    logger.warning("Redis pub/sub cannot connect (%s); retrying", _describe(error))
                else:
                    logger.debug("Redis pub/sub reconnect failed: %s", _describe(error))
                self._forget_connection(_describe(error))
                self._failures += 1
            finally:
                self._conn = None
                self._first_attempt.set()
                await conn.disconnect(nowait=True)
            await asyncio.sleep(self._backoff())

    def _backoff(self) -> float:
        exponent = max(self._failures - 1, 0)
        delay = min(self._backoff_max, self._backoff_initial * 2 ** min(exponent, 30))
        # Jitter, so replicas do not reconnect in lockstep after a Redis restart.
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (not for security)

    async def _listen(self, conn: AbstractConnection) -> None:
        # Snapshot and go live with no await in between: a concurrent subscribe() either lands in
        # the snapshot or sees the live connection and sends its own SUBSCRIBE.
        wanted = sorted(self._channels)
        self._sent = {channel: deque([_Sent("subscribe", resync=True)]) for channel in wanted}
        self._resubscribing = len(wanted)
        self._conn = conn
        if wanted:
            # Any channel in the snapshot was subscribed unconfirmed or on a lost connection:
            # each gets a Resync when Redis confirms it again.
            await conn.send_command(
                "SUBSCRIBE", *(self._prefix + channel for channel in wanted), check_health=False
            )
        else:
            self._mark_up()
        self._first_attempt.set()
        loop = asyncio.get_running_loop()
        ping_sent = False
        while True:
            started = loop.time()
            # push_request: redis-py 8 speaks RESP3, where pub/sub messages are "push" frames that
            # it would otherwise hand to a logging-only handler (the stock backend's trap).
            response = await conn.read_response(
                timeout=self._health_check_interval, disconnect_on_error=False, push_request=True
            )
            if response is None:
                if loop.time() - started < self._health_check_interval / 2:
                    continue  # a push redis-py handled itself (e.g. maintenance), not silence
                if ping_sent:  # silent for two intervals: the connection is dead
                    raise RedisTimeoutError(
                        f"no answer to PING within {self._health_check_interval}s"
                    )
                await conn.send_command("PING", check_health=False)
                ping_sent = True
                continue
            ping_sent = False
            await self._handle(response)

    async def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # PONG (a plain reply in RESP3, or outside subscribed mode in RESP2)
        kind = _text(response[0])
        if kind == "pong":
            return
        wire_channel = _text(response[1])
        if not wire_channel.startswith(self._prefix):
            return
        channel = wire_channel[len(self._prefix) :]
        if kind == "message":
            # Dropped if unsubscribed meanwhile (the UNSUBSCRIBE reply may still be on its way).
            if channel in self._channels:
                await self._events.put(Event(channel=channel, message=_text(response[2])))
        elif kind in ("subscribe", "unsubscribe"):
            await self._on_reply(kind, channel)

    async def _on_reply(self, kind: str, channel: str) -> None:
        sent = self._sent.get(channel)
        if not sent:
            logger.debug("unexpected %s reply for %r", kind, channel)
            return
        command = sent.popleft()
        if not sent:
            del self._sent[channel]
        if command.kind != kind:
            logger.warning(
                "out-of-order %s reply for %r (expected %s)", kind, channel, command.kind
            )
        if command.confirmed is not None and not command.confirmed.done():
            command.confirmed.set_result(True)
        if command.resync:
            self._resubscribing -= 1
            if self._resubscribing == 0:
                self._mark_up()
            if channel in self._channels:
                await self._events.put(Resync(channel))

    def _mark_up(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Redis pub/sub reconnected after %.2fs; %d channels resubscribed",
                time.monotonic() - self._down_since,
                len(self._channels),
            )
            self.on_reconnected()
        self._down_since = None
        self._failures = 0
        self._error = ""

    def _forget_connection(self, error: str) -> None:
        """The connection is gone: release subscribe() waiters (their channels stay wanted)."""
        self._conn = None
        self._resubscribing = 0
        self._error = error
        if self._down_since is None:
            self._down_since = time.monotonic()
        for sent in self._sent.values():
            for command in sent:
                if command.confirmed is not None and not command.confirmed.done():
                    command.confirmed.set_result(False)
        self._sent = {}

    async def _abandon(self, conn: AbstractConnection) -> None:
        """Close `conn` under the reader, which then reconnects as after any connection loss."""
        if conn is self._conn:
            await conn.disconnect(nowait=True)

    async def _send(self, conn: AbstractConnection, *args: str) -> None:
        # Shielded: a caller cancelled mid-write would make redis-py drop the connection (and
        # resync every subscriber).
        await asyncio.shield(self._send_if_current(conn, *args))

    async def _send_if_current(self, conn: AbstractConnection, *args: str) -> None:
        # Checked right before writing, with no await in between: redis-py would silently
        # reopen a connection the reader already dropped, and nobody would read it.
        if conn is not self._conn or not conn.is_connected:
            raise RedisConnectionError("pub/sub connection replaced")
        await conn.send_command(*args, check_health=False)


class BoundedSubscriber(Subscriber):
    """One subscriber's mailbox: at most `queue_size` events, never blocking the listener."""

    def __init__(self, channel: str, queue_size: int) -> None:
        # None wakes the reader: unsubscribed, or overflowed when `_overflowed` is set.
        super().__init__(asyncio.Queue(maxsize=queue_size))
        self.channel = channel
        self._queue_size = queue_size
        self._overflowed = False
        self._closed = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    @property
    def pending(self) -> int:
        """Events waiting to be read (never more than `queue_size`)."""
        return self._queue.qsize()

    def offer(self, event: Event) -> None:
        """Queue `event` without waiting; a full queue cuts this subscriber off instead."""
        if self._overflowed or self._closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed = True
            logger.warning(
                "subscriber on %r is more than %d events behind: cut off",
                self.channel,
                self._queue_size,
            )
            self._wake_reader()

    def close(self) -> None:
        """End the stream: a waiting or later `get()` raises `Unsubscribed`."""
        if not self._closed:
            self._closed = True
            self._wake_reader()

    async def get(self) -> Event:
        """The next event; raises `SubscriberTooSlow` after an overflow, `Unsubscribed` once
        closed."""
        if not self._overflowed and not self._closed:
            event = await self._queue.get()
            if event is not None:
                return event
        if self._overflowed:
            raise SubscriberTooSlow(
                f"subscriber on {self.channel!r} fell more than {self._queue_size} events behind"
            )
        raise Unsubscribed()

    async def __aiter__(self) -> AsyncGenerator[Event, None]:
        try:
            while True:
                yield await self.get()
        except Unsubscribed:
            return

    def _wake_reader(self) -> None:
        # Drop what is queued (frees the memory now) and leave the None marker for the reader.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class EventBroadcast(Broadcast):
    """broadcaster's `Broadcast` with bounded subscribers, a listener that does not die, resync
    markers passed through, and `status()`."""

    def __init__(self, backend: BroadcastBackend, *, queue_size: int = 100) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        super().__init__(backend=backend)
        self.queue_size = queue_size
        self._streams: dict[str, set[BoundedSubscriber]] = {}
        # One backend subscribe per channel, shared by the subscribers that arrive meanwhile.
        self._subscribing: dict[str, asyncio.Task[None]] = {}
        self._listener_job: asyncio.Task[None] | None = None

    @property
    def backend(self) -> BroadcastBackend:
        return self._backend

    @property
    def healthy(self) -> bool:
        return self.status() == "ok"

    def status(self) -> str:
        """Return "ok", or the backend's reason ("reconnecting: ConnectionError: ...")."""
        if isinstance(self._backend, RedisPubSubBackend):
            return self._backend.status()
        return "ok"

    def when_reconnected(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the broker is back after an outage (never for memory)."""
        if isinstance(self._backend, RedisPubSubBackend):
            self._backend.on_reconnected = callback

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def connect(self) -> None:
        await self._backend.connect()
        self._listener_job = asyncio.create_task(self._listener(), name="broadcast-listener")

    async def disconnect(self) -> None:
        job, self._listener_job = self._listener_job, None
        if job is not None:
            await _cancel_and_wait(job)
        pending = list(self._subscribing.values())
        self._subscribing.clear()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Open `async for` loops end; their `subscribe()` blocks clean up as they exit.
        for subscribers in self._streams.values():
            for subscriber in subscribers:
                subscriber.close()
        await self._backend.disconnect()

    def subscriber_count(self, channel: str) -> int:
        """How many subscribers of this process follow `channel` now."""
        return len(self._streams.get(channel, ()))

    async def publish(self, channel: str, message: Any) -> None:
        """Publish `message` (a str); `BrokerUnavailable` when Redis does not take it."""
        await self._backend.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BoundedSubscriber]:
        subscriber = BoundedSubscriber(channel, self.queue_size)
        # Registered before Redis confirms, so an event right after the confirmation finds it.
        self._streams.setdefault(channel, set()).add(subscriber)
        try:
            await self._channel_ready(channel)
            yield subscriber
        finally:
            subscriber.close()
            subscribers = self._streams.get(channel)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._streams[channel]
                    await self._release_channel(channel)

    async def _channel_ready(self, channel: str) -> None:
        task = self._subscribing.get(channel)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._backend.subscribe(channel))
            self._subscribing[channel] = task
        # Shielded: one subscriber giving up must not cancel the subscribe others wait on.
        await asyncio.shield(task)

    async def _release_channel(self, channel: str) -> None:
        task = self._subscribing.pop(channel, None)
        if task is not None and not task.done():
            task.cancel()
        try:
            await self._backend.unsubscribe(channel)
        except Exception as error:  # e.g. MemoryBackend when its subscribe never ran
            logger.warning("unsubscribe from %r failed: %s", channel, _describe(error))

    async def _listener(self) -> None:
        while True:
            try:
                event = await self._backend.next_published()
                for subscriber in tuple(self._streams.get(event.channel, ())):
                    subscriber.offer(event)
            except Exception:  # cancellation (a BaseException) still stops the listener
                logger.exception("broadcast listener: unexpected error; continuing")
                await asyncio.sleep(0.1)  # no hot loop if the backend keeps failing
            # Let consumers run between events, so a burst does not fill their queues at once.
            await asyncio.sleep(0)


def create_broadcast(
    redis_url: str | None, key_prefix: str, queue_size: int = 100
) -> EventBroadcast:
    """Redis pub/sub between replicas, or in-process only when `redis_url` is None."""
    backend: BroadcastBackend = (
        RedisPubSubBackend(redis_url, key_prefix) if redis_url else MemoryBackend("memory://")
    )
    return EventBroadcast(backend, queue_size=queue_size)


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it, without swallowing a cancellation of our own caller."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _describe(error: BaseException) -> str:
    # redis-py 8's exceptions have a terse repr ("network:ConnectionError"): name and message.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
