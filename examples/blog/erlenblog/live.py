"""The app's hub: one per app, in memory, or shared between processes through Redis.

Chat messages and "new post" notifications go through it. With ``REDIS_URL`` set (and the
``redis`` package installed) every worker process sees every message; without it, each
process broadcasts to its own clients only, which is all that one ``erlen run`` needs.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from erlen import Erlen, current_app
from erlen.concurrency import run_coroutine_sync
from erlen.contrib import LoopLocal, close_per_loop
from erlen.hub import BaseHub, Hub

EXTENSION = "erlenblog.live"


class RedisHub(BaseHub):
    """A hub whose rooms are Redis channels, so that every worker process gets every message.

    ``clients`` gives the Redis client of the running loop: an asyncio client belongs to
    the loop it connected on (the server's under ASGI; a sync view under WSGI publishes
    from its own thread's loop).
    """

    def __init__(self, clients: LoopLocal[Any], prefix: str, **options: Any) -> None:
        super().__init__(**options)
        self.prefix = prefix
        self._clients = clients
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, room: str, message: Any) -> int:
        """Send ``message`` to the members of ``room`` in every process."""
        client = self._clients.get()
        return int(await client.publish(self.prefix + room, json.dumps(message)))

    async def room_opened(self, room: str) -> None:
        # Subscribe on the loop the members live on, which is the one running now.
        if self._pubsub is None:
            self._pubsub = self._clients.get().pubsub()
        await self._pubsub.subscribe(self.prefix + room)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.ensure_future(self._listen(self._pubsub))

    async def room_closed(self, room: str) -> None:
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(self.prefix + room)

    async def _listen(self, pubsub: Any) -> None:
        while pubsub.subscribed:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None:
                room = item["channel"].decode()[len(self.prefix) :]
                self.deliver(room, json.loads(item["data"]))

    async def stop_listening(self) -> None:
        """Stop the subscription if it runs on this loop (before its client is closed)."""
        listener = self._listener
        if listener is None or listener.get_loop() is not asyncio.get_running_loop():
            return
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        self._listener = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None


class MemoryHistory:
    """The last few chat messages, kept in this process."""

    def __init__(self, size: int) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=size)

    async def add(self, message: dict[str, Any]) -> None:
        self._items.append(message)

    async def recent(self) -> list[dict[str, Any]]:
        return list(self._items)


class RedisHistory:
    """The last few chat messages, in a Redis list that every process shares."""

    def __init__(self, clients: LoopLocal[Any], size: int, key: str) -> None:
        self._clients = clients
        self._size = size
        self._key = key

    async def add(self, message: dict[str, Any]) -> None:
        client = self._clients.get()
        await client.rpush(self._key, json.dumps(message))
        await client.ltrim(self._key, -self._size, -1)

    async def recent(self) -> list[dict[str, Any]]:
        client = self._clients.get()
        return [json.loads(item) for item in await client.lrange(self._key, 0, -1)]


class Live:
    """What the real-time blueprints share: the hub and the chat history."""

    def __init__(self, app: Erlen) -> None:
        url = app.config.get("REDIS_URL")
        size = int(app.config["CHAT_HISTORY"])
        prefix = app.config["REDIS_PREFIX"]
        self.hub: BaseHub
        self.history: MemoryHistory | RedisHistory
        self.redis: LoopLocal[Any] | None = None
        if url:
            import redis.asyncio as redis

            self.redis = LoopLocal(lambda: redis.from_url(url))
            self.hub = RedisHub(self.redis, prefix + "room:")
            self.history = RedisHistory(self.redis, size, prefix + "chat-history")
        else:
            self.hub = Hub()
            self.history = MemoryHistory(size)

    async def _close_client(self, client: Any) -> None:
        if isinstance(self.hub, RedisHub):
            await self.hub.stop_listening()
        await client.aclose()

    async def aclose(self) -> None:
        """Close the Redis connections of the running loop (at server shutdown)."""
        client = None if self.redis is None else self.redis.peek()
        if client is not None:
            self.redis.discard(asyncio.get_running_loop())  # type: ignore[union-attr]
            await self._close_client(client)

    def close(self) -> None:
        """Close the Redis connections of every loop (from sync code: scripts, tests)."""
        if self.redis is not None:
            close_per_loop(self.redis, self._close_client)


def init_app(app: Erlen) -> None:
    """Give ``app`` its own hub (a hub serves the event loop it was first used on)."""
    state = app.extensions[EXTENSION] = Live(app)
    app.after_serving(state.aclose)


def live() -> Live:
    """The current app's :class:`Live`."""
    state: Live = current_app.extensions[EXTENSION]
    return state


def publish_from_sync(room: str, message: Any) -> None:
    """Publish from a sync view: on the server's loop under ASGI, on the thread's under WSGI."""
    run_coroutine_sync(live().hub.publish(room, message))
