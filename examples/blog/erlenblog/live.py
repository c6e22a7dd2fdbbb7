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
from erlen.hub import BaseHub, Hub

EXTENSION = "erlenblog.live"


class RedisHub(BaseHub):
    """A hub whose rooms are Redis channels, so that every worker process gets every message."""

    def __init__(self, url: str, prefix: str = "erlenblog:room:", **options: Any) -> None:
        super().__init__(**options)
        import redis.asyncio as redis

        self.url = url
        self.prefix = prefix
        self._redis = redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, room: str, message: Any) -> int:
        """Send ``message`` to the members of ``room`` in every process."""
        return int(await self._redis.publish(self.prefix + room, json.dumps(message)))

    async def room_opened(self, room: str) -> None:
        await self._pubsub.subscribe(self.prefix + room)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.ensure_future(self._listen())

    async def room_closed(self, room: str) -> None:
        await self._pubsub.unsubscribe(self.prefix + room)

    async def _listen(self) -> None:
        while True:
            item = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is None:
                if not self._pubsub.subscribed:
                    return  # no room left: the next room_opened starts a new listener
                continue
            channel = item["channel"].decode()
            self.deliver(channel[len(self.prefix) :], json.loads(item["data"]))


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

    def __init__(self, url: str, size: int, key: str = "erlenblog:chat:history") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._size = size
        self._key = key

    async def add(self, message: dict[str, Any]) -> None:
        await self._redis.rpush(self._key, json.dumps(message))
        await self._redis.ltrim(self._key, -self._size, -1)

    async def recent(self) -> list[dict[str, Any]]:
        return [json.loads(item) for item in await self._redis.lrange(self._key, 0, -1)]


class Live:
    """What the real-time blueprints share: the hub and the chat history."""

    def __init__(self, app: Erlen) -> None:
        url = app.config.get("REDIS_URL")
        size = int(app.config["CHAT_HISTORY"])
        self.hub: BaseHub
        self.history: MemoryHistory | RedisHistory
        if url:
            self.hub = RedisHub(url)
            self.history = RedisHistory(url, size)
        else:
            self.hub = Hub()
            self.history = MemoryHistory(size)


def init_app(app: Erlen) -> None:
    """Give ``app`` its own hub (a hub serves the event loop it was first used on)."""
    app.extensions[EXTENSION] = Live(app)


def live() -> Live:
    """The current app's :class:`Live`."""
    state: Live = current_app.extensions[EXTENSION]
    return state


def publish_from_sync(room: str, message: Any) -> None:
    """Publish from a sync view: on the server's loop under ASGI, on the thread's under WSGI."""
    run_coroutine_sync(live().hub.publish(room, message))
