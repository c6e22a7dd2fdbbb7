"""Notifications: a server-sent event stream that announces every new post to every open page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from erlen import Blueprint, Response, request, url_for
from erlen.hub import HubOverflow
from erlen.sse import EventSourceResponse, ServerSentEvent

from .live import live, publish_from_sync

bp = Blueprint("notify", __name__, url_prefix="/notifications")

ROOM = "posts"


@bp.route("/stream")
async def stream() -> Response:
    """Stream ``post`` events; the first event, ``ready``, says the subscription is in place."""
    if request.scope is None:
        # Under WSGI an open stream holds a worker thread for as long as the tab stays
        # open: a single browser could take a sync worker away from everyone. 204 tells
        # EventSource not to reconnect; the pages work without live notifications.
        return Response(status=204)
    hub = live().hub

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async with hub.subscribe(ROOM) as messages:
                yield ServerSentEvent("subscribed", event="ready", retry=3000)
                async for message in messages:
                    yield ServerSentEvent(message, event="post", id=message["id"])
        except HubOverflow:
            return  # fell behind: end the stream, and the browser reconnects

    return EventSourceResponse(events())


def announce(post: Any) -> None:
    """Tell every open page about a new post (call from a sync view, after the commit)."""
    message = {
        "id": post.id,
        "title": post.title,
        "author": post.author.username,
        "url": url_for("blog.detail", post_id=post.id),
    }
    publish_from_sync(ROOM, message)
