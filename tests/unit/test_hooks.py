"""Request hooks: before/after/teardown, after_this_request, async hooks, order as in Flask."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest

import erlen
from erlen import Erlen, Response, after_this_request, g, request


def _order_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)
    log: list[str] = []
    app.config["LOG"] = log
    bp = mod.Blueprint("bp", __name__, url_prefix="/bp")
    inner = mod.Blueprint("inner", __name__, url_prefix="/inner")

    for name, target in (("app", app), ("bp", bp), ("inner", inner)):
        for i in (1, 2):

            def before(name: str = name, i: int = i) -> None:
                log.append(f"before {name}{i}")

            def after(response: Any, name: str = name, i: int = i) -> Any:
                log.append(f"after {name}{i}")
                return response

            def teardown(exc: Any, name: str = name, i: int = i) -> None:
                log.append(f"teardown {name}{i} {type(exc).__name__}")

            def preproc(endpoint: Any, values: Any, name: str = name, i: int = i) -> None:
                log.append(f"preproc {name}{i}")

            target.before_request(before)
            target.after_request(after)
            target.teardown_request(teardown)
            target.url_value_preprocessor(preproc)

    @app.teardown_appcontext
    def td_app(exc: Any) -> None:
        log.append(f"teardown_appcontext {type(exc).__name__}")

    @inner.route("/view")
    def view() -> str:
        log.append("view")
        return "/".join(log)

    @inner.route("/crash")
    def crash() -> str:
        raise ZeroDivisionError()

    @app.route("/top")
    def top() -> str:
        log.append("view")
        return "/".join(log)

    bp.register_blueprint(inner)
    app.register_blueprint(bp)

    @app.route("/log")
    def show_log() -> Any:
        out = list(log)
        log.clear()
        return out

    return app


@pytest.mark.parametrize("path", ["/bp/inner/view", "/top", "/nowhere", "/bp/inner/crash"])
def test_hook_order_matches_flask(oracle: Any, path: str) -> None:
    o = oracle(_order_app)
    o.flask_app.logger.disabled = True
    o.erlen_app.logger.disabled = True
    o.check("GET", path, compare_body=path != "/bp/inner/crash")
    flask_log = o.flask_client.get("/log").get_json()
    erlen_log = o.erlen_client.get("/log").get_json()
    assert erlen_log == flask_log


def test_before_request_short_circuits(client: Any) -> None:
    app = Erlen(__name__)
    calls: list[str] = []

    @app.before_request
    def first() -> Any:
        calls.append("first")
        if request.args.get("stop"):
            return "stopped", 403
        return None

    @app.before_request
    def second() -> None:
        calls.append("second")

    @app.after_request
    def after(response: Response) -> Response:
        calls.append("after")
        return response

    @app.route("/")
    def index() -> str:
        calls.append("view")
        return "view"

    c = client(app)
    r = c.get("/?stop=1")
    assert (r.status_code, r.text) == (403, "stopped")
    assert calls == ["first", "after"]
    calls.clear()
    assert c.get("/").text == "view"
    assert calls == ["first", "second", "view", "after"]


def test_before_request_runs_before_routing_errors(client: Any) -> None:
    app = Erlen(__name__)

    @app.before_request
    def gate() -> Any:
        if request.path.startswith("/private"):
            return "login first", 401
        return None

    assert client(app).get("/private/nothing-here").status_code == 401
    assert client(app).get("/public/nothing-here").status_code == 404


def test_after_request_may_replace_response(client: Any) -> None:
    app = Erlen(__name__)

    @app.after_request
    def add_header(response: Response) -> Response:
        response.headers["X-After"] = "1"
        return response

    @app.after_request
    def replace(response: Response) -> Response:
        if request.args.get("replace"):
            return Response("replaced", 202)
        return response

    @app.route("/")
    def index() -> str:
        return "original"

    c = client(app)
    r = c.get("/")
    assert (r.text, r.headers["X-After"]) == ("original", "1")
    r = c.get("/?replace=1")
    # replace runs first (reverse registration order), then add_header sees the new response.
    assert (r.status_code, r.text, r.headers["X-After"]) == (202, "replaced", "1")


def test_after_request_runs_for_errors_and_handlers(client: Any) -> None:
    app = Erlen(__name__)

    @app.after_request
    def mark(response: Response) -> Response:
        response.headers["X-Seen"] = str(response.status_code)
        return response

    @app.errorhandler(ValueError)
    def handle(e: ValueError) -> Any:
        return "handled", 400

    @app.route("/value")
    def value() -> Any:
        raise ValueError()

    c = client(app)
    assert c.get("/missing").headers["X-Seen"] == "404"
    assert c.get("/value").headers["X-Seen"] == "400"


def test_teardown_always_runs_with_exception(client: Any) -> None:
    app = Erlen(__name__)
    app.logger.disabled = True
    seen: list[tuple[str, Any]] = []

    @app.teardown_request
    def td_request(exc: BaseException | None) -> None:
        seen.append(("request", exc))

    @app.teardown_appcontext
    def td_app(exc: BaseException | None) -> None:
        seen.append(("app", exc))

    @app.route("/ok")
    def ok() -> str:
        return "ok"

    @app.route("/crash")
    def crash() -> str:
        raise RuntimeError("crash")

    @app.route("/handled")
    def handled() -> str:
        erlen.abort(404)

    c = client(app)
    c.get("/ok")
    assert seen == [("request", None), ("app", None)]
    seen.clear()
    assert c.get("/handled").status_code == 404
    assert seen == [("request", None), ("app", None)]
    seen.clear()
    assert c.get("/crash").status_code == 500
    assert [kind for kind, _ in seen] == ["request", "app"]
    assert all(isinstance(exc, RuntimeError) for _, exc in seen), seen


def test_teardown_gets_exception_like_flask(oracle: Any) -> None:
    def build(mod: ModuleType, cls: type) -> Any:
        app = cls(__name__)
        app.logger.disabled = True
        log: list[str] = []

        @app.teardown_request
        def td(exc: Any) -> None:
            log.append(f"request {exc!r}")

        @app.teardown_appcontext
        def td_app(exc: Any) -> None:
            log.append(f"app {exc!r}")

        @app.route("/crash")
        def crash() -> str:
            raise RuntimeError("x")

        @app.route("/log")
        def show() -> Any:
            out = list(log)
            log.clear()
            return out

        return app

    o = oracle(build)
    o.check("GET", "/crash")
    assert o.erlen_client.get("/log").json == o.flask_client.get("/log").json


def test_teardown_runs_when_propagating(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True
    seen: list[Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    @app.route("/crash")
    def crash() -> str:
        raise RuntimeError("propagated")

    with pytest.raises(RuntimeError):
        client(app).get("/crash")
    assert len(seen) == 1 and isinstance(seen[0], RuntimeError)


def test_teardown_errors_do_not_hide_other_teardowns(client: Any) -> None:
    app = Erlen(__name__)
    seen: list[str] = []

    @app.teardown_appcontext
    def td_app(exc: BaseException | None) -> None:
        seen.append("app")

    @app.route("/")
    def index() -> str:
        return "ok"

    assert client(app).get("/").text == "ok"
    assert seen == ["app"]


def test_after_this_request(client: Any) -> None:
    app = Erlen(__name__)
    order: list[str] = []

    @app.after_request
    def global_after(response: Response) -> Response:
        order.append("global")
        return response

    @app.route("/")
    def index() -> str:
        @after_this_request
        def add_cookie(response: Response) -> Response:
            order.append("this request")
            response.set_cookie("once", "1")
            return response

        return "index"

    @app.route("/other")
    def other() -> str:
        return "other"

    c = client(app)
    r = c.get("/")
    assert "once=1" in r.headers["Set-Cookie"]
    assert order == ["this request", "global"]
    order.clear()
    r = c.get("/other")
    assert "Set-Cookie" not in r.headers
    assert order == ["global"]


def test_after_this_request_outside_request() -> None:
    with pytest.raises(RuntimeError, match="request context"):
        after_this_request(lambda r: r)


def test_async_hooks(client: Any) -> None:
    app = Erlen(__name__)
    order: list[str] = []

    @app.before_request
    async def before() -> None:
        await asyncio.sleep(0)
        g.user = "async-user"
        order.append("before")

    @app.after_request
    async def after(response: Response) -> Response:
        await asyncio.sleep(0)
        response.headers["X-Async"] = "yes"
        order.append("after")
        return response

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        order.append("teardown")

    @app.teardown_appcontext
    async def teardown_app(exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        order.append("teardown_app")

    @app.route("/sync")
    def sync_view() -> str:
        order.append("view")
        return g.user

    @app.route("/async")
    async def async_view() -> str:
        await asyncio.sleep(0)
        order.append("view")
        return g.user

    c = client(app)
    for path in ("/sync", "/async"):
        order.clear()
        r = c.get(path)
        assert r.text == "async-user"
        assert r.headers["X-Async"] == "yes"
        assert order == ["before", "view", "after", "teardown", "teardown_app"], path


def test_async_before_request_short_circuit(client: Any) -> None:
    app = Erlen(__name__)

    @app.before_request
    async def stop() -> Any:
        return {"stopped": True}, 418

    @app.route("/")
    def index() -> str:
        raise AssertionError("not reached")

    r = client(app).get("/")
    assert (r.status_code, r.json) == (418, {"stopped": True})


def test_async_after_this_request(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    async def index() -> str:
        @after_this_request
        async def later(response: Response) -> Response:
            await asyncio.sleep(0)
            response.headers["X-Later"] = "1"
            return response

        return "ok"

    assert client(app).get("/").headers["X-Later"] == "1"


def test_hooks_registered_after_first_request(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return "x"

    c = client(app)
    assert "X-Late" not in c.get("/").headers

    @app.after_request
    def late(response: Response) -> Response:
        response.headers["X-Late"] = "1"
        return response

    assert c.get("/").headers["X-Late"] == "1"


def test_g_is_per_request(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/set")
    def set_() -> str:
        g.value = "set"
        return g.get("value")

    @app.route("/get")
    def get() -> str:
        return str(g.get("value", "unset")) + " " + str("value" in g)

    c = client(app)
    assert c.get("/set").text == "set"
    assert c.get("/get").text == "unset False"


def test_request_signals(client: Any) -> None:
    app = Erlen(__name__)
    events: list[str] = []

    def started(sender: Any, **extra: Any) -> None:
        events.append("started")

    def finished(sender: Any, response: Any, **extra: Any) -> None:
        events.append(f"finished {response.status_code}")

    def exception(sender: Any, exception: BaseException, **extra: Any) -> None:
        events.append(f"exception {type(exception).__name__}")

    @app.route("/")
    def index() -> str:
        return "x"

    @app.route("/crash")
    def crash() -> str:
        raise ValueError()

    app.logger.disabled = True
    with (
        erlen.request_started.connected_to(started, app),
        erlen.request_finished.connected_to(finished, app),
        erlen.got_request_exception.connected_to(exception, app),
    ):
        c = client(app)
        c.get("/")
        c.get("/crash")
    assert events == ["started", "finished 200", "started", "exception ValueError", "finished 500"]


def _midstream_app(seen: list[Any]) -> Erlen:
    app = Erlen(__name__)
    app.logger.disabled = True

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    @app.route("/")
    def index() -> Any:
        def gen() -> Any:
            yield "first"
            raise ValueError("mid-stream")

        return gen()

    return app


def test_teardown_gets_error_raised_mid_stream_wsgi() -> None:
    from wsgiref.util import setup_testing_defaults

    seen: list[Any] = []
    app = _midstream_app(seen)
    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    result = app(env, lambda status, headers, exc_info=None: None)
    chunks = []
    with pytest.raises(ValueError):
        for chunk in result:
            chunks.append(chunk)
    assert chunks == [b"first"]
    assert seen == []  # the request is still open until the server closes the iterable
    result.close()  # type: ignore[attr-defined]
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


def test_teardown_gets_error_raised_mid_stream_asgi(asgi_call: Any) -> None:
    seen: list[Any] = []
    app = _midstream_app(seen)
    with pytest.raises(ValueError):
        asyncio.run(asgi_call(app, "GET", "/"))
    assert len(seen) == 1 and isinstance(seen[0], ValueError)


def _overriding_app(mod: ModuleType, cls: type) -> Any:
    """A subclass overriding Flask's dispatch methods, as real apps sometimes do."""

    class App(cls):  # type: ignore[misc, valid-type]
        def dispatch_request(self) -> Any:
            mod.g.trail = ["dispatch"]
            return super().dispatch_request()

        def preprocess_request(self) -> Any:
            if mod.request.args.get("stop"):
                return "stopped by preprocess"
            return super().preprocess_request()

        def process_response(self, response: Any) -> Any:
            response = super().process_response(response)
            response.headers["X-Trail"] = ",".join(mod.g.get("trail", []))
            response.headers["X-Processed"] = "yes"
            return response

        def handle_http_exception(self, e: Any) -> Any:
            if e.code == 404:
                return "custom not found", 404
            return super().handle_http_exception(e)

        def handle_user_exception(self, e: Exception) -> Any:
            if isinstance(e, KeyError):
                return f"handled {e.args[0]}", 409
            return super().handle_user_exception(e)

        def handle_exception(self, e: Exception) -> Any:
            return self.finalize_request(("custom 500: " + type(e).__name__, 500), True)

        def finalize_request(self, rv: Any, from_error_handler: bool = False) -> Any:
            response = super().finalize_request(rv, from_error_handler)
            response.headers["X-Final"] = "1"
            return response

    app = App(__name__)

    @app.after_request
    def after(response: Any) -> Any:
        response.headers["X-After"] = "1"
        return response

    @app.route("/")
    def index() -> str:
        mod.g.trail.append("view")
        return "index"

    @app.route("/key")
    def key() -> str:
        raise KeyError("k")

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.route("/session")
    def counter() -> str:
        mod.session["n"] = mod.session.get("n", 0) + 1
        return str(mod.session["n"])

    app.secret_key = "override"
    return app


