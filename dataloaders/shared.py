"""Reads shared across requests for one published event.

When an event fans out to thousands of subscribers in one process, each would otherwise load the
same order row for its `order { ... }` selection. Rows here are keyed by the event's number, so a
row is read once per event per process and never served for a later event (which must show the
object as it is then). Only the object's own row is shared: nested fields go through each
subscriber's own loaders, and every subscriber's authorization is checked before it reads.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

# Enough for the events in flight at once; older entries are dropped first.
MAX_EVENTS = 512


class EventReads:
    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._max = max_events
        self._reads: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        """`read()`'s result for `key`: the first caller reads, the others wait for it."""
        future = self._reads.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._reads[key] = future
            if len(self._reads) > self._max:
                self._reads.popitem(last=False)
            try:
                future.set_result(await read())
            except BaseException as error:
                # A failed read is not remembered: the next subscriber tries again.
                self._reads.pop(key, None)
                future.set_exception(error)
                future.exception()  # retrieved here, so an unawaited failure is not logged
                raise
        return await asyncio.shield(future)
