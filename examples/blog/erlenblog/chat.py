"""Live chat: a page, and a WebSocket that joins the logged-in user to the chat room."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from erlen import Blueprint, current_app, render_template, request
from erlen.contrib.auth import aload_current_user, login_required
from erlen.websocket import websocket

from .extensions import db
from .live import live

bp = Blueprint("chat", __name__)

ROOM = "chat"


@bp.route("/chat")
@login_required
def room() -> str:
    """Show the chat page; its script connects to :func:`socket`."""
    return render_template(
        "chat/room.html",
        max_length=current_app.config["CHAT_MAX_LENGTH"],
        asgi=request.scope is not None,
    )


def _same_origin() -> bool:
    # Browsers send cookies with a cross-site WebSocket handshake: check where it came from.
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


async def recent_messages(limit: int) -> list[dict[str, Any]]:
    """The room's last ``limit`` chat messages, from the hub's history (presence left out)."""
    # Presence events ("joined", "left") are in the history too: look a little further back.
    events = await live().hub.history(ROOM, limit=4 * limit)
    messages = [e.data for e in events if e.data.get("type") == "message"]
    return messages[-limit:] if limit > 0 else []


@bp.websocket("/ws/chat")
async def socket() -> Any:
    """Relay the user's messages to everyone in the room, and theirs to the user."""
    if not _same_origin():
        return "Cross-site WebSocket refused.", 403
    user = await aload_current_user()  # from the session cookie of the handshake
    if not user.is_authenticated:
        return "Log in to chat.", 403
    name = user.username
    # The connection may stay open for hours: give the database connection back now.
    db.session.remove()
    state = live()
    limit = current_app.config["CHAT_MAX_LENGTH"]

    await websocket.accept()
    await state.hub.join(ROOM, websocket)
    # Sent after joining, so nothing said in between is lost; what others say may reach
    # the client first (the page merges the history by message id).
    await websocket.send_json(
        {
            "type": "welcome",
            "user": name,
            "online": state.hub.members(ROOM),
            "history": await recent_messages(limit=current_app.config["CHAT_HISTORY"]),
        }
    )
    await state.hub.publish(
        ROOM, {"type": "joined", "user": name, "online": state.hub.members(ROOM)}
    )
    try:
        async for data in websocket:
            text = (data if isinstance(data, str) else data.decode("utf-8", "replace")).strip()
            if not text:
                continue
            message = {
                "type": "message",
                "id": secrets.token_hex(8),
                "user": name,
                "text": text[:limit],
                "at": _now(),
            }
            await state.hub.publish(ROOM, message)  # kept in the room's history too
    finally:
        await state.hub.leave(ROOM, websocket)
        await state.hub.publish(
            ROOM, {"type": "left", "user": name, "online": state.hub.members(ROOM)}
        )
