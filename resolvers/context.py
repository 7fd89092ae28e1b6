"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth.login_throttle import LoginThrottle
from auth.tokens import TokenConfig
from auth.viewer import Viewer
from dataloaders import Loaders
from dataloaders.shared import EventReads
from settings import Settings

if TYPE_CHECKING:
    from realtime.broadcast import EventBroadcast


@dataclass
class Services:
    """Built once per process at start-up and shared by every request."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tokens: TokenConfig
    login_throttle: LoginThrottle
    redis: Redis | None
    # Whether PostgreSQL has pg_trgm here (fuzzy name match); probed at start-up.
    has_trigram_search: bool = False
    # Called after a transaction that wrote outbox events commits: wakes the relay, which
    # publishes them (set by the app at start-up; a relay's sweep finds them regardless).
    on_events_committed: Callable[[], None] = lambda: None
    # Subscriptions: the broker (set by the app at start-up) and reads shared per event.
    broadcast: EventBroadcast | None = None
    event_reads: EventReads = field(default_factory=EventReads)


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

    def events_committed(self) -> None:
        """After a commit that wrote outbox events: have them published now."""
        self.services.on_events_committed()

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
