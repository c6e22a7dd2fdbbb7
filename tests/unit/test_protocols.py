"""One object, two protocols: the WSGI door, the ASGI door, and the test client on both."""

from __future__ import annotations

import asyncio
import inspect
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

import erlen
from erlen import Erlen, g, request, session

TIMEOUT = 10.0


# -- WSGI ---------------------------------------------------------------------------------------


def _wsgi_call(app: Any, path: str = "/", **environ: Any) -> tuple[str, list[Any], bytes]:
    env: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": ""}
    env.update(environ)
    setup_testing_defaults(env)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body


def _simple_app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return "hello wsgi"

    @app.route("/stream")
    def stream() -> Any:
        def gen() -> Iterator[str]:
            yield "a"
            yield "b"

        return gen()

    @app.route("/json", methods=["POST"])
    def as_json() -> Any:
        return {"got": request.get_json()}

    return app


def test_app_is_a_pep3333_app() -> None:
    app = _simple_app()
    checked = validator(app)  # asserts PEP 3333 compliance of every call
    assert _wsgi_call(checked, "/")[0] == "200 OK"
    assert _wsgi_call(checked, "/")[2] == b"hello wsgi"
    assert _wsgi_call(checked, "/stream")[2] == b"ab"
    assert _wsgi_call(checked, "/missing")[0] == "404 NOT FOUND"
    body = b'{"a": 1}'
    status, headers, out = _wsgi_call(
        checked,
        "/json",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert (status, out) == ("200 OK", b'{"got":{"a":1}}\n')
    assert ("Content-Length", str(len(out))) in headers


def test_wsgi_middleware_wraps_wsgi_app(protocol: str) -> None:
    app = _simple_app()
    seen: list[str] = []

    class Middleware:
        def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
            self.wsgi_app = wsgi_app

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            seen.append(environ["PATH_INFO"])
            environ["HTTP_X_FROM_MIDDLEWARE"] = "yes"

            def sr(status: str, headers: list[Any], exc_info: Any = None) -> Any:
                headers.append(("X-Wrapped", "1"))
                return start_response(status, headers, exc_info)

            return self.wsgi_app(environ, sr)

    @app.route("/mw")
    def mw() -> str:
        return request.headers.get("X-From-Middleware", "no")

    app.wsgi_app = Middleware(app.wsgi_app)  # type: ignore[method-assign]
    _, headers, body = _wsgi_call(app, "/mw")
    assert body == b"yes"
    assert ("X-Wrapped", "1") in headers
    r = app.test_client().get("/mw")
    assert (r.text, r.headers["X-Wrapped"]) == ("yes", "1")
    assert seen == ["/mw", "/mw"]


def test_werkzeug_proxy_fix_as_wsgi_middleware() -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return f"{request.remote_addr} {request.scheme} {request.host}"

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    r = app.test_client().get(
        "/",
        headers={
            "X-Forwarded-For": "1.2.3.4",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "public.test",
        },
    )
    assert r.text == "1.2.3.4 https public.test"


def test_async_view_under_wsgi_uses_one_loop_per_thread() -> None:
    app = Erlen(__name__)
    loops: list[int] = []

    @app.route("/")
    async def index() -> str:
        await asyncio.sleep(0)
        loops.append(id(asyncio.get_running_loop()))
        return "async under wsgi"

    c = app.test_client()
    for _ in range(3):
        assert c.get("/").text == "async under wsgi"
    assert len(set(loops)) == 1  # never a new loop per request

    other: list[int] = []

    def in_thread() -> None:
        app.test_client().get("/")
        other.append(loops[-1])

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(TIMEOUT)
    assert other and other[0] != loops[0]  # another thread has its own loop


def test_thread_loop_closed_with_thread() -> None:
    """A thread's persistent loop is closed when the thread ends (no ResourceWarning)."""
    import gc
    import warnings

    app = Erlen(__name__)

    @app.route("/")
    async def index() -> str:
        return "ok"

    t = threading.Thread(target=lambda: app.test_client().get("/"))
    t.start()
    t.join(TIMEOUT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del t
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


def test_wsgi_streamed_body_teardown_on_close() -> None:
    app = Erlen(__name__)
    events: list[str] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    def index() -> Any:
        def gen() -> Iterator[str]:
            events.append(f"chunk {request.path}")
            yield "x"

        return gen()

    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    result = app(env, lambda status, headers, exc_info=None: None)
    assert events == []
    assert b"".join(result) == b"x"
    assert events == ["chunk /"]
    result.close()  # type: ignore[attr-defined]
    assert events == ["chunk /", "teardown"]


# -- ASGI ---------------------------------------------------------------------------------------


def test_asgi_interface_detected() -> None:
    app = Erlen(__name__)
    assert asyncio.iscoroutinefunction(app.__call__)
    # hypercorn asks inspect about the app (then its __call__); uvicorn asks asyncio.
    assert inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(app.__call__)
    from hypercorn.utils import is_asgi

    assert is_asgi(app)
    import uvicorn.config

    config = uvicorn.config.Config(app)
    config.load()
    assert config.interface == "asgi3"


def test_asgi_root_path(asgi_call: Any) -> None:
    app = Erlen(__name__)

    @app.route("/here")
    def here() -> str:
        return f"{request.root_path} {request.path} {erlen.url_for('here')} {request.url}"

    status, _, body = asyncio.run(asgi_call(app, "GET", "/here", root_path="/mount"))
    assert status == 200
    assert body == b"/mount /here /mount/here http://testserver/mount/here"


def test_asgi_body_in_chunks_and_spooled(asgi_call: Any) -> None:
    app = Erlen(__name__)
    app.config["ASGI_BODY_SPOOL_SIZE"] = 1024

    @app.route("/", methods=["POST"])
    def index() -> str:
        data = request.get_data()
        return f"{len(data)} {data[:3].decode()} {data[-3:].decode()}"

    chunks = [b"abc", b"x" * 5000, b"xyz"]
    headers = [(b"content-length", str(sum(map(len, chunks))).encode())]
    status, _, body = asyncio.run(asgi_call(app, "POST", "/", headers=headers, body_chunks=chunks))
    assert (status, body) == (200, b"5006 abc xyz")
    # Chunked (no Content-Length): the body ends with the last message.
    status, _, body = asyncio.run(
        asgi_call(
            app, "POST", "/", headers=[(b"transfer-encoding", b"chunked")], body_chunks=chunks
        )
    )
    assert (status, body) == (200, b"5006 abc xyz")


def test_asgi_declared_length_over_limit_is_413_unread() -> None:
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 10
    reached: list[str] = []

    @app.route("/", methods=["POST"])
    def index() -> str:
        reached.append("view")
        return request.get_data(as_text=True)

    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not received:
                message = {"type": "http.request", "body": b"x" * 5, "more_body": True}
                received.append(message)
                return message
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t"), (b"content-length", b"1000000")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        await asyncio.wait_for(app(scope, receive, send), TIMEOUT)

    asyncio.run(main())
    assert sent[0]["status"] == 413
    assert received == []  # answered without reading the body
    assert reached == []


def test_asgi_body_over_limit_while_streaming_is_413(asgi_call: Any) -> None:
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100

    @app.route("/", methods=["POST"])
    def index() -> str:
        return str(len(request.get_data()))

    status, _, _ = asyncio.run(
        asgi_call(
            app,
            "POST",
            "/",
            headers=[(b"transfer-encoding", b"chunked")],
            body_chunks=[b"x" * 60, b"x" * 60],
        )
    )
    assert status == 413


def test_asgi_stream_request_body_opt_in(asgi_call: Any) -> None:
    app = Erlen(__name__)
    sizes: list[int] = []

    @app.route("/upload", methods=["POST"])
    @erlen.stream_request_body
    async def upload() -> str:
        total = 0
        async for chunk in request.iter_body():
            sizes.append(len(chunk))
            total += len(chunk)
        return f"received {total}"

    chunks = [b"a" * 10, b"b" * 20, b"c" * 30]
    status, _, body = asyncio.run(
        asgi_call(app, "POST", "/upload", headers=[(b"content-length", b"60")], body_chunks=chunks)
    )
    assert (status, body) == (200, b"received 60")
    assert sizes == [10, 20, 30]  # chunks as the server delivered them, not one buffer
    # The same view works under WSGI (it reads the stream).
    sizes.clear()
    r = app.test_client().post("/upload", data=b"z" * 60)
    assert r.text == "received 60"


def test_asgi_async_view_runs_on_server_loop(asgi_call: Any) -> None:
    app = Erlen(__name__)
    seen: dict[str, Any] = {}

    @app.route("/async")
    async def async_view() -> str:
        seen["async_loop"] = asyncio.get_running_loop()
        seen["async_thread"] = threading.get_ident()
        return "a"

    @app.route("/sync")
    def sync_view() -> str:
        seen["sync_thread"] = threading.get_ident()
        seen["sync_path"] = request.path
        return "s"

    async def main() -> Any:
        await asgi_call(app, "GET", "/async")
        await asgi_call(app, "GET", "/sync")
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert seen["async_loop"] is loop
    assert seen["async_thread"] == threading.get_ident()
    assert seen["sync_thread"] != threading.get_ident()  # a worker thread
    assert seen["sync_path"] == "/sync"  # with the request context carried over


def test_asgi_sync_view_calling_async_helper(client: Any) -> None:
    """A sync view may call async code through ensure_sync on either door."""
    app = Erlen(__name__)

    async def fetch() -> str:
        await asyncio.sleep(0)
        return "fetched"

    @app.route("/")
    def index() -> str:
        return app.ensure_sync(fetch)()

    assert client(app).get("/").text == "fetched"


def test_asgi_client_disconnect_stops_stream_and_runs_teardown() -> None:
    app = Erlen(__name__)
    events: list[str] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/forever")
    async def forever() -> Any:
        async def gen() -> Any:
            try:
                i = 0
                while True:
                    yield f"chunk {i}\n"
                    i += 1
                    await asyncio.sleep(0)
            finally:
                events.append("generator closed")

        return gen()

    async def main() -> int:
        disconnect = asyncio.Event()
        chunks = 0

        async def receive() -> dict[str, Any]:
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal chunks
            if message["type"] == "http.response.body" and message.get("more_body"):
                chunks += 1
                if chunks == 3:
                    disconnect.set()  # the client goes away after three chunks

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/forever",
            "raw_path": b"/forever",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        await asyncio.wait_for(app(scope, receive, send), TIMEOUT)
        return chunks

    chunks = asyncio.run(main())
    assert chunks >= 3
    assert "generator closed" in events
    assert events[-1] == "teardown"


def test_asgi_lifespan_startup_and_shutdown() -> None:
    app = Erlen(__name__)
    events: list[str] = []

    @app.before_serving
    async def startup() -> None:
        events.append(f"startup {erlen.current_app.name}")

    @app.before_serving
    def sync_startup() -> None:
        events.append("sync startup")

    @app.after_serving
    async def shutdown() -> None:
        events.append("shutdown")

    async def main() -> list[str]:
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []
        startup_done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            message = messages.pop(0)
            if message["type"] == "lifespan.shutdown":
                await startup_done.wait()
                events.append("serving")
            return message

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                startup_done.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        await asyncio.wait_for(app(scope, receive, send), TIMEOUT)
        return sent

    sent = asyncio.run(main())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == [f"startup {app.name}", "sync startup", "serving", "shutdown"]


def test_asgi_lifespan_startup_failure_is_reported() -> None:
    app = Erlen(__name__)

    @app.before_serving
    def broken() -> None:
        raise RuntimeError("cannot start")

    async def main() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
        try:
            await asyncio.wait_for(app(scope, receive, send), TIMEOUT)
        except RuntimeError:
            pass
        return sent

    sent = asyncio.run(main())
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "cannot start" in sent[0]["message"]


# -- the test client on both doors ------------------------------------------------------------------


def _client_app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "test secret"

    @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def echo() -> Any:
        files = {k: [f.filename, f.read().decode()] for k, f in request.files.items()}
        return {
            "method": request.method,
            "args": request.args.to_dict(flat=False),
            "form": request.form.to_dict(flat=False),
            "files": files,
            "json": request.get_json(silent=True),
            "content_type": request.content_type,
            "header": request.headers.get("X-Test"),
            "cookie": request.cookies.get("c"),
        }

    @app.route("/redirect1")
    def redirect1() -> Any:
        return erlen.redirect("/redirect2")

    @app.route("/redirect2")
    def redirect2() -> Any:
        return erlen.redirect(erlen.url_for("echo", via="redirects"))

    @app.route("/set-cookie")
    def set_cookie() -> Any:
        r = erlen.make_response("set")
        r.set_cookie("c", "cookie-value")
        return r

    @app.route("/session")
    def show_session() -> Any:
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"], "user": session.get("user")}

    return app


def test_client_methods_and_arguments(client: Any) -> None:
    c = client(_client_app())
    for method in ("get", "post", "put", "patch", "delete"):
        assert getattr(c, method)("/echo").json["method"] == method.upper()
    assert c.head("/echo").data == b""
    assert c.options("/echo").status_code == 200
    assert c.open("/echo", method="PATCH").json["method"] == "PATCH"
    r = c.get("/echo", query_string={"a": ["1", "2"]}, headers={"X-Test": "h"})
    assert r.json["args"] == {"a": ["1", "2"]}
    assert r.json["header"] == "h"
    r = c.post("/echo", data={"f": "v"})
    assert r.json["form"] == {"f": ["v"]}
    assert r.json["content_type"] == "application/x-www-form-urlencoded"
    r = c.post("/echo", data={"up": (io.BytesIO(b"file body"), "up.txt"), "f": "v"})
    assert r.json["files"] == {"up": ["up.txt", "file body"]}
    assert r.json["content_type"].startswith("multipart/form-data; boundary=")
    r = c.post("/echo", json={"j": [1]})
    assert r.json["json"] == {"j": [1]}
    assert r.get_json()["content_type"] == "application/json"
    r = c.post("/echo", data="<x/>", content_type="application/xml")
    assert r.json["content_type"] == "application/xml"
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.headers["Content-Type"] == "application/json"
    assert r.text.startswith("{")


def test_client_follow_redirects_with_history(client: Any) -> None:
    c = client(_client_app())
    r = c.get("/redirect1", follow_redirects=True)
    assert r.status_code == 200
    assert r.json["args"] == {"via": ["redirects"]}
    assert [h.status_code for h in r.history] == [302, 302]
    assert r.request.path == "/echo"
    r = c.get("/redirect1")
    assert r.status_code == 302
    assert r.location == "/redirect2"


def test_client_cookie_jar(client: Any) -> None:
    c = client(_client_app())
    assert c.get("/echo").json["cookie"] is None
    c.get("/set-cookie")
    assert c.get("/echo").json["cookie"] == "cookie-value"
    c.set_cookie("c", "manual")
    assert c.get("/echo").json["cookie"] == "manual"
    c.delete_cookie("c")
    assert c.get("/echo").json["cookie"] is None
    no_cookies = _client_app().test_client(use_cookies=False)
    no_cookies.get("/set-cookie")
    assert no_cookies.get("/echo").json["cookie"] is None


def test_client_session_and_session_transaction(client: Any) -> None:
    c = client(_client_app())
    assert c.get("/session").json == {"visits": 1, "user": None}
    assert c.get("/session").json == {"visits": 2, "user": None}
    with c.session_transaction() as sess:
        assert sess["visits"] == 2
        sess["user"] = "alice"
    assert c.get("/session").json == {"visits": 3, "user": "alice"}


def test_client_context_manager_keeps_context(client: Any) -> None:
    app = _client_app()
    with client(app) as c:
        c.get("/echo?x=1")
        assert request.args["x"] == "1"
        c.get("/session")
        assert session["visits"] == 1
        assert g is not None
    assert not erlen.has_request_context()


def test_client_same_answers_on_both_doors() -> None:
    app = _client_app()
    wsgi, asgi = app.test_client(), app.test_client(asgi=True)
    for kwargs in (
        {"path": "/echo?q=1", "method": "GET"},
        {"path": "/echo", "method": "POST", "data": {"a": "b"}},
        {"path": "/echo", "method": "PUT", "json": [1, 2]},
        {"path": "/missing", "method": "GET"},
        {"path": "/echo", "method": "HEAD"},
    ):
        rw, ra = wsgi.open(**kwargs), asgi.open(**kwargs)
        assert (ra.status_code, ra.data, ra.headers.get("Content-Type")) == (
            rw.status_code,
            rw.data,
            rw.headers.get("Content-Type"),
        ), kwargs


@pytest.mark.parametrize("asgi", [False, True])
def test_response_attributes_of_client(asgi: bool) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        return {"k": "v"}, 201, {"X-R": "r"}

    r = app.test_client(asgi=asgi).get("/")
    assert r.status_code == 201
    assert r.status == "201 CREATED"
    assert r.json == {"k": "v"}
    assert r.get_json() == {"k": "v"}
    assert r.headers["X-R"] == "r"
    assert r.mimetype == "application/json"
    assert r.data == b'{"k":"v"}\n'
    assert r.text == '{"k":"v"}\n'


def test_asgi_http2_body_without_length_header() -> None:
    """HTTP/2 requests may carry a body with neither Content-Length nor Transfer-Encoding."""
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> str:
        return request.get_data(as_text=True)

    async def main() -> list[dict[str, Any]]:
        chunks = [b"hello ", b"h2"]
        sent: list[dict[str, Any]] = []
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if chunks:
                return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "2",
            "method": "POST",
            "scheme": "https",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 443),
        }
        await asyncio.wait_for(app(scope, receive, send), TIMEOUT)
        return sent

    sent = asyncio.run(main())
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"hello h2"


