"""Contexts and proxies: per thread, per asyncio task, errors outside contexts, helpers."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

import erlen
from erlen import (
    Erlen,
    copy_current_request_context,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from erlen.globals import _cv_app, _cv_request, app_ctx, request_ctx

TIMEOUT = 10.0


def test_runtime_errors_outside_contexts() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        current_app.name  # noqa: B018
    with pytest.raises(RuntimeError, match="application context"):
        g.x = 1
    with pytest.raises(RuntimeError, match="request context"):
        request.args  # noqa: B018
    with pytest.raises(RuntimeError, match="request context"):
        session.get("x")
    with pytest.raises(RuntimeError, match="request context"):
        request_ctx.request  # noqa: B018
    with pytest.raises(RuntimeError, match="application context"):
        app_ctx.app  # noqa: B018
    assert not has_app_context()
    assert not has_request_context()
    assert not request
    assert not current_app


def test_app_context() -> None:
    app = Erlen(__name__)
    with app.app_context() as ctx:
        assert current_app._get_current_object() is app  # type: ignore[attr-defined]
        assert current_app.name == app.name
        assert has_app_context()
        assert not has_request_context()
        g.thing = 1
        assert g.thing == 1
        assert g.get("thing") == 1
        assert g.pop("thing") == 1
        assert g.setdefault("other", 2) == 2
        assert "other" in g
        assert list(g) == ["other"]
        assert app_ctx._get_current_object() is ctx  # type: ignore[attr-defined]
        assert app_ctx.g is ctx.g
        with pytest.raises(RuntimeError, match="request context"):
            request.path  # noqa: B018
    assert _cv_app.get(None) is None


def test_nested_app_contexts_of_two_apps() -> None:
    one, two = Erlen("one"), Erlen("two")
    with one.app_context():
        g.v = "one"
        with two.app_context():
            assert current_app.name == "two"
            assert g.get("v") is None
        assert current_app.name == "one"
        assert g.v == "one"


def test_app_context_teardown_gets_exception() -> None:
    app = Erlen(__name__)
    seen: list[Any] = []

    @app.teardown_appcontext
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    with pytest.raises(ValueError), app.app_context():
        raise ValueError("in context")
    assert isinstance(seen[0], ValueError)
    with app.app_context():
        pass
    assert seen[1] is None


def test_test_request_context() -> None:
    app = Erlen(__name__)

    @app.route("/user/<name>", methods=["GET", "POST"])
    def user(name: str) -> str:
        return name

    with app.test_request_context(
        "/user/ann?x=1", method="POST", headers={"X-A": "b"}, data={"f": "v"}
    ) as ctx:
        assert has_request_context() and has_app_context()
        assert request.path == "/user/ann"
        assert request.method == "POST"
        assert request.args["x"] == "1"
        assert request.form["f"] == "v"
        assert request.headers["X-A"] == "b"
        assert request.endpoint == "user"
        assert request.view_args == {"name": "ann"}
        assert request_ctx._get_current_object() is ctx  # type: ignore[attr-defined]
        assert erlen.url_for("user", name="bo") == "/user/bo"
        assert current_app.name == app.name
    assert _cv_request.get(None) is None
    assert _cv_app.get(None) is None


def test_test_request_context_base_url_and_subdomain() -> None:
    app = Erlen(__name__)
    app.config["SERVER_NAME"] = "example.test"
    with app.test_request_context("/p", subdomain="api", url_scheme="https"):
        assert request.url == "https://api.example.test/p"
    with app.test_request_context("/p", base_url="http://other.test:81/root"):
        assert request.url == "http://other.test:81/root/p"
        assert request.root_path == "/root"


def test_request_context_reuses_outer_app_context() -> None:
    app = Erlen(__name__)
    with app.app_context():
        g.outer = True
        with app.test_request_context():
            assert g.outer is True
        assert _cv_request.get(None) is None
        assert _cv_app.get(None) is not None


def test_manual_push_and_pop() -> None:
    app = Erlen(__name__)
    ctx = app.test_request_context("/pushed")
    ctx.push()
    try:
        assert request.path == "/pushed"
    finally:
        ctx.pop()
    assert not has_request_context()
    app_context = app.app_context()
    app_context.push()
    app_context.pop()
    assert not has_app_context()


def test_popping_wrong_context_is_an_error() -> None:
    app = Erlen(__name__)
    outer = app.app_context()
    inner = app.app_context()
    outer.push()
    inner.push()
    with pytest.raises(AssertionError, match="Popped wrong app context"):
        outer.pop()
    # The failed pop still reset the variable to what it was before `outer` was pushed.
    assert _cv_app.get(None) is None


def test_copy_current_request_context_in_thread(client: Any) -> None:
    app = Erlen(__name__)
    results: list[Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        results.append(("teardown", threading.current_thread().name))

    @app.route("/")
    def index() -> str:
        g.marker = "from view"

        @copy_current_request_context
        def work(n: int) -> str:
            # Same request and app; its own g (as in Flask), so resources are not shared.
            results.append((request.path, request.args["q"], current_app.name, g.get("marker")))
            g.worker = n
            return f"done {n}"

        out: list[str] = []
        thread = threading.Thread(target=lambda: out.append(work(7)), name="worker")
        thread.start()
        thread.join(TIMEOUT)
        assert out == ["done 7"]
        assert "worker" not in g
        return "started"

    assert client(app).get("/?q=1").text == "started"
    assert results[0] == ("/", "1", app.name, None)
    assert results[1] == ("teardown", "worker")  # the copied context's own teardown
    assert results[2][0] == "teardown" and results[2][1] != "worker"  # the request's
    assert len(results) == 3


def test_copy_current_request_context_like_flask(oracle: Any) -> None:
    def build(mod: ModuleType, cls: type) -> Any:
        app = cls(__name__)
        log: list[str] = []

        @app.teardown_request
        def td(exc: BaseException | None) -> None:
            log.append(f"teardown {threading.current_thread().name == 'worker'}")

        @app.teardown_appcontext
        def td_app(exc: BaseException | None) -> None:
            log.append(f"teardown_app {threading.current_thread().name == 'worker'}")

        @app.route("/")
        def index() -> Any:
            mod.g.marker = "view"
            log.clear()

            @mod.copy_current_request_context
            def work() -> None:
                log.append(f"{mod.request.args['q']} {mod.g.get('marker')} {mod.session.get('s')}")

            thread = threading.Thread(target=work, name="worker")
            thread.start()
            thread.join(TIMEOUT)
            return list(log)

        return app

    o = oracle(build)
    o.check("GET", "/?q=x")


def test_copy_current_request_context_outside_request() -> None:
    with pytest.raises(RuntimeError, match="request context"):
        copy_current_request_context(lambda: None)


def test_contexts_are_per_thread_wsgi() -> None:
    """Two threads in the WSGI door at once each see their own request and ``g``."""
    app = Erlen(__name__)
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    @app.route("/<name>")
    def who(name: str) -> str:
        g.name = name
        barrier.wait()  # both requests are inside their views now
        return f"{request.path} {g.name} {request.args['n']}"

    def call(name: str) -> str:
        return app.test_client().get(f"/{name}?n={name}").text

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(call, "alice")
        b = pool.submit(call, "bob")
        assert a.result(TIMEOUT) == "/alice alice alice"
        assert b.result(TIMEOUT) == "/bob bob bob"


def test_concurrent_async_requests_asgi(asgi_call: Any) -> None:
    """Two async views running at once on one loop each see their own request and ``g``."""
    app = Erlen(__name__)
    state: dict[str, asyncio.Event] = {}

    @app.route("/first")
    async def first() -> str:
        g.who = "first"
        state["first_in"].set()
        await state["second_done"].wait()  # the second request runs while this one waits
        return f"{request.path} {request.args['id']} {g.who}"

    @app.route("/second")
    async def second() -> str:
        await state["first_in"].wait()
        g.who = "second"
        rv = f"{request.path} {request.args['id']} {g.who}"
        state["second_done"].set()
        return rv

    async def main() -> list[Any]:
        state["first_in"] = asyncio.Event()
        state["second_done"] = asyncio.Event()
        return await asyncio.wait_for(
            asyncio.gather(
                asgi_call(app, "GET", "/first", query_string=b"id=1"),
                asgi_call(app, "GET", "/second", query_string=b"id=2"),
            ),
            TIMEOUT,
        )

    (s1, _, b1), (s2, _, b2) = asyncio.run(main())
    assert (s1, b1) == (200, b"/first 1 first")
    assert (s2, b2) == (200, b"/second 2 second")


def test_concurrent_sync_requests_asgi(asgi_call: Any) -> None:
    """Sync views run in the thread pool under ASGI; each thread has the right context."""
    app = Erlen(__name__)
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    @app.route("/<name>")
    def who(name: str) -> str:
        g.name = name
        barrier.wait()
        return (
            f"{request.path} {g.name} {threading.current_thread() is not threading.main_thread()}"
        )

    async def main() -> list[Any]:
        return await asyncio.wait_for(
            asyncio.gather(asgi_call(app, "GET", "/x"), asgi_call(app, "GET", "/y")), TIMEOUT
        )

    (_, _, b1), (_, _, b2) = asyncio.run(main())
    assert b1 == b"/x x True"
    assert b2 == b"/y y True"


def test_contexts_per_task_inside_a_view(client: Any) -> None:
    """Tasks spawned by an async view inherit the context (contextvars are copied)."""
    app = Erlen(__name__)

    @app.route("/")
    async def index() -> str:
        async def child(n: int) -> str:
            await asyncio.sleep(0)
            return f"{n}:{request.args['v']}"

        parts = await asyncio.gather(*(child(i) for i in range(3)))
        return ",".join(parts)

    assert client(app).get("/?v=z").text == "0:z,1:z,2:z"


def test_no_context_leaks_between_requests(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return str(has_request_context())

    c = client(app)
    assert c.get("/").text == "True"
    assert not has_request_context()
    assert not has_app_context()


@pytest.mark.parametrize("view_kind", ["sync", "async"])
def test_popping_without_teardown_functions_closes_and_signals(client: Any, view_kind: str) -> None:
    """With no teardown function the door pops without awaiting: the request is still
    closed (its uploads too), ``appcontext_popped`` still sent, and a teardown function
    added later runs."""
    from io import BytesIO

    from erlen import signals

    app = Erlen(__name__)
    uploads: list[Any] = []
    log: list[str] = []

    def keep_upload() -> str:
        uploads.append(request.files["f"])
        return "ok"

    async def keep_upload_async() -> str:
        return keep_upload()

    app.add_url_rule(
        "/", "up", keep_upload if view_kind == "sync" else keep_upload_async, methods=["POST"]
    )
    c = client(app)
    with signals.appcontext_popped.connected_to(lambda sender: log.append("popped"), app):
        assert c.post("/", data={"f": (BytesIO(b"data"), "f.txt")}).text == "ok"
    assert log == ["popped"]
    assert uploads[0].stream.closed
    assert not has_request_context() and not has_app_context()

    app.teardown_request(lambda exc: log.append(f"teardown {exc!r}"))
    assert c.post("/", data={"f": (BytesIO(b"data"), "f.txt")}).text == "ok"
    assert log == ["popped", "teardown None"]
    assert uploads[1].stream.closed


def test_client_context_manager_keeps_last_request(client: Any) -> None:
    app = Erlen(__name__)
    app.secret_key = "s"

    @app.route("/<name>")
    def index(name: str) -> str:
        g.name = name
        erlen.session["name"] = name
        return name

    with client(app) as c:
        c.get("/first")
        assert request.path == "/first"
        c.get("/second?x=1")
        assert request.path == "/second"
        assert request.args["x"] == "1"
        assert g.name == "second"
        assert erlen.session["name"] == "second"
        assert current_app.name == app.name
    assert not has_request_context()
    assert not has_app_context()


def test_globals_module_names() -> None:
    from erlen import globals as gl

    for name in ("current_app", "g", "request", "session", "request_ctx", "app_ctx"):
        assert hasattr(gl, name), name
    assert repr(request).startswith("<")


def test_proxy_lookup_errors_from_the_object_are_not_context_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyError raised by the proxied object is the object's error, not "outside of context"."""
    from erlen.ctx import RequestContext

    def boom(self: Any) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(RequestContext, "boom", property(boom), raising=False)
    app = erlen.Erlen(__name__)
    with app.test_request_context("/"):
        with pytest.raises(KeyError):
            request_ctx.boom  # noqa: B018
        with pytest.raises(AttributeError):
            request_ctx.absent  # noqa: B018
        with pytest.raises(AttributeError):
            g.absent  # noqa: B018
        g.value = 1
        assert app_ctx.g.value == 1
        assert app_ctx._get_current_object().g is g._get_current_object()
    with pytest.raises(RuntimeError, match="request context"):
        request_ctx.boom  # noqa: B018
    with pytest.raises(RuntimeError, match="application context"):
        g.value = 1
    with pytest.raises(RuntimeError, match="application context"):
        app_ctx.g = None


