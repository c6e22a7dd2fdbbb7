"""The proxies and contexts as Flask's extensions use them: own attributes, isinstance, with."""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
import types
from collections.abc import Iterator
from typing import Any

import flask
import pytest

import erlen
from erlen import Erlen, g, request, session
from erlen.config import Config
from erlen.ctx import AppContext, RequestContext
from erlen.globals import app_ctx, current_app, request_ctx
from erlen.request import Request
from erlen.sessions import SecureCookieSession


@pytest.fixture
def compat_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Behave as if erlen.flask_compat were active, without activating it for the process."""
    fake = types.ModuleType("erlen.flask_compat")
    fake.is_active = lambda: True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "erlen.flask_compat", fake)
    yield


def test_contexts_take_new_attributes(client: Any) -> None:
    """Extensions (Flask-Limiter) keep per-request state on the request context."""
    app = Erlen(__name__)

    @app.before_request
    def remember() -> None:
        request_ctx._limiter_state = ["checked"]  # type: ignore[attr-defined]
        app_ctx.extension_state = 1  # type: ignore[attr-defined]

    @app.route("/")
    def index() -> Any:
        return {
            "request": request_ctx._limiter_state,  # type: ignore[attr-defined]
            "app": app_ctx.extension_state,  # type: ignore[attr-defined]
        }

    assert client(app).get("/").json == {"request": ["checked"], "app": 1}


def test_isinstance_through_the_proxies(client: Any) -> None:
    class MyRequest(Request):
        pass

    class MyApp(Erlen):
        request_class = MyRequest

    app = MyApp(__name__)
    app.secret_key = "k"

    @app.route("/")
    def index() -> Any:
        return {
            "request": isinstance(request, MyRequest),
            "session": isinstance(session, SecureCookieSession),
            "app": isinstance(current_app, MyApp),
            "g": isinstance(g, app.app_ctx_globals_class),
            "request_ctx": isinstance(request_ctx, RequestContext),
            "app_ctx": isinstance(app_ctx, AppContext),
            "class": request.__class__ is MyRequest,
            "not": isinstance(request, dict),
        }

    assert client(app).get("/").json == {
        "request": True,
        "session": True,
        "app": True,
        "g": True,
        "request_ctx": True,
        "app_ctx": True,
        "class": True,
        "not": False,
    }


def test_unbound_proxy_class_is_its_own() -> None:
    assert request.__class__ is type(request)
    assert not isinstance(request, Request)
    assert isinstance(request, erlen.globals.ContextProxy)


def test_with_a_context_through_its_proxy(client: Any) -> None:
    """``with app_ctx:`` pushes the current context again: no teardown until the outer pop."""
    app = Erlen(__name__)
    calls: list[str] = []
    app.teardown_request(lambda e: calls.append("request"))
    app.teardown_appcontext(lambda e: calls.append("app"))

    @app.route("/")
    def index() -> str:
        with app_ctx as a, request_ctx as r:
            assert a is app_ctx._get_current_object()  # type: ignore[attr-defined]
            assert r is request_ctx._get_current_object()  # type: ignore[attr-defined]
        assert calls == []
        assert request.environ["werkzeug.request"] is request._get_current_object()  # type: ignore[attr-defined]
        return "ok"

    assert client(app).get("/").text == "ok"
    assert calls == ["request", "app"]


def test_async_with_app_ctx_through_its_proxy() -> None:
    app = Erlen(__name__)

    async def main() -> None:
        with app.app_context():
            async with app_ctx as ctx:
                assert ctx is app_ctx._get_current_object()  # type: ignore[attr-defined]
            assert current_app.name == app.name

    asyncio.run(main())


def test_environ_names_its_request() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/") as ctx:
        assert request.environ["werkzeug.request"] is ctx.request


def test_reprs_outside_and_inside_compat_mode(compat_on: None) -> None:
    app = Erlen("reprs")
    assert repr(g) == "<LocalProxy unbound>"
    with app.app_context():
        assert repr(g) == "<flask.g of 'reprs'>"


def test_reprs_without_compat_mode() -> None:
    assert "erlen.flask_compat" not in sys.modules  # this test run must not turn it on
    app = Erlen("reprs")
    assert repr(g) == "<ContextProxy unbound g>"
    with app.app_context():
        assert repr(g) == "<erlen.g of 'reprs'>"


def test_from_prefixed_env_reads_flask_prefix_in_compat_mode(
    compat_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_WIRE_TEST", "1")
    monkeypatch.setenv("ERLEN_WIRE_TEST_OTHER", "2")
    config = Config("/")
    config.from_prefixed_env()
    assert config["WIRE_TEST"] == 1
    assert "WIRE_TEST_OTHER" not in config


@pytest.mark.parametrize("debug", [False, True])
def test_bad_json_message_only_in_debug_mode(client: Any, debug: bool) -> None:
    """As Flask: the parser's message (which may quote the body) is not shown in production."""

    def build(module: Any, cls: type) -> Any:
        app = cls(__name__)
        app.config["DEBUG"] = debug

        @app.post("/")
        def index() -> str:
            module.request.get_json()
            return "unreachable"

        return app

    ours = client(build(erlen, Erlen)).post("/", data="{nope", content_type="application/json")
    theirs = (
        build(flask, flask.Flask)
        .test_client()
        .post("/", data="{nope", content_type="application/json")
    )
    assert ours.status_code == theirs.status_code == 400
    assert (b"Failed to decode JSON object" in ours.data) is debug
    assert (b"Failed to decode JSON object" in theirs.data) is debug


def test_test_client_user_agent_is_flasks(client: Any) -> None:
    app = Erlen(__name__)
    app.route("/")(lambda: request.user_agent.string)
    assert client(app).get("/").text == f"Werkzeug/{importlib.metadata.version('werkzeug')}"


@pytest.mark.parametrize(
    ("proxy", "line"),
    [
        (request, "return getattr(ctx.request, name)"),
        (session, "return getattr(ctx.session, name)"),
        (g, "return getattr(ctx.g, name)"),
        (current_app, "return getattr(ctx.app, name)"),
        (request_ctx, "return getattr(ctx, name)"),
    ],
    ids=["request", "session", "g", "current_app", "request_ctx"],
)
def test_a_traceback_through_a_proxy_shows_its_source(proxy: Any, line: str) -> None:
    # The proxies' functions are generated (erlen.globals._proxy_functions); their source
    # is registered with linecache so that a traceback shows what the proxy did.
    import traceback

    app = Erlen(__name__)
    app.secret_key = "k"
    with app.test_request_context("/"), pytest.raises(AttributeError) as info:
        proxy.no_such_attribute  # noqa: B018
    text = "".join(traceback.format_exception(info.value))
    assert line in text
    assert "<erlen.globals: the " in text
