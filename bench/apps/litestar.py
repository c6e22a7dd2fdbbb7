"""Litestar: ``async def`` route handlers through ASGI.

Sessions use Litestar's client-side cookie backend (``CookieBackendConfig``, which needs the
``cryptography`` package: without it the session scenario is n/a).  Handlers are built inside
the factories so that every app gets its own handler objects; annotations are evaluated eagerly
(no ``from __future__ import annotations``) because Litestar reads them to build its signature
models.
"""

import importlib.util
from typing import Any

from litestar import Litestar, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    SECRET_KEY,
    TEMPLATE_CONTEXT,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    Variant,
)

HAS_COOKIE_SESSIONS = importlib.util.find_spec("cryptography") is not None
TEXT = MediaType.TEXT


def create_app() -> Litestar:
    """Build the main app."""

    @get([f"/page{i}" for i in range(FILLER_STATIC)], media_type=TEXT)
    async def page() -> str:
        return "page"

    @get([f"/item{i}/{{item_id:int}}" for i in range(FILLER_DYNAMIC)], media_type=TEXT)
    async def item(item_id: FromPath[int]) -> str:
        return f"item {item_id}"

    @get("/", media_type=TEXT)
    async def hello() -> str:
        return HELLO

    @get("/users/{user_id:int}", media_type=TEXT)
    async def user(user_id: FromPath[int]) -> str:
        return f"user {user_id}"

    @get("/json")
    async def json_view() -> dict[str, Any]:
        return JSON_PAYLOAD

    @get("/search", media_type=TEXT)
    async def search(
        q: FromQuery[str] = "", page: FromQuery[int] = 1, sort: FromQuery[str] = "asc"
    ) -> str:
        return f"{q} {page} {sort}"

    @post("/echo", status_code=200)
    async def echo(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        return {"name": data["name"], "count": data["count"] + 1}

    @post("/form", status_code=200, media_type=TEXT)
    async def form(data: URLEncodedBody[dict[str, str]]) -> str:
        return f"{data['name']} {data['count']}"

    @get("/session", media_type=TEXT)
    async def counter(request: Request) -> str:
        count = request.session.get("count", 0) + 1
        request.set_session({**request.session, "count": count})
        return f"count {count}"

    @get("/template")
    async def template() -> Template:
        return Template(template_name=TEMPLATE_NAME, context=TEMPLATE_CONTEXT)

    # 100 other rules (page, item), registered before the path-parameter rule (user)
    handlers: list[Any] = [hello, json_view, search, echo, form, template, page, item, user]
    middleware = []
    if HAS_COOKIE_SESSIONS:
        from litestar.middleware.session.client_side import CookieBackendConfig

        handlers.append(counter)
        middleware.append(CookieBackendConfig(secret=SECRET_KEY.encode()).middleware)
    return Litestar(
        route_handlers=handlers,
        middleware=middleware,
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
    )


def create_routes_app(n: int) -> Litestar:
    """Build an app with ``n`` dynamic routes ``/r{i}/{item_id:int}``."""

    def make_handler(i: int) -> Any:
        @get(f"/r{i}/{{item_id:int}}", media_type=TEXT, name=f"r{i}")
        async def handler(item_id: FromPath[int]) -> str:
            return f"r{i} {item_id}"

        return handler

    return Litestar(route_handlers=[make_handler(i) for i in range(n)])


VARIANTS = [
    Variant(
        name="litestar",
        framework="litestar",
        protocol="asgi",
        views="async",
        main=create_app,
        routes=create_routes_app,
        unsupported={}
        if HAS_COOKIE_SESSIONS
        else {"session": "cookie sessions need litestar[cryptography]"},
        description="Litestar, async def handlers, ASGI",
    ),
]
