"""A chat room: a page, and a WebSocket that every open page joins."""

from urllib.parse import urlsplit

from erlen import Blueprint, render_template, request
from erlen.contrib.auth import aload_current_user, login_required
from erlen.websocket import websocket

from .extensions import hub

bp = Blueprint("chat", __name__, url_prefix="/chat")
ROOM = "chat"


@bp.route("/")
@login_required
def room():
    return render_template("chat/room.html")


@bp.websocket("/socket")
async def socket():
    # Browsers send cookies with a handshake that another site's page starts: refuse those.
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return "Cross-site WebSocket refused.", 403
    user = await aload_current_user()  # the session cookie came with the handshake
    if not user.is_authenticated:
        return "Log in to chat.", 403
    await websocket.accept()
    await hub.join(ROOM, websocket)  # the socket leaves the room when it closes
    await websocket.send_json({"user": "erlog", "text": f"Welcome, {user.username}!"})
    async for text in websocket:  # ends when the browser goes away
        text = str(text).strip()[:500]
        if text:
            await hub.publish(ROOM, {"user": user.username, "text": text})
