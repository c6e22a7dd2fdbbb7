"""The debugging page: DebugMiddleware on both doors, who may see it, and a real browser."""

from __future__ import annotations

import asyncio
import html
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from erlen import Erlen, request, stream_with_context
from erlen.middleware.debug import (
    DebugMiddleware,
    RequestInfo,
    parse_allow,
    render_debug_page,
    safe_repr,
)

BIN = Path(sys.executable).parent


def fetch(
    protocol: str,
    app: Any,
    path: str = "/",
    *,
    client: str = "127.0.0.1",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one request to *app* through the WSGI or the ASGI door, from *client*."""
    if protocol == "wsgi":
        transport = httpx.WSGITransport(app=app, remote_addr=client)
        with httpx.Client(transport=transport, base_url="http://testserver") as c:
            return c.request(method, path, headers=headers)

    async def go() -> httpx.Response:
        asgi = httpx.ASGITransport(app=app, client=(client, 50000))
        async with httpx.AsyncClient(transport=asgi, base_url="http://testserver") as c:
            response = await c.request(method, path, headers=headers)
            await response.aread()
            return response

    return asyncio.run(go())


def make_app(debug: bool = True) -> Erlen:
    app = Erlen("debug_tests")
    app.debug = debug

    def lookup(key: int) -> str:
        table_of_names = {1: "one"}
        return table_of_names[key * 21]

    @app.route("/")
    def index() -> str:
        return "fine"

    @app.route("/boom")
    def boom() -> str:
        marker_local = "value-of-the-local"
        tag = "<b>not bold</b>"
        cookie_copy = request.headers.get("Cookie", "")
        return lookup(len(marker_local + tag + cookie_copy))

    @app.route("/async-boom")
    async def async_boom() -> str:
        await asyncio.sleep(0)
        async_local = 12345
        raise ValueError(f"async failure {async_local}")

    @app.route("/chained")
    def chained() -> str:
        empty: dict[str, int] = {}
        try:
            empty["missing-key"]
        except KeyError as e:
            raise RuntimeError("while handling the lookup") from e
        return ""

    @app.route("/script")
    def script() -> str:
        raise ValueError("<script>alert(1)</script>")

    @app.route("/stream-early")
    def stream_early() -> Any:
        def gen() -> Iterator[str]:
            raise LookupError("before the first chunk")
            yield "never"

        return app.response_class(stream_with_context(gen()))

    @app.route("/stream-late")
    def stream_late() -> Any:
        def gen() -> Iterator[str]:
            yield "first chunk"
            raise LookupError("after the first chunk")

        return app.response_class(gen())

    return app


# -- the page ------------------------------------------------------------------------------------


def test_page_shows_traceback_source_locals_and_request(protocol: str) -> None:
    app = DebugMiddleware(make_app())
    r = fetch(
        protocol,
        app,
        "/boom?q=1",
        headers={
            "Cookie": "session=very-secret-session-value",
            "Authorization": "Bearer super-secret-token",
            "X-Custom": "visible-header",
        },
    )
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert "script-src" not in r.headers["content-security-policy"]
    page = r.text
    # The exception, and where it happened in the app's code.
    assert "<h1>KeyError: " in page
    assert "In your code: " + html.escape(__file__) in page
    assert "in lookup" in page
    # Source around each frame, the current line marked.
    assert '<span class="current">' in page
    assert html.escape("return table_of_names[key * 21]") in page
    assert html.escape('marker_local = "value-of-the-local"') in page
    # Local variables, repr'd and escaped.
    assert html.escape(repr("value-of-the-local")) in page
    assert html.escape(repr({1: "one"})) in page
    assert html.escape(repr("<b>not bold</b>")) in page
    assert "<b>not bold</b>" not in page
    # The request, with credentials redacted everywhere on the page.
    assert "GET" in page
    assert "http://testserver/boom?q=1" in page
    assert "visible-header" in page
    assert "[redacted]" in page
    assert "very-secret-session-value" not in page
    assert "super-secret-token" not in page
    assert "Client</th><td>127.0.0.1" in page
    # Framework frames are folded away; the page says it cannot run code.
    assert '<details class="frame lib">' in page
    assert "It cannot run code" in page


def test_async_view_error(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/async-boom")
    assert r.status_code == 500
    assert "ValueError: async failure 12345" in r.text
    assert "async_local" in r.text


def test_chained_exceptions_are_all_shown(protocol: str) -> None:
    page = fetch(protocol, DebugMiddleware(make_app()), "/chained").text
    assert page.index("KeyError") < page.index("direct cause") < page.index("RuntimeError</h2>")
    assert "while handling the lookup" in page


def test_exception_message_is_escaped(protocol: str) -> None:
    page = fetch(protocol, DebugMiddleware(make_app()), "/script").text
    assert "<script>" not in page
    assert html.escape("<script>alert(1)</script>") in page


def test_head_request_gets_no_body(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/boom", method="HEAD")
    assert r.status_code == 500
    assert r.content == b""


def test_streamed_error_before_first_chunk_gets_the_page(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/stream-early")
    assert r.status_code == 500
    assert "before the first chunk" in r.text


def test_streamed_error_after_first_chunk_is_reraised(protocol: str) -> None:
    # The status line is already sent: the middleware cannot replace the response.
    with pytest.raises(LookupError, match="after the first chunk"):
        fetch(protocol, DebugMiddleware(make_app()), "/stream-late")


def test_good_requests_pass_through(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/")
    assert (r.status_code, r.text) == (200, "fine")
    assert fetch(protocol, DebugMiddleware(make_app()), "/nope").status_code == 404


def test_the_error_is_logged(protocol: str, caplog: pytest.LogCaptureFixture) -> None:
    fetch(protocol, DebugMiddleware(make_app()), "/boom")
    (record,) = [r for r in caplog.records if "Exception on request" in r.getMessage()]
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError


# -- never with debug off ------------------------------------------------------------------------


def test_debug_off_gives_the_apps_own_500(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app(debug=False)), "/boom")
    assert r.status_code == 500
    assert "Traceback" not in r.text
    assert "value-of-the-local" not in r.text
    assert "lookup" not in r.text


def test_debug_off_with_propagation_reraises(protocol: str) -> None:
    app = make_app(debug=False)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(KeyError):
        fetch(protocol, DebugMiddleware(app), "/boom")


def test_debug_turned_off_later_is_respected(protocol: str) -> None:
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    wrapped = DebugMiddleware(app)
    assert "lookup" in fetch(protocol, wrapped, "/boom").text
    app.debug = False
    with pytest.raises(KeyError):
        fetch(protocol, wrapped, "/boom")


def test_wraps_the_door_methods_and_other_middleware(protocol: str) -> None:
    app = make_app()
    inner = app.wsgi_app if protocol == "wsgi" else app.asgi_app
    assert DebugMiddleware(inner).is_enabled()
    assert "lookup" in fetch(protocol, DebugMiddleware(inner), "/boom").text

    class Passthrough:
        def __init__(self, app: Any) -> None:
            self.app = app

        def __call__(self, *args: Any) -> Any:
            return self.app(*args)

    app.debug = False
    assert not DebugMiddleware(Passthrough(app)).is_enabled()
    assert DebugMiddleware(lambda *a: None).is_enabled()
    assert not DebugMiddleware(lambda *a: None, enabled=False).is_enabled()
    assert DebugMiddleware(app, enabled=lambda: True).is_enabled()


# -- who may see it ------------------------------------------------------------------------------


def test_remote_client_gets_a_plain_500(protocol: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/boom", client="203.0.113.9")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "Internal Server Error\n"


@pytest.mark.parametrize("client", ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_see_the_page(protocol: str, client: str) -> None:
    r = fetch(protocol, DebugMiddleware(make_app()), "/boom", client=client)
    assert "in lookup" in r.text


def test_allow_argument_and_environment(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = DebugMiddleware(make_app(), allow="192.168.0.0/16, 10.0.0.5")
    assert "in lookup" in fetch(protocol, allowed, "/boom", client="192.168.3.4").text
    assert "in lookup" in fetch(protocol, allowed, "/boom", client="10.0.0.5").text
    assert fetch(protocol, allowed, "/boom", client="10.0.0.6").text == "Internal Server Error\n"

    monkeypatch.setenv("ERLEN_DEBUG_ALLOW", "*")
    everyone = DebugMiddleware(make_app())
    assert "in lookup" in fetch(protocol, everyone, "/boom", client="198.51.100.1").text


def test_parse_allow() -> None:
    assert parse_allow("") == (False, [])
    assert parse_allow(["*"]) == (True, [])
    everyone, networks = parse_allow("10.0.0.0/8 ::1")
    assert not everyone
    assert [str(n) for n in networks] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="Cannot allow 'localhost'"):
        parse_allow("localhost")


def test_unknown_peer_is_not_trusted() -> None:
    mw = DebugMiddleware(make_app())
    assert not mw.is_allowed(None)
    assert not mw.is_allowed("")
    assert not mw.is_allowed("not-an-ip")


# -- other scopes, rendering details -------------------------------------------------------------


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        raise OSError("websocket handler failed")

    mw = DebugMiddleware(inner)

    async def call() -> None:
        await mw({"type": "websocket"}, None, None)

    with pytest.raises(OSError):
        asyncio.run(call())
    assert seen == ["websocket"]


def test_called_with_wrong_arity() -> None:
    with pytest.raises(TypeError):
        DebugMiddleware(make_app())(1)


def test_safe_repr() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    assert safe_repr(Broken()) == "<repr of Broken failed: RuntimeError: no repr for you>"
    assert len(safe_repr("x" * 10_000)) < 300
    assert "..." in safe_repr(list(range(1000)))


def test_render_without_request_headers_and_deep_recursion() -> None:
    def recurse(n: int) -> None:
        recurse(n + 1)

    try:
        recurse(0)
    except RecursionError as e:
        page = render_debug_page(e, RequestInfo(method="GET", url="http://x/"))
    assert "outer frames are not shown" in page
    assert page.count('class="frame"') <= 100


def test_request_info_from_environ_and_scope() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "example.com",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/x",
        "QUERY_STRING": "a=1",
        "CONTENT_TYPE": "text/plain",
        "REMOTE_ADDR": "10.1.1.1",
    }
    info = RequestInfo.from_environ(environ)
    assert (info.method, info.url, info.client) == (
        "POST",
        "https://example.com/app/x?a=1",
        "10.1.1.1",
    )
    assert ("Content-Type", "text/plain") in info.headers
    scope: dict[str, Any] = {
        "type": "http",
        "method": "PUT",
        "scheme": "http",
        "server": ("srv", 8080),
        "root_path": "/app",
        "path": "/app/y",
        "query_string": b"",
        "headers": [],
        "client": None,
    }
    info = RequestInfo.from_scope(scope)
    assert (info.method, info.url, info.client) == ("PUT", "http://srv:8080/app/y", None)
