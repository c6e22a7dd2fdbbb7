"""A small Flask-SocketIO chat, written the way Flask-SocketIO's documentation shows.

Nothing in it knows about Erlen: with ``ERLEN_FLASK_COMPAT=1`` ``import flask`` is Erlen.
``gunicorn -k gthread --threads 20 -w 1 socketio_chat:app`` serves it (threading mode, with
simple-websocket for the WebSocket transport); ``python socketio_chat.py PORT`` serves it
with ``socketio.run``.
"""

from __future__ import annotations

import sys

import flask
from flask import Flask, render_template_string, request, session
from flask_socketio import SocketIO, emit, join_room

app = Flask(__name__)
app.config["SECRET_KEY"] = "not a secret: a test app"
socketio = SocketIO(app, async_mode="threading")

PAGE = "<!doctype html><title>Chat</title><h1>{{ title }}</h1>"


@app.route("/")
def index() -> str:
    """A plain HTTP page; it also puts a name in the session for the socket handlers."""
    session["nick"] = request.args.get("nick", "anonymous")
    return render_template_string(PAGE, title="Chat on " + type(app).__module__)


@socketio.on("connect")
def on_connect(auth: dict[str, str] | None = None) -> None:
    """Greet the new connection with what it runs on."""
    emit(
        "welcome",
        {
            "sid": request.sid,
            "flask_is_erlen": _flask_is_erlen(),
            "app_class": f"{type(app).__module__}.{type(app).__qualname__}",
            "nick": session.get("nick"),
            # The handshake request: "websocket" when the client came straight in on one.
            "transport": request.args.get("transport"),
        },
    )


@socketio.on("join")
def on_join(data: dict[str, str]) -> dict[str, str]:
    """Join a room; a nick given here goes in the (socket's) session."""
    if "nick" in data:
        session["nick"] = data["nick"]
    join_room(data["room"])
    return {"joined": data["room"], "sid": request.sid}


@socketio.on("chat")
def on_chat(data: dict[str, str]) -> None:
    """Broadcast a message to the room, signed with the sender's session nick and sid."""
    emit(
        "chat",
        {
            "text": data["text"],
            "nick": session.get("nick"),
            "from_sid": request.sid,
            "flask_is_erlen": _flask_is_erlen(),
        },
        to=data["room"],
        include_self=False,
    )


def _flask_is_erlen() -> bool:
    try:
        import erlen
    except ImportError:
        return False
    return flask.Flask is erlen.Erlen


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), allow_unsafe_werkzeug=True)
