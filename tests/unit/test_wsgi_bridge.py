"""WSGI middleware on ``app.wsgi_app`` under the ASGI door (erlen.wsgi_bridge)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from erlen import Erlen, g, jsonify, request, stream_with_context, url_for
from erlen.wsgi_bridge import environ_from_scope
from support import asgi_request

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _info_app(name: str = "bridged") -> Erlen:
    app = Erlen(name)

    @app.route("/info")
    def info() -> Any:
        return jsonify(
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            path=request.path,
            script_root=request.script_root,
            url=request.url,
            url_for=url_for("info"),
            external=url_for("info", _external=True),
        )

    return app


class PrefixMiddleware:
    """Move a known prefix from PATH_INFO into SCRIPT_NAME (as apps behind a sub-path do)."""

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if not path.startswith(self.prefix):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"outside the prefix"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        environ["PATH_INFO"] = path[len(self.prefix) :]
        return self.app(environ, start_response)


# -- what a ported Flask app expects, through both doors ---------------------------------------


def test_werkzeug_proxy_fix_gives_the_same_request_on_both_doors(client: Any) -> None:
    app = _info_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    headers = {
        "X-Forwarded-For": "6.6.6.6, 203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example",
    }
    info = client(app).get("/info", headers=headers).get_json()
    assert (info["remote_addr"], info["scheme"], info["host"]) == (
        "203.0.113.9",
        "https",
        "public.example",
    )
    assert info["external"] == "https://public.example/info"


def test_prefix_middleware_gives_the_same_path_and_urls_on_both_doors(client: Any) -> None:
    app = _info_app()
    app.wsgi_app = PrefixMiddleware(app.wsgi_app, "/blog")  # type: ignore[method-assign]
    c = client(app)
    info = c.get("/blog/info").get_json()
    assert info["path"] == "/info"
    assert info["script_root"] == "/blog"
    assert info["url_for"] == "/blog/info"
    assert info["url"] == "http://localhost/blog/info"
    # Without the middleware the app would answer /info itself.
    r = c.get("/info")
    assert (r.status_code, r.data) == (404, b"outside the prefix")


def test_dispatcher_middleware_mounts_a_second_app(client: Any) -> None:
    front = Erlen("front")
    api = _info_app("api")

    @front.route("/")
    def home() -> str:
        return "front"

    front.wsgi_app = DispatcherMiddleware(front.wsgi_app, {"/api": api})  # type: ignore[method-assign]
    c = client(front)
    assert c.get("/").text == "front"
    info = c.get("/api/info").get_json()
    assert (info["script_root"], info["path"], info["url_for"]) == ("/api", "/info", "/api/info")


def test_middleware_replaced_after_the_first_request(client: Any) -> None:
    app = _info_app()
    c = client(app)
    assert c.get("/info").get_json()["remote_addr"] == "127.0.0.1"
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    headers = {"X-Forwarded-For": "203.0.113.9"}
    assert c.get("/info", headers=headers).get_json()["remote_addr"] == "203.0.113.9"
    del app.wsgi_app
    assert c.get("/info", headers=headers).get_json()["remote_addr"] == "127.0.0.1"


def test_a_subclass_that_overrides_wsgi_app_is_honoured(client: Any) -> None:
    class Marked(Erlen):
        def wsgi_app(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
            environ["HTTP_X_MARK"] = "subclass"
            return super().wsgi_app(environ, start_response)

    app = Marked("marked")

    @app.route("/")
    def index() -> str:
        return request.headers.get("X-Mark", "none")

    assert client(app).get("/").text == "subclass"


def test_bodies_and_async_views_go_through(client: Any) -> None:
    app = Erlen("bodies")
    seen: list[str] = []

    @app.post("/form")
    def form() -> Any:
        return jsonify(dict(request.form), len(request.get_data()))

    @app.route("/async")
    async def view() -> str:
        await asyncio.sleep(0)
        g.x = "async"
        return str(g.x)

    inner = app.wsgi_app

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Any:
        seen.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = middleware  # type: ignore[method-assign]
    c = client(app)
    assert c.post("/form", data={"a": "1", "b": "x" * 5000}).get_json()[0] == {
        "a": "1",
        "b": "x" * 5000,
    }
    assert c.get("/async").text == "async"
    assert seen == ["/form", "/async"]


def test_preserved_context_is_kept_through_the_bridge(client: Any) -> None:
    app = _info_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    with client(app) as c:
        c.get("/info", headers={"X-Forwarded-For": "203.0.113.9"})
        assert request.remote_addr == "203.0.113.9"


# -- the ASGI side: the bridge's own behaviour ----------------------------------------------------


def _with(app: Erlen, middleware: WSGIApp) -> Erlen:
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app


def _recorded(app: Erlen, calls: list[str]) -> Erlen:
    """Wrap ``app.wsgi_app`` in a middleware that notes each path it sees."""
    inner = app.wsgi_app

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Any:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    return _with(app, middleware)


def test_environ_from_scope() -> None:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/mount/caf\u00e9",
        "root_path": "/mount",
        "query_string": b"a=1",
        "headers": [
            (b"host", b"example.com"),
            (b"accept", b"text/html"),
            (b"accept", b"*/*"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"5"),
            (b"x_forwarded_for", b"6.6.6.6"),
        ],
        "client": ("10.0.0.1", 5555),
        "server": ("10.0.0.2", 8443),
    }
    environ, has_body, declared = environ_from_scope(scope)
    assert (has_body, declared) == (True, 5)
    assert environ["SCRIPT_NAME"] == "/mount"
    assert environ["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1"
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["HTTP_ACCEPT"] == "text/html,*/*"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/plain", "5")
    assert "HTTP_CONTENT_TYPE" not in environ
    # A header name with "_" could pass for one with "-": dropped, as gunicorn drops it.
    assert "HTTP_X_FORWARDED_FOR" not in environ
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.1", "5555")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("10.0.0.2", "8443")
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["wsgi.errors"] is sys.stderr
    assert environ["asgi.scope"] is scope

    bare = {"type": "http", "path": "/", "headers": [(b"host", b"h.test:8080")], "server": None}
    environ, has_body, declared = environ_from_scope(bare)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("h.test", "8080")
    assert (has_body, declared) == (False, None)
    assert "REMOTE_ADDR" not in environ


def test_asgi_app_replaced_on_the_instance_is_honoured_around_the_bridge() -> None:
    app = Erlen("both")
    order: list[str] = []

    @app.route("/")
    def index() -> str:
        order.append("view")
        return "ok"

    inner_wsgi = app.wsgi_app

    def wsgi_mw(environ: dict[str, Any], start_response: StartResponse) -> Any:
        order.append("wsgi")
        return inner_wsgi(environ, start_response)

    inner_asgi = app.asgi_app

    async def asgi_mw(scope: dict[str, Any], receive: Any, send: Any) -> None:
        order.append("asgi")
        await inner_asgi(scope, receive, send)

    app.asgi_app = asgi_mw  # type: ignore[method-assign]
    assert asyncio.run(asgi_request(app, "GET", "/"))[2] == b"ok"
    assert order == ["asgi", "view"]
    order.clear()
    app.wsgi_app = wsgi_mw  # type: ignore[method-assign]
    assert asyncio.run(asgi_request(app, "GET", "/"))[2] == b"ok"
    assert order == ["asgi", "wsgi", "view"]


def test_websocket_and_lifespan_keep_erlen_s_path() -> None:
    app = Erlen("ws")
    calls: list[str] = []

    @app.websocket("/ws")
    async def ws() -> None:
        from erlen import websocket

        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())

    @app.before_serving
    def started() -> None:
        calls.append("started")

    def middleware(environ: dict[str, Any], start_response: StartResponse) -> Any:
        calls.append(environ["PATH_INFO"])
        raise AssertionError("a WSGI middleware never sees a WebSocket")

    _with(app, middleware)
    with app.test_client().websocket_connect("/ws") as conn:
        conn.send_text("hi")
        assert conn.receive_text() == "hi"
    assert calls == []

    async def lifespan() -> list[dict[str, Any]]:
        incoming = [{"type": "lifespan.shutdown"}, {"type": "lifespan.startup"}]
        out: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop()

        async def send(message: dict[str, Any]) -> None:
            out.append(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return out

    assert [m["type"] for m in asyncio.run(lifespan())] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert calls == ["started"]


def test_streaming_stops_and_closes_when_the_client_disconnects() -> None:
    app = Erlen("stream")
    closed = threading.Event()
    torn_down: list[bool] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(True)

    @app.route("/stream")
    def stream() -> Any:
        @stream_with_context
        def gen() -> Iterator[str]:
            try:
                while True:
                    yield "tick\n"
            finally:
                closed.set()

        return app.response_class(gen())

    calls: list[str] = []
    _recorded(app, calls)
    sent: list[dict[str, Any]] = []

    async def go() -> None:
        first_chunk = asyncio.Event()
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await first_chunk.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                first_chunk.set()

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/stream",
            "headers": [(b"host", b"t")],
            "server": ("t", 80),
        }
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(go())
    assert calls == ["/stream"]
    assert closed.wait(5)
    assert torn_down == [True]
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"tick\n"
    # No end of body was sent: the client was gone.
    assert all(m.get("more_body", False) for m in sent[1:])


def test_a_generator_middleware_is_iterated_and_closed_in_its_context() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("bridge_test_var")
    events: list[str] = []

    def app_(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        # A generator: start_response is called when it is first iterated.
        var.set("set in the call")
        start_response("201 Created", [("X-A", "1")])
        try:
            yield b"one "
            yield b""
            yield var.get().encode()
        finally:
            events.append("closed")

    app = _with(Erlen("gen"), app_)
    status, headers, body = asyncio.run(asgi_request(app, "GET", "/"))
    assert (status, headers["x-a"], body) == (201, "1", b"one set in the call")
    assert events == ["closed"]


def test_write_callable_and_close_of_the_iterable() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b" and the iterable"

        def close(self) -> None:
            closed.append(True)

    def legacy(environ: dict[str, Any], start_response: StartResponse) -> Any:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written")
        return Body()

    app = _with(Erlen("legacy"), legacy)
    status, headers, body = asyncio.run(asgi_request(app, "GET", "/"))
    assert (status, body) == (200, b"written and the iterable")
    assert headers["content-type"] == "text/plain"
    assert closed == [True]


def test_start_response_with_exc_info_replaces_the_status_before_the_body() -> None:
    def app_(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("late")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Second", "1")], sys.exc_info())
        return [b"retry"]

    app = _with(Erlen("exc_info"), app_)
    status, headers, body = asyncio.run(asgi_request(app, "GET", "/"))
    assert (status, body) == (503, b"retry")
    assert "x-first" not in headers
    assert headers["x-second"] == "1"


def test_a_raising_middleware_answers_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def boom(environ: dict[str, Any], start_response: StartResponse) -> Any:
        raise RuntimeError("middleware broke")

    app = _with(Erlen("boom"), boom)
    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        status, _, body = asyncio.run(asgi_request(app, "GET", "/x"))
    assert (status, body) == (500, b"Internal Server Error")
    [record] = [r for r in caplog.records if r.exc_info]
    assert "Exception on /x [GET]" in record.getMessage()
    assert record.exc_info is not None and str(record.exc_info[1]) == "middleware broke"
    # The app still serves the next request.
    assert asyncio.run(asgi_request(app, "GET", "/x"))[0] == 500


def test_errors_while_iterating(caplog: pytest.LogCaptureFixture) -> None:
    closed: list[str] = []

    def before_start(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b""
            raise RuntimeError("before any body")
        finally:
            closed.append("before")

    status, _, body = asyncio.run(asgi_request(_with(Erlen("a"), before_start), "GET", "/"))
    assert (status, body) == (500, b"Internal Server Error")

    def after_start(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"partial"
            raise RuntimeError("mid-body")
        finally:
            closed.append("after")

    # The status line is out: the error reaches the server, which aborts the connection.
    with pytest.raises(RuntimeError, match="mid-body"):
        asyncio.run(asgi_request(_with(Erlen("b"), after_start), "GET", "/"))
    assert closed == ["before", "after"]

    def no_start(environ: dict[str, Any], start_response: StartResponse) -> Any:
        return [b"no status"]

    assert asyncio.run(asgi_request(_with(Erlen("c"), no_start), "GET", "/"))[0] == 500


def test_bodies_over_max_content_length_are_refused_by_the_app() -> None:
    app = Erlen("limits")
    app.config["MAX_CONTENT_LENGTH"] = 10
    errors: list[int] = []

    @app.errorhandler(413)
    def too_large(e: Any) -> Any:
        errors.append(413)
        return "too large", 413

    @app.post("/")
    def upload() -> str:
        return str(len(request.get_data()))

    calls: list[str] = []
    _recorded(app, calls)
    declared = asyncio.run(
        asgi_request(
            app, "POST", "/", headers=[(b"content-length", b"11")], body_chunks=[b"x" * 11]
        )
    )
    chunked = asyncio.run(
        asgi_request(
            app,
            "POST",
            "/",
            headers=[(b"transfer-encoding", b"chunked")],
            body_chunks=[b"x" * 6, b"x" * 6],
        )
    )
    small = asyncio.run(
        asgi_request(
            app, "POST", "/", headers=[(b"transfer-encoding", b"chunked")], body_chunks=[b"abc"]
        )
    )
    assert (declared[0], declared[2]) == (413, b"too large")
    assert (chunked[0], chunked[2]) == (413, b"too large")
    assert small[2] == b"3"
    assert errors == [413, 413]
    assert calls == ["/", "/", "/"]


def test_a_client_gone_while_sending_the_body_calls_nothing() -> None:
    calls: list[str] = []

    def app_(environ: dict[str, Any], start_response: StartResponse) -> Any:
        calls.append("called")
        start_response("200 OK", [])
        return [b""]

    app = _with(Erlen("gone"), app_)
    sent: list[Any] = []

    async def go() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": [(b"content-length", b"5")],
        }
        await app(scope, receive, send)

    asyncio.run(go())
    assert (calls, sent) == ([], [])


def test_erlen_proxy_fix_on_both_doors_at_once_gives_the_same_answer(client: Any) -> None:
    from erlen.middleware.proxy_fix import ProxyFix as ErlenProxyFix

    app = _info_app()
    counts = {"x_for": 1, "x_proto": 1, "x_host": 1, "x_prefix": 1}
    app.wsgi_app = ErlenProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]
    app.asgi_app = ErlenProxyFix(app.asgi_app, **counts)  # type: ignore[method-assign]
    headers = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example",
        "X-Forwarded-Prefix": "/shop",
    }
    info = client(app).get("/info", headers=headers).get_json()
    assert info["remote_addr"] == "203.0.113.9"
    assert (info["script_root"], info["path"]) == ("/shop", "/info")
    assert info["external"] == "https://public.example/shop/info"
