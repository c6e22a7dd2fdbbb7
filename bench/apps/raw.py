"""The floor: a bare WSGI callable and a bare ASGI callable, standard library plus Jinja2.

They do the least each scenario needs: a dict of paths, one prefix test for the path parameter,
``urllib.parse`` for query strings and forms, ``json`` for JSON.  They have no router (the
routing-scale scenarios are n/a) and no session machinery (n/a).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import jinja2

from bench.apps.common import (
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

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
HTML = "text/html; charset=utf-8"

# Each handler maps (query string, body) to (status, content type, body).
Result = tuple[int, str, bytes]


def _hello(query: bytes, body: bytes) -> Result:
    return 200, TEXT, HELLO.encode()


def _json(query: bytes, body: bytes) -> Result:
    return 200, JSON, json.dumps(JSON_PAYLOAD).encode()


def _search(query: bytes, body: bytes) -> Result:
    params = parse_qs(query.decode("latin-1"))
    q = params.get("q", [""])[0]
    page = int(params.get("page", ["1"])[0])
    sort = params.get("sort", ["asc"])[0]
    return 200, TEXT, f"{q} {page} {sort}".encode()


def _echo(query: bytes, body: bytes) -> Result:
    data = json.loads(body)
    return 200, JSON, json.dumps({"name": data["name"], "count": data["count"] + 1}).encode()


def _form(query: bytes, body: bytes) -> Result:
    data = parse_qs(body.decode("latin-1"))
    return 200, TEXT, f"{data['name'][0]} {data['count'][0]}".encode()


def _template(query: bytes, body: bytes) -> Result:
    return 200, HTML, page_template.render(**TEMPLATE_CONTEXT).encode()


ROUTES: dict[tuple[str, str], Callable[[bytes, bytes], Result]] = {
    ("GET", "/"): _hello,
    ("GET", "/json"): _json,
    ("GET", "/search"): _search,
    ("POST", "/echo"): _echo,
    ("POST", "/form"): _form,
    ("GET", "/template"): _template,
}


def handle(method: str, path: str, query: bytes, body: bytes) -> Result:
    """Dispatch one request by method and path."""
    handler = ROUTES.get((method, path))
    if handler is not None:
        return handler(query, body)
    if method == "GET" and path.startswith("/users/") and path[7:].isdigit():
        return 200, TEXT, f"user {int(path[7:])}".encode()
    return 404, TEXT, b"Not Found"


_REASONS = {200: "200 OK", 404: "404 Not Found"}


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The raw WSGI callable."""
    method = environ["REQUEST_METHOD"]
    body = b""
    if method == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    status, content_type, payload = handle(
        method, environ["PATH_INFO"], environ.get("QUERY_STRING", "").encode("latin-1"), body
    )
    start_response(
        _REASONS[status],
        [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
    )
    return [payload]


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def asgi_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The raw ASGI callable (it answers the lifespan protocol too)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method = scope["method"]
    body = b""
    if method == "POST":
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
    status, content_type, payload = handle(method, scope["path"], scope["query_string"], body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


_NO_SESSIONS = "no session machinery in a bare callable"

VARIANTS = [
    Variant(
        name="raw-wsgi",
        framework="raw",
        protocol="wsgi",
        views="sync",
        main=lambda: wsgi_app,
        unsupported={"session": _NO_SESSIONS},
        description="a bare WSGI callable (the floor)",
    ),
    Variant(
        name="raw-asgi",
        framework="raw",
        protocol="asgi",
        views="async",
        main=lambda: asgi_app,
        unsupported={"session": _NO_SESSIONS},
        description="a bare ASGI callable (the floor)",
    ),
]
