"""Observe every SQL statement sent through an engine, whichever path sent it: SQLAlchemy's
(its cursor event) or the loaders' compiled reads straight on asyncpg (which report here).
For the N+1 tests and the benchmarks; costs one dict lookup a read when nobody observes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Called with (sql, arguments) of one statement.
StatementObserver = Callable[[str, tuple[Any, ...]], None]

_driver_observers: dict[int, list[StatementObserver]] = {}


def observe_statements(engine: AsyncEngine, observer: StatementObserver) -> None:
    """Call `observer` for each statement run through `engine` from now on."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def on_cursor(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        observer(statement, tuple(parameters or ()))

    _driver_observers.setdefault(id(engine.sync_engine), []).append(observer)


def report_driver_statement(engine: AsyncEngine, sql: str, arguments: tuple[Any, ...]) -> None:
    """Reads that bypass SQLAlchemy's execution call this so observers still see them."""
    for observer in _driver_observers.get(id(engine.sync_engine), ()):
        observer(sql, arguments)
