"""The app's hub: one per app, in memory, or shared between processes through Redis.

Chat messages and "new post" notifications go through it. With ``REDIS_URL`` set (and the
``redis`` package installed) it is Erlen's :class:`~erlen.contrib.redis_hub.RedisHub`, and
every worker process sees every message; without it, an in-memory :class:`~erlen.hub.Hub`
broadcasts to this process's clients only, which is all that one ``erlen run`` needs.
Either way each room keeps a history (``HUB_HISTORY`` events): the chat's recent messages
come from it, and a notification stream that reconnects replays what it missed.
"""

from __future__ import annotations

from typing import Any

from erlen import Erlen, current_app
from erlen.hub import BaseHub, Hub

EXTENSION = "erlenblog.live"


class Live:
    """What the real-time blueprints share: the hub."""

    def __init__(self, app: Erlen) -> None:
        url = app.config.get("REDIS_URL")
        # The chat room also carries "joined"/"left" events: keep room for them too.
        history = max(int(app.config["HUB_HISTORY"]), 4 * int(app.config["CHAT_HISTORY"]))
        self.hub: BaseHub
        if url:
            from erlen.contrib.redis_hub import RedisHub

            prefix = app.config["REDIS_PREFIX"] + "hub:"
            self.hub = RedisHub.from_url(url, prefix=prefix, history=history)
        else:
            self.hub = Hub(history=history)

    async def aclose(self) -> None:
        """Close the hub's Redis connections (at server shutdown)."""
        await self.hub.aclose()

    def close(self) -> None:
        """Close the hub's Redis connections of every loop (from sync code: scripts, tests)."""
        self.hub.close()


def init_app(app: Erlen) -> None:
    """Give ``app`` its own hub (several apps in one process, as in tests, stay apart)."""
    state = app.extensions[EXTENSION] = Live(app)
    app.after_serving(state.aclose)


def live() -> Live:
    """The current app's :class:`Live`."""
    state: Live = current_app.extensions[EXTENSION]
    return state


def publish_from_sync(room: str, message: Any) -> None:
    """Publish from a sync view or task, on either door.

    While Redis is unreachable this raises :class:`~erlen.hub.HubUnavailable`: a request
    gets a 503 (an announcement is never lost silently), a Celery task can retry.
    """
    live().hub.publish_sync(room, message)
