"""A tiny Erlen app: a page, a JSON route and an async route.

Serve it with any of the commands in docs/deployment.md, from this folder::

    erlen run --debug
"""

from __future__ import annotations

import asyncio

from erlen import Erlen, jsonify, request

app = Erlen(__name__)


@app.route("/")
def index() -> str:
    """Greet the visitor."""
    return "<!doctype html><title>Hello</title><h1>Hello from Erlen!</h1>"


@app.route("/api/info")
def info() -> object:
    """Describe the request as the app sees it."""
    return jsonify(
        message="hello",
        method=request.method,
        scheme=request.scheme,
        host=request.host,
        remote_addr=request.remote_addr,
        url=request.url,
        # One app object, two doors: which one did this request come through?
        door="asgi" if request.scope is not None else "wsgi",
    )


@app.route("/async")
async def slow_hello() -> dict[str, object]:
    """Answer after yielding to the event loop once."""
    await asyncio.sleep(0)
    return {"message": "hello", "async": True}
