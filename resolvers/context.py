"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth.login_throttle import SignInThrottle, WindowThrottle
from auth.tokens import TokenConfig
from auth.viewer import Viewer
from dataloaders import Loaders
from dataloaders.shared import EventReads
from settings import Settings

if TYPE_CHECKING:
    # Type only: the gateway builds the limiter and reads it; resolvers never touch it.
    from gateway.rate_limit import RateLimiter
    from realtime.broadcast import EventBroadcast


async def _no_catalog_cache() -> None:
    return None


@dataclass
class Services:
    """Built once per process at start-up and shared by every request."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tokens: TokenConfig
    login_throttle: SignInThrottle
    registration_throttle: WindowThrottle
    redis: Redis | None
    # Whether PostgreSQL has pg_trgm here (fuzzy name match); probed at start-up.
    has_trigram_search: bool = False
    # Called after a transaction that wrote outbox events commits: wakes the relay, which
    # publishes them (set by the app at start-up; a relay's sweep finds them regardless).
    on_events_committed: Callable[[], None] = lambda: None
    # Awaited after a commit that changed what the public catalog shows (products, variants,
    # tiers, stock, prices, exchange rates, sellers): makes every cached catalog answer
    # unreachable, on every replica (set by the app: gateway/response_cache.py).
    on_catalog_changed: Callable[[], Awaitable[None]] = _no_catalog_cache
    # Subscriptions: the broker (set by the app at start-up) and reads shared per event.
    broadcast: EventBroadcast | None = None
    event_reads: EventReads = field(default_factory=EventReads)
    # The query-cost buckets (gateway/rate_limit.py); None when RATE_LIMIT_CAPACITY is 0.
    rate_limiter: RateLimiter | None = None


@dataclass
class Context:
    services: Services
    viewer: Viewer
    loaders: Loaders
    request_id: str
    request: Any = None
    is_websocket: bool = False
    # The payload of a WebSocket's connection_init (Strawberry sets it).
    connection_params: Any = None

    def forget_reads(self) -> None:
        """After a write: the loaders' caches may hold rows from before it, so start afresh
        (a mutation payload must show the object as it is now)."""
        self.loaders = Loaders(self.services.engine)

    @property
    def engine(self) -> AsyncEngine:
        return self.services.engine

    @property
    def settings(self) -> Settings:
        return self.services.settings
