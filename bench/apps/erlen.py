"""Erlen: the Flask app of ``bench/apps/flask.py`` ported by renaming ``flask`` to ``erlen``.

One app object is both doors.  ``def`` views run through the WSGI door (like the WSGI peers) and
``async def`` views through the ASGI door (like the ASGI peers); the crossed cases run ``def``
views through the ASGI door (a thread hop, as Starlette's sync endpoints pay) and ``async def``
views through the WSGI door.  The app is realistic: a SECRET_KEY, a ``before_request`` and an
``after_request`` hook.
"""

from __future__ import annotations

from typing import Any

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    SECRET_KEY,
    TEMPLATE_CONTEXT,
    TEMPLATE_NAME,
    WS_ECHO_PATH,
    WS_JOINED,
    WS_ROOM,
    WS_ROOM_PATH,
    Variant,
)
from erlen import Erlen, Response, g, render_template, request, session
from erlen.hub import Hub
from erlen.websocket import websocket


def _base(*, asynchronous: bool = False) -> Erlen:
    app = Erlen(__name__)  # templates/ beside this module is the template folder
    app.config["SECRET_KEY"] = SECRET_KEY

    if asynchronous:

        @app.before_request
        async def remember_client_async() -> None:
            g.client = request.remote_addr

        @app.after_request
        async def security_headers_async(response: Response) -> Response:
            response.headers["X-Frame-Options"] = "DENY"
            return response

    else:

        @app.before_request
        def remember_client() -> None:
            g.client = request.remote_addr

        @app.after_request
        def security_headers(response: Response) -> Response:
            response.headers["X-Frame-Options"] = "DENY"
            return response

    return app


def _add_fillers(app: Erlen) -> None:
    def page() -> str:
        return "page"

    def item(item_id: int) -> str:
        return f"item {item_id}"

    for i in range(FILLER_STATIC):
        app.add_url_rule(f"/page{i}", f"page{i}", page)
    for i in range(FILLER_DYNAMIC):
        app.add_url_rule(f"/item{i}/<int:item_id>", f"item{i}", item)


def create_app() -> Erlen:
    """Build the main app with ``def`` views."""
    app = _base()

    @app.route("/")
    def hello() -> str:
        return HELLO

    @app.route("/json")
    def json_view() -> dict[str, Any]:
        return JSON_PAYLOAD

    @app.route("/search")
    def search() -> str:
        q = request.args.get("q", "")
        page = request.args.get("page", 1, type=int)
        sort = request.args.get("sort", "asc")
        return f"{q} {page} {sort}"

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        data = request.get_json()
        return {"name": data["name"], "count": data["count"] + 1}

    @app.post("/form")
    def form() -> str:
        return f"{request.form['name']} {request.form['count']}"

    @app.route("/session")
    def counter() -> str:
        count = session.get("count", 0) + 1
        session["count"] = count
        return f"count {count}"

    @app.route("/template")
    def template() -> str:
        return render_template(TEMPLATE_NAME, **TEMPLATE_CONTEXT)

    # 100 other rules, registered before the path-parameter rule
    _add_fillers(app)

    @app.route("/users/<int:user_id>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    return app


def create_async_app() -> Erlen:
    """Build the main app with ``async def`` views (the crossed case)."""
    app = _base(asynchronous=True)

    @app.route("/")
    async def hello() -> str:
        return HELLO

    @app.route("/json")
    async def json_view() -> dict[str, Any]:
        return JSON_PAYLOAD

    @app.route("/search")
    async def search() -> str:
        q = request.args.get("q", "")
        page = request.args.get("page", 1, type=int)
        sort = request.args.get("sort", "asc")
        return f"{q} {page} {sort}"

    @app.post("/echo")
    async def echo() -> dict[str, Any]:
        data = request.get_json()
        return {"name": data["name"], "count": data["count"] + 1}

    @app.post("/form")
    async def form() -> str:
        return f"{request.form['name']} {request.form['count']}"

    @app.route("/session")
    async def counter() -> str:
        count = session.get("count", 0) + 1
        session["count"] = count
        return f"count {count}"

    @app.route("/template")
    async def template() -> str:
        return render_template(TEMPLATE_NAME, **TEMPLATE_CONTEXT)

    # 100 other rules, registered before the path-parameter rule
    _add_fillers(app)

    @app.route("/users/<int:user_id>")
    async def user(user_id: int) -> str:
        return f"user {user_id}"

    return app


def create_routes_app(n: int, *, asynchronous: bool = False) -> Erlen:
    """Build an app with ``n`` dynamic rules ``/r{i}/<int:item_id>``."""
    app = _base(asynchronous=asynchronous)

    def make_view(i: int) -> Any:
        if asynchronous:

            async def async_view(item_id: int) -> str:
                return f"r{i} {item_id}"

            return async_view

        def view(item_id: int) -> str:
            return f"r{i} {item_id}"

        return view

    for i in range(n):
        app.add_url_rule(f"/r{i}/<int:item_id>", f"r{i}", make_view(i))
    return app


def create_websocket_app() -> Erlen:
    """Build the WebSocket app: an echo handler, and a chat-style room through ``erlen.hub.Hub``,
    written as ``docs/realtime.md`` shows them."""
    app = Erlen(__name__)
    hub = Hub()  # one per app, so that no two benchmark apps share rooms

    @app.websocket(WS_ECHO_PATH)
    async def echo() -> None:
        await websocket.accept()
        async for message in websocket:
            await websocket.send(message)

    @app.websocket(WS_ROOM_PATH)
    async def room() -> None:
        await websocket.accept()
        await hub.join(WS_ROOM, websocket)  # the socket leaves the room when it closes
        await websocket.send(WS_JOINED)
        async for message in websocket:
            await hub.publish(WS_ROOM, message)

    return app


VARIANTS = [
    Variant(
        name="erlen-wsgi",
        framework="erlen",
        protocol="wsgi",
        views="sync",
        main=create_app,
        routes=create_routes_app,
        hooks=True,
        description="Erlen, def views, WSGI door",
    ),
    Variant(
        name="erlen-asgi",
        framework="erlen",
        protocol="asgi",
        views="async",
        main=create_async_app,
        routes=lambda n: create_routes_app(n, asynchronous=True),
        hooks=True,
        description="Erlen, async def views, ASGI door",
    ),
    Variant(
        name="erlen-asgi-sync",
        framework="erlen",
        protocol="asgi",
        views="sync",
        main=create_app,
        routes=create_routes_app,
        hooks=True,
        description="Erlen, def views through the ASGI door (crossed)",
    ),
    Variant(
        name="erlen-wsgi-async",
        framework="erlen",
        protocol="wsgi",
        views="async",
        main=create_async_app,
        routes=lambda n: create_routes_app(n, asynchronous=True),
        hooks=True,
        description="Erlen, async def views through the WSGI door (crossed)",
    ),
]