def test_get_app_context_and_get_request_context() -> None:
    from erlen.globals import get_app_context, get_request_context

    app = Erlen(__name__)
    assert get_app_context() is None and get_request_context() is None
    with app.app_context() as actx:
        assert get_app_context() is actx and get_request_context() is None
    with app.test_request_context("/") as rctx:
        assert get_request_context() is rctx
        ctx = get_app_context()
        assert ctx is not None and ctx.app is app and ctx.g is app_ctx.g
    assert get_app_context() is None and get_request_context() is None


# -- one context variable: nesting keeps Flask 3.1's answers ------------------------------------


def test_nested_contexts_answer_like_flask(oracle: Any) -> None:
    """An app context pushed in a view, a request context pushed in it, and the teardowns
    of each: what ``request``, ``g``, ``session`` and ``app_ctx`` stand for at each step."""

    def build(mod: ModuleType, cls: type) -> Any:
        import importlib

        module_globals = importlib.import_module(f"{mod.__name__}.globals")
        app = cls(__name__)
        app.secret_key = "k"
        log: list[Any] = []

        def where(label: str) -> None:
            log.append(
                [
                    label,
                    mod.has_app_context(),
                    mod.has_request_context(),
                    mod.request.path if mod.has_request_context() else None,
                    sorted(mod.g) if mod.has_app_context() else None,
                ]
            )

        @app.teardown_request
        def td(exc: BaseException | None) -> None:
            where("teardown_request")

        @app.teardown_appcontext
        def td_app(exc: BaseException | None) -> None:
            where("teardown_appcontext")

        @app.route("/view")
        def view() -> Any:
            log.clear()
            mod.g.view = 1
            outer = module_globals.app_ctx._get_current_object()
            with app.app_context() as inner:
                mod.g.inner = 1
                where("app context in a view")
                mod.session["seen"] = mod.request.args.get("q")
                log.append(module_globals.app_ctx._get_current_object() is inner)
                log.append(module_globals.request_ctx.request is mod.request._get_current_object())
            where("after it")
            with app.test_request_context("/nested"):
                where("request context in a view")
                log.append(module_globals.app_ctx._get_current_object() is outer)
            where("after that")
            log.append(dict(mod.session))
            return list(log)

        @app.route("/outside")
        def outside() -> Any:
            log.clear()
            other = cls("other")
            with other.app_context():
                log.append(mod.current_app.name)
                with app.test_request_context("/in-other"):
                    log.append([mod.current_app.name, mod.request.path, sorted(mod.g)])
                log.append(mod.current_app.name)
            with app.app_context() as actx:
                mod.g.a = 1
                with app.test_request_context("/same-app"):
                    log.append(
                        [sorted(mod.g), module_globals.app_ctx._get_current_object() is actx]
                    )
                    mod.g.b = 2
                log.append(sorted(mod.g))
            return list(log)

        return app

    o = oracle(build)
    o.check("GET", "/view?q=x")
    o.check("GET", "/outside")


