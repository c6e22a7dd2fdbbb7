"""Quart: Flask's API on asyncio, ``async def`` views through ASGI.

Realistic like the Erlen and Flask apps: a SECRET_KEY, a ``before_request`` and an
``after_request`` hook.
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, g, render_template, request, session

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    SECRET_KEY,
    TEMPLATE_CONTEXT,
    TEMPLATE_NAME,
    Variant,
)


def _base() -> Quart:
    app = Quart(__name__)  # templates/ beside this module is the template folder
    app.config["SECRET_KEY"] = SECRET_KEY

    @app.before_request
    async def remember_client() -> None:
        g.client = request.remote_addr

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app


def create_app() -> Quart:
    """Build the main app."""
    app = _base()

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
        data = await request.get_json()
        return {"name": data["name"], "count": data["count"] + 1}

    @app.post("/form")
    async def form() -> str:
        data = await request.form
        return f"{data['name']} {data['count']}"

    @app.route("/session")
    async def counter() -> str:
        count = session.get("count", 0) + 1
        session["count"] = count
        return f"count {count}"

    @app.route("/template")
    async def template() -> str:
        return await render_template(TEMPLATE_NAME, **TEMPLATE_CONTEXT)

    # 100 other rules, registered before the path-parameter rule
    async def page() -> str:
        return "page"

    async def item(item_id: int) -> str:
        return f"item {item_id}"

    for i in range(FILLER_STATIC):
        app.add_url_rule(f"/page{i}", f"page{i}", page)
    for i in range(FILLER_DYNAMIC):
        app.add_url_rule(f"/item{i}/<int:item_id>", f"item{i}", item)

    @app.route("/users/<int:user_id>")
    async def user(user_id: int) -> str:
        return f"user {user_id}"

    return app


def create_routes_app(n: int) -> Quart:
    """Build an app with ``n`` dynamic rules ``/r{i}/<int:item_id>``."""
    app = _base()

    def make_view(i: int) -> Any:
        async def view(item_id: int) -> str:
            return f"r{i} {item_id}"

        return view

    for i in range(n):
        app.add_url_rule(f"/r{i}/<int:item_id>", f"r{i}", make_view(i))
    return app


VARIANTS = [
    Variant(
        name="quart",
        framework="quart",
        protocol="asgi",
        views="async",
        main=create_app,
        routes=create_routes_app,
        hooks=True,
        description="Quart, async def views, ASGI",
    ),
]