def test_body_over_limit_visible_to_before_request_hooks(client: Any) -> None:
    """A hook that reads the form of an oversized request gets the 413 on both doors."""
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100
    seen: list[str] = []

    @app.before_request
    def csrf_check() -> Any:
        try:
            token = request.form.get("token")
        except Exception as e:
            seen.append(type(e).__name__)
            raise
        if token != "ok":
            return "bad token", 400
        return None

    @app.route("/", methods=["POST"])
    def index() -> str:
        return "posted"

    c = client(app)
    assert c.post("/", data={"token": "ok"}).text == "posted"
    assert c.post("/", data={"token": "x"}).status_code == 400
    r = c.post("/", data={"token": "ok", "big": "x" * 500})
    assert r.status_code == 413
    assert seen == ["RequestEntityTooLarge"]


def test_asgi_headers_sent_each_time_with_one_content_length() -> None:
    """Repeated responses (the door reuses encoded header pairs) keep exactly one Content-Length."""
    app = Erlen(__name__)

    @app.route("/own")
    def own_length() -> Any:
        return "abc", {"Content-Length": "3", "X-Frame-Options": "DENY"}

    @app.route("/auto")
    def auto_length() -> Any:
        return "abcd", {"X-Frame-Options": "DENY"}

    async def call(path: str) -> list[tuple[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t")],
        }
        await app(scope, receive, send)
        return list(sent[0]["headers"])

    for _ in range(3):
        for path, length in (("/own", b"3"), ("/auto", b"4"), ("/own", b"3")):
            headers = asyncio.run(call(path))
            lengths = [v for k, v in headers if k.lower() == b"content-length"]
            assert lengths == [length], (path, headers)
            assert (b"X-Frame-Options", b"DENY") in headers
