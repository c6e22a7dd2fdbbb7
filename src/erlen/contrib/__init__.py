"""First-party integrations, each behind an optional extra.

* :mod:`erlen.contrib.auth` -- login sessions, remember-me, bearer tokens, ``login_required``.
* :mod:`erlen.contrib.passwords` -- password hashing (argon2id with ``erlen[auth]``, else scrypt).
* :mod:`erlen.contrib.csrf` -- CSRF protection for forms.
* :mod:`erlen.contrib.ratelimit` -- rate limits in memory or Redis (``erlen[redis]``).
* :mod:`erlen.contrib.caching` -- view and function caching in memory or Redis (``erlen[redis]``).
* :mod:`erlen.contrib.sqlalchemy` -- SQLAlchemy 2.x (``pip install erlen[sqlalchemy]``).
* :mod:`erlen.contrib.redis_session` -- server-side sessions in Redis (``erlen[redis]``).
* :mod:`erlen.contrib.redis_hub` -- a WebSocket/SSE hub shared by processes through Redis (``erlen[redis]``).
* :mod:`erlen.contrib.celery` -- background tasks on Celery, in an app context (``erlen[celery]``).

They use Erlen's public API only, as a third-party extension would (the linter checks it).
This module holds what several of them share: one client per event loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    """Hold one object per event loop, made by ``factory`` on first use on that loop.

    Async database and Redis clients are bound to the loop their connections were
    opened on. Under ASGI every request shares the server's loop; under WSGI each
    worker thread runs async views on its own persistent loop. One client per loop
    is correct in both cases, and its pool is reused across requests.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._objects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self) -> T:
        """Return the object for the running loop (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        obj = self._objects.get(loop)
        if obj is None:
            with self._lock:
                obj = self._objects.get(loop)
                if obj is None:
                    obj = self._objects[loop] = self._factory()
        return obj

    def peek(self) -> T | None:
        """Return the running loop's object if it was made, without making it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self._objects.get(loop)

    def items(self) -> Iterator[tuple[asyncio.AbstractEventLoop, T]]:
        """Iterate over ``(loop, object)`` pairs that are still alive."""
        with self._lock:
            return iter(list(self._objects.items()))

    def discard(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget the object made for ``loop``."""
        with self._lock:
            self._objects.pop(loop, None)


_closing: set[asyncio.Task[Any]] = set()


def close_per_loop(objects: LoopLocal[T], close: Callable[[T], Coroutine[Any, Any, Any]]) -> None:
    """Close every object of ``objects`` whose loop can still run a coroutine.

    Idle loops run ``close(obj)`` to completion; on a loop that is running (this
    one, or another thread's) it is scheduled instead; closed loops are dropped.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, obj in objects.items():
        objects.discard(loop)
        if loop.is_closed():
            continue
        if loop is running:
            task = loop.create_task(close(obj))
            _closing.add(task)
            task.add_done_callback(_closing.discard)
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(close(obj), loop)
        else:
            loop.run_until_complete(close(obj))


__all__ = ["LoopLocal", "close_per_loop"]