@pytest.mark.parametrize("path", ["/", "/?stop=1", "/missing", "/key", "/boom", "/session"])
def test_overridden_dispatch_methods_are_used_like_flask(oracle: Any, path: str) -> None:
    o = oracle(_overriding_app)
    o.check(
        "GET",
        path,
        headers_to_compare=(
            "Content-Type",
            "X-Trail",
            "X-Processed",
            "X-After",
            "X-Final",
            "Set-Cookie",
        ),
    )


def test_overriding_is_detected_per_class() -> None:
    class Plain(Erlen):
        pass

    class Custom(Erlen):
        def process_response(self, response: Any) -> Any:
            return response

    assert not Erlen._flask_dispatch
    assert not Plain._flask_dispatch
    assert Custom._flask_dispatch


def test_sync_view_with_async_hooks_runs_off_the_event_loop(client: Any, protocol: str) -> None:
    """Under ASGI a sync view runs in a worker thread even when its hooks are coroutines
    (they run on the event loop); under WSGI everything runs in the request's thread."""
    import threading

    app = Erlen(__name__)
    seen: dict[str, int] = {}

    @app.before_request
    async def before() -> None:
        seen["hook"] = threading.get_ident()

    @app.after_request
    async def after(response: Response) -> Response:
        seen["after"] = threading.get_ident()
        return response

    @app.route("/")
    def view() -> str:
        seen["view"] = threading.get_ident()
        return "ok"

    c = client(app)
    assert c.get("/").data == b"ok"
    assert seen["hook"] == seen["after"]
    if protocol == "asgi":
        assert seen["view"] != seen["hook"]  # the blocking view never runs on the loop
