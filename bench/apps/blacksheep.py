"""BlackSheep: ``async def`` request handlers through ASGI.

Each app gets its own ``Router`` (BlackSheep's default router is shared by every Application in
the process).  Sessions are BlackSheep's signed cookie sessions (``app.use_sessions``); templates
go through its Jinja2 renderer (``view``), which looks names up with a ``.jinja`` extension.
"""

from __future__ import annotations

from typing import Any

from blacksheep import Application, Request, Response, json, text
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import view
from blacksheep.server.routing import Router
from blacksheep.settings.html import html_settings
from jinja2 import FileSystemLoader

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    SECRET_KEY,
    TEMPLATE_CONTEXT,
    TEMPLATE_DIR,
    Variant,
)

html_settings.use(JinjaRenderer(loader=FileSystemLoader(TEMPLATE_DIR)))


def create_app() -> Application:
    """Build the main app."""
    app = Application(router=Router())
    app.use_sessions(SECRET_KEY)
    get, post = app.router.get, app.router.post

    @get("/")
    async def hello() -> Response:
        return text(HELLO)

    @get("/json")
    async def json_view() -> Response:
        return json(JSON_PAYLOAD)

    @get("/search")
    async def search(q: str = "", page: int = 1, sort: str = "asc") -> Response:
        return text(f"{q} {page} {sort}")

    @post("/echo")
    async def echo(request: Request) -> Response:
        data = await request.json()
        return json({"name": data["name"], "count": data["count"] + 1})

    @post("/form")
    async def form(request: Request) -> Response:
        data = await request.form()
        return text(f"{data['name']} {data['count']}")

    @get("/session")
    async def counter(request: Request) -> Response:
        session = request.session
        count = session.get("count", 0) + 1
        session["count"] = count
        return text(f"count {count}")

    @get("/template")
    async def template() -> Response:
        return view("page", TEMPLATE_CONTEXT)

    # 100 other rules, registered before the path-parameter rule
    async def page() -> Response:
        return text("page")

    async def item(item_id: int) -> Response:
        return text(f"item {item_id}")

    for i in range(FILLER_STATIC):
        app.router.add_get(f"/page{i}", page)
    for i in range(FILLER_DYNAMIC):
        app.router.add_get(f"/item{i}/{{int:item_id}}", item)

    @get("/users/{int:user_id}")
    async def user(user_id: int) -> Response:
        return text(f"user {user_id}")

    return app


def create_routes_app(n: int) -> Application:
    """Build an app with ``n`` dynamic routes ``/r{i}/{int:item_id}``."""
    app = Application(router=Router())

    def make_handler(i: int) -> Any:
        async def handler(item_id: int) -> Response:
            return text(f"r{i} {item_id}")

        return handler

    for i in range(n):
        app.router.add_get(f"/r{i}/{{int:item_id}}", make_handler(i))
    return app


VARIANTS = [
    Variant(
        name="blacksheep",
        framework="blacksheep",
        protocol="asgi",
        views="async",
        main=create_app,
        routes=create_routes_app,
        description="BlackSheep, async def handlers, ASGI",
    ),
]
