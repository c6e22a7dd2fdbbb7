"""Flask's dispatch methods replaced on the app instance, as extensions do, are honoured."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import pytest

from erlen import Erlen, Response, g
from erlen.app import _translate_flask_run_options


def _app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/boom")
    def boom() -> str:
        raise KeyError("k")

    @app.route("/crash")
    def crash() -> str:
        raise ZeroDivisionError()

    return app


def _route_errors(app: Erlen) -> None:
    """What Flask-RESTful's Api does: wrap the app's handlers with an error router."""

    def error_router(original: Any, e: Exception) -> Any:
        if isinstance(e, KeyError):
            return f"routed {e.args[0]}", 418
        return original(e)

    app.handle_user_exception = partial(error_router, app.handle_user_exception)  # type: ignore[method-assign]
    app.handle_exception = partial(error_router, app.handle_exception)  # type: ignore[method-assign]


@pytest.mark.parametrize("after_first_request", [False, True])
def test_handle_user_exception_replaced_on_the_instance(
    client: Any, after_first_request: bool
) -> None:
    app = _app()
    c = client(app)
    if after_first_request:
        assert c.get("/").data == b"index"
    _route_errors(app)
    rv = c.get("/boom")
    assert (rv.status_code, rv.data) == (418, b"routed k")
    assert c.get("/").data == b"index"
    assert c.get("/missing").status_code == 404  # the original handler, through the router


def test_handle_exception_replaced_on_the_instance(client: Any) -> None:
    app = _app()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    seen: list[str] = []

    def handle_exception(e: Exception) -> Response:
        seen.append(type(e).__name__)
        return app.finalize_request(("handled 500", 500), True)

    c = client(app)
    assert c.get("/crash").status_code == 500
    app.handle_exception = handle_exception  # type: ignore[method-assign]
    rv = c.get("/crash")
    assert rv.data == b"handled 500"
    assert seen == ["ZeroDivisionError"]


def test_process_response_and_ensure_sync_replaced_on_the_instance(client: Any) -> None:
    app = _app()
    wrapped: list[str] = []

    @app.after_request
    def after(response: Response) -> Response:
        response.headers["X-After"] = "1"
        return response

    original_process = app.process_response
    original_ensure_sync = app.ensure_sync

    def process_response(response: Response) -> Response:
        response = original_process(response)
        response.headers["X-Processed"] = "1"
        return response

    def ensure_sync(func: Any) -> Any:
        wrapped.append(getattr(func, "__name__", "?"))
        return original_ensure_sync(func)

    c = client(app)
    c.get("/")
    app.process_response = process_response  # type: ignore[method-assign]
    app.ensure_sync = ensure_sync  # type: ignore[method-assign]
    rv = c.get("/")
    assert rv.headers["X-Processed"] == "1"
    assert rv.headers["X-After"] == "1"
    assert "index" in wrapped and "after" in wrapped


def test_do_teardown_request_replaced_on_the_instance(client: Any) -> None:
    app = _app()
    torn: list[Any] = []
    original = app.do_teardown_request

    def do_teardown_request(exc: Any = None) -> None:
        torn.append(exc)
        original(exc)

    app.do_teardown_request = do_teardown_request  # type: ignore[method-assign]
    client(app).get("/")
    assert torn == [None]


def test_restoring_the_method_restores_the_fast_path() -> None:
    app = _app()
    assert not app._flask_dispatch
    _route_errors(app)
    assert app._flask_dispatch
    assert not Erlen._flask_dispatch  # only this app
    del app.handle_user_exception
    del app.handle_exception
    assert not app._flask_dispatch
    assert not Erlen._flask_dispatch


def test_app_context_replaced_on_the_instance(client: Any) -> None:
    app = _app()
    original = app.app_context

    def app_context() -> Any:
        ctx = original()
        ctx.g.marked = True
        return ctx

    @app.route("/marked")
    def marked() -> str:
        return str(g.get("marked"))

    c = client(app)
    assert c.get("/marked").data == b"None"
    app.app_context = app_context  # type: ignore[method-assign]
    assert c.get("/marked").data == b"True"


def test_wsgi_app_replaced_on_the_instance_after_first_request() -> None:
    app = _app()
    calls: list[str] = []
    c = app.test_client()
    c.get("/")
    inner = app.wsgi_app

    def middleware(environ: Any, start_response: Any) -> Any:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = middleware  # type: ignore[method-assign]
    assert c.get("/").data == b"index"
    assert calls == ["/"]
    del app.wsgi_app
    c.get("/")
    assert calls == ["/"]


# -- app.run: Flask's keywords ------------------------------------------------------------


def test_flask_run_keywords_are_mapped_to_uvicorn() -> None:
    out = _translate_flask_run_options(
        {
            "reloader_interval": 2,
            "exclude_patterns": ["*.tmp"],
            "ssl_context": ("cert.pem", "key.pem"),
            "use_reloader": True,
            "threaded": True,
        },
        debug=False,
    )
    assert out == {
        "reload_delay": 2.0,
        "reload_excludes": ["*.tmp"],
        "ssl_certfile": "cert.pem",
        "ssl_keyfile": "key.pem",
        "use_reloader": True,  # left to run_app
        "threaded": True,
    }


def test_flask_run_ssl_context_object_goes_to_a_factory() -> None:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    out = _translate_flask_run_options({"ssl_context": context}, debug=False)
    assert out["ssl_context_factory"](None, None) is context
    with pytest.raises(ValueError, match="ssl_context"):
        _translate_flask_run_options({"ssl_context": 42}, debug=False)


@pytest.mark.parametrize(
    ("name", "value", "debug"),
    [
        ("use_debugger", False, True),
        ("use_evalex", True, True),
        ("passthrough_errors", True, False),
        ("extra_files", ["x.cfg"], False),
        ("reloader_type", "stat", False),
        ("request_handler", object(), False),
        ("static_files", {"/s": "s"}, False),
    ],
)
def test_flask_run_keywords_without_an_equivalent_warn(name: str, value: Any, debug: bool) -> None:
    with pytest.warns(RuntimeWarning, match=f"app.run\\({name}=...\\) is ignored"):
        out = _translate_flask_run_options({name: value}, debug=debug)
    assert out == {}


def test_flask_run_keywords_with_flasks_meaning_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _translate_flask_run_options(
            {"use_debugger": True, "use_evalex": False, "passthrough_errors": False}, debug=False
        )
    assert out == {}


def test_app_run_accepts_flasks_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.delenv("ERLEN_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    app = _app()
    with pytest.warns(RuntimeWarning, match="passthrough_errors"):
        app.run(
            port=5099,
            load_dotenv=False,
            use_reloader=False,
            use_debugger=True,
            threaded=True,
            processes=1,
            passthrough_errors=True,
        )
    (call,) = calls
    assert call["port"] == 5099
    assert "use_debugger" not in call and "passthrough_errors" not in call


def test_methods_the_fast_path_calls_are_honoured_when_replaced(client: Any) -> None:
    """make_response, log_exception and url_for are called through the app on every path."""
    from erlen import url_for

    app = _app()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    logged: list[str] = []
    original_make_response = app.make_response

    @app.route("/link")
    def link() -> str:
        return url_for("index")

    def make_response(rv: Any) -> Response:
        response = original_make_response(rv)
        response.headers["X-Made"] = "1"
        return response

    c = client(app)
    c.get("/")
    app.make_response = make_response  # type: ignore[method-assign]
    app.log_exception = lambda exc_info: logged.append(exc_info[0].__name__)  # type: ignore[method-assign]
    app.url_for = lambda endpoint, **values: f"/custom/{endpoint}"  # type: ignore[method-assign]
    assert c.get("/").headers["X-Made"] == "1"
    assert c.get("/crash").status_code == 500
    assert logged == ["ZeroDivisionError"]
    assert c.get("/link").data == b"/custom/index"
    assert not app._flask_dispatch  # none of these needs the Flask-shaped path
