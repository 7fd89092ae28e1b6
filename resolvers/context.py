"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth.login_throttle import LoginThrottle
from auth.tokens import TokenConfig
from auth.viewer import Viewer
from dataloaders import Loaders
from settings import Settings


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
