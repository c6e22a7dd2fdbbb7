"""``redis.asyncio`` clients for the batteries: one per event loop, closed at shutdown.

Sessions, the cache and the rate limiter talk to Redis through the sync client from
sync code and through these from async code (an ``async def`` view on the event loop),
so that a Redis round trip never blocks the loop. A ``redis.asyncio`` client is bound to
the loop its connections were opened on, hence one per loop (:class:`LoopLocal`).

They are closed when the app's ASGI server shuts down (``after_serving``, on the
server's loop) and, for loops still idle at interpreter exit (the WSGI door's per-thread
loops), by an ``atexit`` hook; :meth:`AsyncRedisClients.aclose` closes them by hand.
"""

from __future__ import annotations

import asyncio
import atexit
import weakref
from typing import TYPE_CHECKING, Any

from . import LoopLocal, close_per_loop

if TYPE_CHECKING:
    import redis.asyncio

    from ..app import Erlen


class AsyncRedisClients:
    """Make ``redis.asyncio.Redis.from_url(url, **options)`` once per event loop."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self._clients: LoopLocal[redis.asyncio.Redis] = LoopLocal(self._make)
        self._apps: weakref.WeakSet[Erlen] = weakref.WeakSet()
        _all.add(self)

    def _make(self) -> redis.asyncio.Redis:
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.url, **self.options)

    def get(self, app: Erlen | None = None) -> redis.asyncio.Redis:
        """Return the running loop's client; ``app`` closes it when its ASGI server stops."""
        if app is not None and app not in self._apps:
            self._apps.add(app)
            app.after_serving(self.aclose)
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the running loop's client now; those of loops running elsewhere on them.

        A client whose loop is idle (a WSGI worker thread's) is left to :meth:`close`
        or the exit hook: this thread cannot run a second loop while this one runs.
        """
        running = asyncio.get_running_loop()
        for loop, client in self._clients.items():
            if loop is running:
                self._clients.discard(loop)
                await client.aclose()
            elif loop.is_closed():
                self._clients.discard(loop)
            elif loop.is_running():
                self._clients.discard(loop)
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)

    def close(self) -> None:
        """Close the clients of loops that can still run (see :func:`close_per_loop`)."""
        close_per_loop(self._clients, lambda client: client.aclose())


_all: weakref.WeakSet[AsyncRedisClients] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close pooled connections while their loops still exist (runs before they close)."""
    for clients in list(_all):
        clients.close()
