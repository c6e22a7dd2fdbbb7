"""Notifications: a server-sent event stream that announces every new post to every open page.

Each event carries the hub's id, so a browser that lost the connection (a worker restarted,
the laptop slept) sends ``Last-Event-ID`` when it reconnects, at whichever worker, and gets
the posts announced meanwhile before the live ones; one that was away longer than the hub's
history gets a ``reset`` event instead.
"""

from __future__ import annotations

from erlen import Blueprint, Response, request

from .live import live

bp = Blueprint("notify", __name__, url_prefix="/notifications")

ROOM = "posts"


@bp.route("/stream")
async def stream() -> Response:
    """Stream ``post`` events; ``ready`` says the stream is live (after any replay)."""
    if request.scope is None:
        # Under WSGI an open stream holds a worker thread for as long as the tab stays
        # open: a single browser could take a sync worker away from everyone. 204 tells
        # EventSource not to reconnect; the pages work without live notifications.
        return Response(status=204)
    # A client that falls behind is disconnected; its browser reconnects and catches up.
    return live().hub.event_stream(ROOM, event="post", retry=3000)
