"""The same bytes on the wire read the same through both doors, and as Flask reads them.

Each case is one raw HTTP request: method, target, header lines exactly as sent (repeated,
oddly cased, with commas, with latin-1 bytes) and the peer's address. It is handed to the
WSGI door as a WSGI server builds the environ (PEP 3333: header names upper-cased with
``HTTP_``; a repeated header joined with "," as gunicorn, uvicorn's WSGI middleware and
Werkzeug's server join it; ``Cookie`` headers joined with "; " as RFC 9113 8.2.3 asks of an
HTTP/2 server; the last ``Content-Type``/``Content-Length``) and to the ASGI door as an ASGI
server builds the scope (names lower-cased, every line kept, values as bytes). Flask, served
the same environ, is the reference.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import flask
import pytest

import erlen

Header = tuple[bytes, bytes]


def _environ(method: str, target: bytes, headers: list[Header], client: str) -> dict[str, Any]:
    """A WSGI environ for the request, as a WSGI server builds it."""
    path, _, query = target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": client,
        "REMOTE_PORT": "50000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = value
            continue
        key = f"HTTP_{name}"
        if key in environ:
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


def _scope(method: str, target: bytes, headers: list[Header], client: str) -> dict[str, Any]:
    """An ASGI HTTP scope for the request, as an ASGI server builds it."""
    path, _, query = target.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in headers],
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
    }


def _describe(req: Any) -> dict[str, Any]:
    """Every request attribute that the request line and headers decide."""
    headers = req.headers
    names = sorted({name for name, _ in headers.items()})
    return {
        "headers": list(headers.items()),
        "len": len(headers),
        "getlist": {name: headers.getlist(name) for name in names},
        "get_lower": {name: headers.get(name.lower()) for name in names},
        "in": {name: name.upper() in headers for name in names},
        "cookies": list(req.cookies.items(multi=True)),
        "args": list(req.args.items(multi=True)),
        "query_string": req.query_string,
        "path": req.path,
        "full_path": req.full_path,
        "url": req.url,
        "base_url": req.base_url,
        "host": req.host,
        "host_url": req.host_url,
        "remote_addr": req.remote_addr,
        "access_route": req.access_route,
        "content_type": req.content_type,
        "content_length": req.content_length,
        "mimetype": req.mimetype,
        "accept": [(value, quality) for value, quality in req.accept_mimetypes],
        "accept_languages": str(req.accept_languages),
        "user_agent": req.user_agent.string,
        "referrer": req.referrer,
        "environ_headers": {
            key: value
            for key, value in req.environ.items()
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
        },
    }


def _app(module: ModuleType, seen: list[dict[str, Any]]) -> Any:
    app = module.Flask(__name__) if module is flask else erlen.Erlen(__name__)

    @app.route("/<path:rest>", methods=["GET", "POST"])
    @app.route("/", methods=["GET", "POST"])
    def describe(rest: str = "") -> str:
        seen.append(_describe(module.request))
        return ""

    return app


def _through_wsgi(app: Any, environ: dict[str, Any]) -> None:
    statuses: list[str] = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        close: Callable[[], None] | None = getattr(body, "close", None)
        if close is not None:
            close()
    assert statuses == ["200 OK"]


def _through_asgi(app: Any, scope: dict[str, Any]) -> None:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # pragma: no cover - the app never waits for a disconnect
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200


CASES: dict[str, tuple[str, bytes, list[Header]]] = {
    "x-forwarded-for twice": (
        "GET",
        b"/",
        [
            (b"Host", b"example.test"),
            (b"X-Forwarded-For", b"203.0.113.7"),
            (b"X-Forwarded-For", b"198.51.100.2, 10.0.0.1"),
        ],
    ),
    "cookie twice": (
        "GET",
        b"/",
        [
            (b"Host", b"example.test"),
            (b"Cookie", b"a=1; b=2"),
            (b"Cookie", b"c=3; a=4"),
        ],
    ),
    "accept twice": (
        "GET",
        b"/",
        [
            (b"Host", b"example.test"),
            (b"Accept", b"text/html"),
            (b"Accept", b"application/json;q=0.9, */*;q=0.1"),
            (b"Accept-Language", b"de-CH, en;q=0.5"),
        ],
    ),
    "repeated query keys": (
        "GET",
        b"/search/a%20b?tag=a&tag=b&tag=&q=x+y&q=%C3%A9&empty&tag=c",
        [(b"Host", b"example.test:8080")],
    ),
    "odd header casing": (
        "GET",
        b"/",
        [
            (b"hOsT", b"Example.TEST"),
            (b"x-CuStOm-HeAdEr", b"one"),
            (b"X-CUSTOM-HEADER", b"two"),
            (b"user-AGENT", b"agent/1.0"),
        ],
    ),
    "comma in a header": (
        "GET",
        b"/",
        [
            (b"Host", b"example.test"),
            (b"Referer", b"http://ref.test/a,b?c=d,e"),
            (b"X-List", b"a, b,c"),
            (b"X-List", b'"quoted, comma"'),
        ],
    ),
    "latin-1 bytes": (
        "GET",
        b"/caf%C3%A9?name=caf%E9",
        [
            (b"Host", b"example.test"),
            (b"X-Name", b"caf\xe9 \xff"),
            (b"Cookie", b"n=caf\xe9"),
            (b"User-Agent", b"agent \xa9"),
        ],
    ),
    "content headers": (
        "POST",
        b"/form?x=1",
        [
            (b"Host", b"example.test"),
            (b"Content-Type", b"text/plain"),
            (b"content-type", b"application/x-www-form-urlencoded; charset=latin-1"),
            (b"Content-Length", b"0"),
            (b"X-Forwarded-For", b"192.0.2.1"),
        ],
    ),
    "no host header": (
        "GET",
        b"/?a=1",
        [(b"Accept", b"*/*")],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_wire_bytes_read_the_same_through_both_doors_and_flask(case: str) -> None:
    method, target, headers = CASES[case]
    client = "192.0.2.10"
    seen: list[dict[str, Any]] = []
    _through_wsgi(_app(flask, seen), _environ(method, target, headers, client))
    _through_wsgi(_app(erlen, seen), _environ(method, target, headers, client))
    _through_asgi(_app(erlen, seen), _scope(method, target, headers, client))
    reference, wsgi, asgi = seen
    assert wsgi == reference
    assert asgi == reference


def test_repeated_headers_are_joined_under_asgi() -> None:
    """What the comparison above rests on, stated outright for the ASGI door."""
    seen: list[dict[str, Any]] = []
    _, _, headers = CASES["x-forwarded-for twice"]
    cookies = [(b"Cookie", b"a=1"), (b"cookie", b"b=2")]
    _through_asgi(_app(erlen, seen), _scope("GET", b"/", headers + cookies, "192.0.2.10"))
    (got,) = seen
    assert got["getlist"]["X-Forwarded-For"] == ["203.0.113.7,198.51.100.2, 10.0.0.1"]
    assert got["access_route"] == ["203.0.113.7", "198.51.100.2", "10.0.0.1"]
    assert got["cookies"] == [("a", "1"), ("b", "2")]
    assert ("Cookie", "a=1; b=2") in got["headers"]


def test_cookie_headers_are_joined_before_the_headers_are_built() -> None:
    """``request.cookies`` read first (no headers object yet) sees every Cookie header."""
    app = erlen.Erlen(__name__)
    seen: list[Any] = []

    @app.route("/")
    def index() -> str:
        seen.append(erlen.request.cookies.to_dict())
        seen.append(erlen.request.headers["Cookie"])
        return ""

    headers = [(b"Cookie", b"a=1"), (b"Cookie", b"b=2; c=3")]
    _through_asgi(app, _scope("GET", b"/", headers, "192.0.2.10"))
    assert seen == [{"a": "1", "b": "2", "c": "3"}, "a=1; b=2; c=3"]