def test_cv_request_is_a_view_of_the_one_variable() -> None:
    app = Erlen(__name__)
    assert _cv_request.get(None) is None
    with pytest.raises(LookupError):
        _cv_request.get()
    with app.app_context():
        assert _cv_request.get("default") == "default"
    with app.test_request_context("/r") as ctx:
        assert _cv_request.get() is ctx and _cv_app.get() is ctx
        with app.app_context() as inner:
            # An app context pushed within a request: the request stays visible.
            assert _cv_app.get() is inner and _cv_request.get() is ctx
            assert request.path == "/r"
        other = app.test_request_context("/other")
        other.push()
        other.pop()
    # set/reset make a (pushed before) request context current again, as Flask's variable.
    token = _cv_request.set(ctx)
    try:
        assert request.path == "/r" and current_app._get_current_object() is app  # type: ignore[attr-defined]
    finally:
        _cv_request.reset(token)
    assert not has_request_context() and not has_app_context()


def test_a_stand_in_in_the_variable_is_no_request() -> None:
    # Tests (Flask's too) put a stand-in with an ``app`` in the app context variable.
    from types import SimpleNamespace

    app = Erlen(__name__)
    token = _cv_app.set(SimpleNamespace(app=app))  # type: ignore[arg-type]
    try:
        assert current_app.name == app.name
        assert _cv_request.get(None) is None and not has_request_context()
        assert not request
        with pytest.raises(RuntimeError, match="request context"):
            request._get_current_object()  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="request context"):
            assert request.path
    finally:
        _cv_app.reset(token)


