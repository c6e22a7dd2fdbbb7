"""Falcon: resources with ``on_get`` responders, ``falcon.App`` (WSGI) and ``falcon.asgi.App``.

Falcon has no sessions (n/a).  It has no template engine of its own either; its documentation
leaves rendering to any library, so the responder renders a Jinja2 template loaded once.
"""

from __future__ import annotations

import falcon
import falcon.asgi
import jinja2

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

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape()
)
page_template = env.get_template(TEMPLATE_NAME)


# --- WSGI resources -----------------------------------------------------------------------------


class Page:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "page"


class Item:
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"item {item_id}"


class Hello:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class User:
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"user {user_id}"


class Json:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = JSON_PAYLOAD


class Search:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        q = req.get_param("q", default="")
        page = req.get_param_as_int("page", default=1)
        sort = req.get_param("sort", default="asc")
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{q} {page} {sort}"


class Echo:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = req.get_media()
        resp.media = {"name": data["name"], "count": data["count"] + 1}


class Form:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = req.get_media()
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{data['name']} {data['count']}"


class Template:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = page_template.render(**TEMPLATE_CONTEXT)


class Numbered:
    def __init__(self, i: int) -> None:
        self.name = f"r{i}"

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{self.name} {item_id}"


# --- ASGI resources -----------------------------------------------------------------------------


class AsyncPage:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "page"


class AsyncItem:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"item {item_id}"


class AsyncHello:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class AsyncUser:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int
    ) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"user {user_id}"


class AsyncJson:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = JSON_PAYLOAD


class AsyncSearch:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        q = req.get_param("q", default="")
        page = req.get_param_as_int("page", default=1)
        sort = req.get_param("sort", default="asc")
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{q} {page} {sort}"


class AsyncEcho:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        data = await req.get_media()
        resp.media = {"name": data["name"], "count": data["count"] + 1}


class AsyncForm:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        data = await req.get_media()
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{data['name']} {data['count']}"


class AsyncTemplate:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = page_template.render(**TEMPLATE_CONTEXT)


class AsyncNumbered:
    def __init__(self, i: int) -> None:
        self.name = f"r{i}"

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{self.name} {item_id}"


def create_app() -> falcon.App:
    """Build the main WSGI app."""
    app = falcon.App()
    app.add_route("/", Hello())
    app.add_route("/json", Json())
    app.add_route("/search", Search())
    app.add_route("/echo", Echo())
    app.add_route("/form", Form())
    app.add_route("/template", Template())
    # 100 other rules, registered before the path-parameter rule
    page, item = Page(), Item()
    for i in range(FILLER_STATIC):
        app.add_route(f"/page{i}", page)
    for i in range(FILLER_DYNAMIC):
        app.add_route(f"/item{i}/{{item_id:int}}", item)
    app.add_route("/users/{user_id:int}", User())
    return app


def create_asgi_app() -> falcon.asgi.App:
    """Build the main ASGI app."""
    app = falcon.asgi.App()
    app.add_route("/", AsyncHello())
    app.add_route("/json", AsyncJson())
    app.add_route("/search", AsyncSearch())
    app.add_route("/echo", AsyncEcho())
    app.add_route("/form", AsyncForm())
    app.add_route("/template", AsyncTemplate())
    # 100 other rules, registered before the path-parameter rule
    page, item = AsyncPage(), AsyncItem()
    for i in range(FILLER_STATIC):
        app.add_route(f"/page{i}", page)
    for i in range(FILLER_DYNAMIC):
        app.add_route(f"/item{i}/{{item_id:int}}", item)
    app.add_route("/users/{user_id:int}", AsyncUser())
    return app


def create_routes_app(n: int) -> falcon.App:
    """Build a WSGI app with ``n`` dynamic routes ``/r{i}/{item_id:int}``."""
    app = falcon.App()
    for i in range(n):
        app.add_route(f"/r{i}/{{item_id:int}}", Numbered(i))
    return app


def create_asgi_routes_app(n: int) -> falcon.asgi.App:
    """Build an ASGI app with ``n`` dynamic routes ``/r{i}/{item_id:int}``."""
    app = falcon.asgi.App()
    for i in range(n):
        app.add_route(f"/r{i}/{{item_id:int}}", AsyncNumbered(i))
    return app


_NO_SESSIONS = "Falcon has no sessions"

VARIANTS = [
    Variant(
        name="falcon",
        framework="falcon",
        protocol="wsgi",
        views="sync",
        main=create_app,
        routes=create_routes_app,
        unsupported={"session": _NO_SESSIONS},
        description="Falcon, def responders, WSGI",
    ),
    Variant(
        name="falcon-asgi",
        framework="falcon",
        protocol="asgi",
        views="async",
        main=create_asgi_app,
        routes=create_asgi_routes_app,
        unsupported={"session": _NO_SESSIONS},
        description="Falcon, async def responders, falcon.asgi",
    ),
]
