"""Bottle: ``def`` callbacks through WSGI.

Bottle has no sessions (only pickled signed cookies), so the session scenario is n/a.  Templates
use Bottle's Jinja2 adapter through ``jinja2_view``, which compiles the template once and caches it.
"""

from __future__ import annotations

from typing import Any

from bottle import Bottle, jinja2_view, request

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    TEMPLATE_CONTEXT,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    Variant,
)


def create_app() -> Bottle:
    """Build the main app."""
    app = Bottle()

    @app.get("/")
    def hello() -> str:
        return HELLO

    @app.get("/json")
    def json_view() -> dict[str, Any]:
        return JSON_PAYLOAD

    @app.get("/search")
    def search() -> str:
        q = request.query.get("q", "")
        page = int(request.query.get("page", 1))
        sort = request.query.get("sort", "asc")
        return f"{q} {page} {sort}"

    @app.post("/echo")
    def echo() -> dict[str, Any]:
        data = request.json
        return {"name": data["name"], "count": data["count"] + 1}

    @app.post("/form")
    def form() -> str:
        return f"{request.forms.get('name')} {request.forms.get('count')}"

    @app.get("/template")
    @jinja2_view(TEMPLATE_NAME, template_lookup=[str(TEMPLATE_DIR)])
    def template() -> dict[str, Any]:
        return TEMPLATE_CONTEXT

    # 100 other rules, registered before the path-parameter rule
    def page() -> str:
        return "page"

    def item(item_id: int) -> str:
        return f"item {item_id}"

    for i in range(FILLER_STATIC):
        app.route(f"/page{i}", callback=page)
    for i in range(FILLER_DYNAMIC):
        app.route(f"/item{i}/<item_id:int>", callback=item)

    @app.get("/users/<user_id:int>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    return app


def create_routes_app(n: int) -> Bottle:
    """Build an app with ``n`` dynamic routes ``/r{i}/<item_id:int>``."""
    app = Bottle()

    def make_callback(i: int) -> Any:
        def callback(item_id: int) -> str:
            return f"r{i} {item_id}"

        return callback

    for i in range(n):
        app.route(f"/r{i}/<item_id:int>", callback=make_callback(i))
    return app


VARIANTS = [
    Variant(
        name="bottle",
        framework="bottle",
        protocol="wsgi",
        views="sync",
        main=create_app,
        routes=create_routes_app,
        unsupported={"session": "Bottle has no sessions"},
        description="Bottle, def callbacks, WSGI",
    ),
]