@pytest.mark.parametrize("view", ["async", "def", "def-stream", "async-stream"])
def test_app_teardown_of_a_request_sees_no_request_on_both_doors(client: Any, view: str) -> None:
    """As in Flask (where the request context is popped first), whichever path tears the
    request down: an async view, a ``def`` view (under ASGI its worker thread runs the
    teardown), a streamed body (torn down when the server closes it) or an async stream."""
    from erlen import stream_with_context

    app = Erlen(__name__)
    seen: list[Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(("request", has_request_context(), g.get("v")))

    @app.teardown_appcontext
    def td_app(exc: BaseException | None) -> None:
        seen.append(("app", has_request_context(), has_app_context(), g.get("v")))

    if view == "async":

        @app.get("/")
        async def index() -> str:
            g.v = 1
            return "ok"

    elif view == "def":

        @app.get("/")
        def index() -> str:
            g.v = 1
            return "ok"

    elif view == "def-stream":

        @app.get("/")
        def index() -> Any:
            g.v = 1

            def body() -> Any:
                yield "o"
                yield "k"

            return stream_with_context(body())

    else:

        @app.get("/")
        async def index() -> Any:
            g.v = 1

            async def body() -> Any:
                yield "o"
                yield "k"

            return body()

    response = client(app).get("/")
    assert response.data == b"ok"
    response.close()
    assert seen == [("request", True, 1), ("app", False, True, 1)]
    assert not has_app_context()


def test_an_overridden_app_context_is_pushed_beneath_and_popped_once(client: Any) -> None:
    """An app whose app_context() is its own: that context is pushed beneath the request
    context and popped through its own pop/apop once, on both doors."""
    from erlen import signals

    class MarkedApp(Erlen):
        def app_context(self) -> Any:
            ctx = super().app_context()
            ctx.g.marked = True
            return ctx

    app = MarkedApp(__name__)
    seen: list[Any] = []

    @app.teardown_request
    async def td(exc: BaseException | None) -> None:
        seen.append(("request", has_request_context(), g.get("marked")))

    @app.teardown_appcontext
    async def td_app(exc: BaseException | None) -> None:
        seen.append(("app", has_request_context(), g.get("marked")))

    @app.get("/")
    async def index() -> str:
        return str(g.marked)

    def popped(sender: Any, **kwargs: Any) -> None:
        seen.append("popped")

    signals.appcontext_popped.connect(popped, app)
    try:
        assert client(app).get("/").data == b"True"
    finally:
        signals.appcontext_popped.disconnect(popped, app)
    assert seen == [("request", True, True), ("app", False, True), "popped"]
    assert not has_app_context()
