"""Starlette: ``async def`` endpoints through ASGI, and ``def`` endpoints for the crossed case.

Sessions come from ``SessionMiddleware`` (signed cookie, like Flask's).  Starlette runs ``def``
endpoints in a thread pool; they cannot read a request body (``request.json()`` and
``request.form()`` are coroutines), so those two scenarios are not available to them.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from bench.apps.common import (
    FILLER_DYNAMIC,
    FILLER_STATIC,
    HELLO,
    JSON_PAYLOAD,
    SECRET_KEY,
    TEMPLATE_CONTEXT,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    WS_ECHO_PATH,
    WS_JOINED,
    WS_ROOM_PATH,
    Variant,
)

# Starlette parses forms with the python-multipart package, an optional dependency.
HAS_MULTIPART = importlib.util.find_spec("python_multipart") is not None
templates = Jinja2Templates(directory=TEMPLATE_DIR)
middleware = [Middleware(SessionMiddleware, secret_key=SECRET_KEY)]


# --- async endpoints ---------------------------------------------------------------------------


async def page(request: Request) -> Response:
    return PlainTextResponse("page")


async def item(request: Request) -> Response:
    return PlainTextResponse(f"item {request.path_params['item_id']}")


async def hello(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def user(request: Request) -> Response:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


async def json_view(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


async def search(request: Request) -> Response:
    params = request.query_params
    q = params.get("q", "")
    page = int(params.get("page", "1"))
    sort = params.get("sort", "asc")
    return PlainTextResponse(f"{q} {page} {sort}")


async def echo(request: Request) -> Response:
    data = await request.json()
    return JSONResponse({"name": data["name"], "count": data["count"] + 1})


async def form(request: Request) -> Response:
    async with request.form() as data:
        return PlainTextResponse(f"{data['name']} {data['count']}")


async def counter(request: Request) -> Response:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return PlainTextResponse(f"count {count}")


async def template(request: Request) -> Response:
    return templates.TemplateResponse(request, TEMPLATE_NAME, TEMPLATE_CONTEXT)


# --- def endpoints (run in the thread pool) ----------------------------------------------------


def page_sync(request: Request) -> Response:
    return PlainTextResponse("page")


def item_sync(request: Request) -> Response:
    return PlainTextResponse(f"item {request.path_params['item_id']}")


def hello_sync(request: Request) -> Response:
    return PlainTextResponse(HELLO)


def user_sync(request: Request) -> Response:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


def json_view_sync(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


def search_sync(request: Request) -> Response:
    params = request.query_params
    q = params.get("q", "")
    page = int(params.get("page", "1"))
    sort = params.get("sort", "asc")
    return PlainTextResponse(f"{q} {page} {sort}")


def counter_sync(request: Request) -> Response:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return PlainTextResponse(f"count {count}")


def template_sync(request: Request) -> Response:
    return templates.TemplateResponse(request, TEMPLATE_NAME, TEMPLATE_CONTEXT)


def _fillers(page_endpoint: Any, item_endpoint: Any) -> list[Route]:
    routes = [Route(f"/page{i}", page_endpoint) for i in range(FILLER_STATIC)]
    routes += [Route(f"/item{i}/{{item_id:int}}", item_endpoint) for i in range(FILLER_DYNAMIC)]
    return routes


def create_app() -> Starlette:
    """Build the main app with ``async def`` endpoints."""
    routes = [
        Route("/", hello),
        Route("/json", json_view),
        Route("/search", search),
        Route("/echo", echo, methods=["POST"]),
        Route("/form", form, methods=["POST"]),
        Route("/session", counter),
        Route("/template", template),
        *_fillers(page, item),  # 100 other rules, before the path-parameter rule
        Route("/users/{user_id:int}", user),
    ]
    return Starlette(routes=routes, middleware=middleware)


def create_sync_app() -> Starlette:
    """Build the main app with ``def`` endpoints (the crossed case)."""
    routes = [
        Route("/", hello_sync),
        Route("/json", json_view_sync),
        Route("/search", search_sync),
        Route("/session", counter_sync),
        Route("/template", template_sync),
        *_fillers(page_sync, item_sync),  # 100 other rules, before the path-parameter rule
        Route("/users/{user_id:int}", user_sync),
    ]
    return Starlette(routes=routes, middleware=middleware)


def create_routes_app(n: int, *, asynchronous: bool = True) -> Starlette:
    """Build an app with ``n`` dynamic routes ``/r{i}/{item_id:int}``."""

    def make_endpoint(i: int) -> Any:
        if asynchronous:

            async def async_endpoint(request: Request) -> Response:
                return PlainTextResponse(f"r{i} {request.path_params['item_id']}")

            return async_endpoint

        def endpoint(request: Request) -> Response:
            return PlainTextResponse(f"r{i} {request.path_params['item_id']}")

        return endpoint

    return Starlette(routes=[Route(f"/r{i}/{{item_id:int}}", make_endpoint(i)) for i in range(n)])


def create_websocket_app() -> Starlette:
    """Build the WebSocket app: an echo endpoint, and a chat-style room.

    Starlette has no hub: the room is the usual set of connected websockets, and the endpoint
    that receives a message awaits a send to each member in turn.
    """
    members: set[WebSocket] = set()

    async def echo_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            await websocket.send_text(message)

    async def room_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        members.add(websocket)
        try:
            await websocket.send_text(WS_JOINED)
            async for message in websocket.iter_text():
                for member in list(members):  # a copy: members may leave during the awaits
                    await member.send_text(message)
        finally:
            members.discard(websocket)

    return Starlette(
        routes=[
            WebSocketRoute(WS_ECHO_PATH, echo_socket),
            WebSocketRoute(WS_ROOM_PATH, room_socket),
        ]
    )


_NO_BODY = "a def endpoint cannot await request.json()/request.form()"

VARIANTS = [
    Variant(
        name="starlette",
        framework="starlette",
        protocol="asgi",
        views="async",
        main=create_app,
        routes=create_routes_app,
        unsupported={} if HAS_MULTIPART else {"form": "forms need python-multipart"},
        description="Starlette, async def endpoints, ASGI",
    ),
    Variant(
        name="starlette-sync",
        framework="starlette",
        protocol="asgi",
        views="sync",
        main=create_sync_app,
        routes=lambda n: create_routes_app(n, asynchronous=False),
        unsupported={"json_body": _NO_BODY, "form": _NO_BODY},
        description="Starlette, def endpoints (thread pool), ASGI",
    ),
]
