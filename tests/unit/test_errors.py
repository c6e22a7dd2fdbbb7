"""abort, error handlers (by code and class, MRO), unhandled errors and propagation."""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType
from typing import Any

import pytest
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    NotFound,
)

import erlen
from erlen import Erlen, Response, abort, request


class AppError(Exception):
    pass


class SpecificError(AppError):
    pass


class TeapotError(HTTPException):
    code = 418
    description = "short and stout"


class SeeOther(HTTPException):
    """Builds its own response and skips HTTPException.__init__ (as some apps' redirects do)."""

    code = 303

    def __init__(self, url: str) -> None:
        self.new_url = url

    def get_response(self, environ: Any = None, scope: Any = None) -> Any:
        from werkzeug.utils import redirect

        return redirect(self.new_url, 303)


def _errors_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/abort/<int:code>")
    def do_abort(code: int) -> Any:
        mod.abort(code)

    @app.route("/abort-description")
    def abort_description() -> Any:
        mod.abort(403, description="no entry")

    @app.route("/abort-response")
    def abort_response() -> Any:
        mod.abort(mod.Response("custom body", 409, {"X-Abort": "1"}))

    @app.route("/abort-405")
    def abort_405() -> Any:
        mod.abort(405, valid_methods=["GET", "POST"])

    @app.route("/raise/specific")
    def raise_specific() -> Any:
        raise SpecificError("specific")

    @app.route("/raise/base")
    def raise_base() -> Any:
        raise AppError("base")

    @app.route("/raise/teapot")
    def raise_teapot() -> Any:
        raise TeapotError()

    @app.route("/raise/see-other")
    def raise_see_other() -> Any:
        raise SeeOther("/elsewhere")

    @app.route("/raise/keyerror")
    def raise_keyerror() -> Any:
        return mod.request.form["missing"]

    @app.route("/raise/notfound")
    def raise_notfound() -> Any:
        raise NotFound("gone fishing")

    @app.errorhandler(AppError)
    def handle_app_error(e: AppError) -> Any:
        return {"handled": type(e).__name__, "msg": str(e)}, 400

    @app.errorhandler(404)
    def handle_404(e: HTTPException) -> Any:
        return f"custom 404: {e.description}", 404, {"X-Handler": "404"}

    def handle_teapot(e: HTTPException) -> Any:
        return mod.Response(f"teapot {e.code}", e.code)

    app.register_error_handler(TeapotError, handle_teapot)

    @app.errorhandler(403)
    def handle_403(e: HTTPException) -> Any:
        return mod.jsonify(error=e.description), 403

    return app


ERROR_PATHS = [
    "/abort/400",
    "/abort/401",
    "/abort/403",
    "/abort/404",
    "/abort/410",
    "/abort/418",
    "/abort/429",
    "/abort/500",
    "/abort/503",
    "/abort-description",
    "/abort-response",
    "/abort-405",
    "/raise/specific",
    "/raise/base",
    "/raise/teapot",
    "/raise/see-other",
    "/raise/keyerror",
    "/raise/notfound",
    "/no/such/route",
]


@pytest.mark.parametrize("path", ERROR_PATHS)
def test_errors_match_flask(oracle: Any, path: str) -> None:
    o = oracle(_errors_app)
    o.check(
        "GET",
        path,
        headers_to_compare=("Content-Type", "X-Abort", "X-Handler", "Allow", "Location"),
    )


def test_abort_raises_werkzeug_exceptions() -> None:
    with pytest.raises(NotFound):
        abort(404)
    with pytest.raises(Forbidden) as info:
        abort(403, "nope")
    assert info.value.description == "nope"
    with pytest.raises(HTTPException) as info2:
        abort(Response("body", 400))
    assert info2.value.response is not None
    with pytest.raises(LookupError):
        abort(999)
    app = Erlen(__name__)
    with app.app_context(), pytest.raises(BadRequest):
        abort(400)


def test_custom_aborter() -> None:
    from werkzeug.exceptions import Aborter

    class MyAborter(Aborter):
        def __call__(self, code: Any, *args: Any, **kwargs: Any) -> Any:
            raise TeapotError()

    class MyApp(Erlen):
        def make_aborter(self) -> Any:
            return MyAborter()

    app = MyApp(__name__)
    with app.app_context(), pytest.raises(TeapotError):
        abort(404)

    class ByClass(Erlen):
        aborter_class = MyAborter  # Flask's attribute for the same thing

    app = ByClass(__name__)
    assert isinstance(app.aborter, MyAborter)
    with app.app_context(), pytest.raises(TeapotError):
        abort(404)


def test_handler_resolved_by_mro(client: Any) -> None:
    app = Erlen(__name__)

    @app.errorhandler(Exception)
    def generic(e: Exception) -> Any:
        return f"generic {type(e).__name__}", 500

    @app.errorhandler(AppError)
    def app_error(e: Exception) -> Any:
        return f"app {type(e).__name__}", 400

    @app.route("/specific")
    def specific() -> Any:
        raise SpecificError()

    @app.route("/value")
    def value() -> Any:
        raise ValueError()

    @app.route("/http")
    def http() -> Any:
        abort(404)

    c = client(app)
    assert c.get("/specific").text == "app SpecificError"
    assert c.get("/value").text == "generic ValueError"
    # An Exception handler also catches HTTP exceptions (as in Flask).
    assert c.get("/http").text == "generic NotFound"


def test_http_exception_handler_catches_all_codes(client: Any) -> None:
    app = Erlen(__name__)

    @app.errorhandler(HTTPException)
    def any_http(e: HTTPException) -> Any:
        return {"code": e.code, "name": e.name}, e.code

    @app.route("/forbidden")
    def forbidden() -> Any:
        abort(403)

    c = client(app)
    assert c.get("/forbidden").json == {"code": 403, "name": "Forbidden"}
    assert c.get("/missing").json == {"code": 404, "name": "Not Found"}
    assert c.post("/forbidden").json == {"code": 405, "name": "Method Not Allowed"}


def test_code_handler_beats_class_handler(client: Any) -> None:
    app = Erlen(__name__)

    @app.errorhandler(HTTPException)
    def any_http(e: HTTPException) -> str:
        return "any"

    @app.errorhandler(404)
    def nf(e: HTTPException) -> tuple[str, int]:
        return "by code", 404

    assert client(app).get("/x").text == "by code"


def test_register_error_handler_rejects_bad_keys() -> None:
    app = Erlen(__name__)
    with pytest.raises(ValueError):
        app.register_error_handler(999, lambda e: "x")
    with pytest.raises(TypeError):
        app.register_error_handler(AppError(), lambda e: "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        app.register_error_handler(int, lambda e: "x")  # type: ignore[arg-type]


def test_error_handler_may_return_any_view_return(client: Any) -> None:
    app = Erlen(__name__)
    kinds = {
        "str": lambda: "text",
        "tuple": lambda: ("tuple", 409),
        "dict": lambda: {"d": 1},
        "list": lambda: [1, 2],
        "response": lambda: Response("resp", 410),
        "headers": lambda: ("h", 400, {"X-H": "1"}),
    }

    class Kind(Exception):
        pass

    @app.errorhandler(Kind)
    def handle(e: Kind) -> Any:
        return kinds[str(e)]()

    @app.route("/<kind>")
    def raise_kind(kind: str) -> Any:
        raise Kind(kind)

    c = client(app)
    assert (c.get("/str").status_code, c.get("/str").text) == (200, "text")
    assert (c.get("/tuple").status_code, c.get("/tuple").text) == (409, "tuple")
    assert c.get("/dict").json == {"d": 1}
    assert c.get("/list").json == [1, 2]
    assert c.get("/response").status_code == 410
    r = c.get("/headers")
    assert (r.status_code, r.headers["X-H"]) == (400, "1")


def test_async_error_handler(client: Any) -> None:
    app = Erlen(__name__)

    @app.errorhandler(AppError)
    async def handle(e: AppError) -> Any:
        await asyncio.sleep(0)
        return f"async handled {e}", 400

    @app.errorhandler(500)
    async def handle_500(e: InternalServerError) -> Any:
        await asyncio.sleep(0)
        return f"async 500 {type(e.original_exception).__name__}", 500

    @app.route("/sync")
    def sync_view() -> Any:
        raise AppError("s")

    @app.route("/async")
    async def async_view() -> Any:
        raise AppError("a")

    @app.route("/crash")
    async def crash() -> Any:
        raise RuntimeError("boom")

    app.logger.disabled = True
    c = client(app)
    assert c.get("/sync").text == "async handled s"
    assert c.get("/async").text == "async handled a"
    assert c.get("/crash").text == "async 500 RuntimeError"


def test_unhandled_exception_is_logged_500(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = Erlen("errors_logged")

    @app.route("/crash")
    def crash() -> Any:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, logger="errors_logged"):
        r = client(app).get("/crash")
    assert r.status_code == 500
    assert b"Internal Server Error" in r.data
    records = [rec for rec in caplog.records if rec.name == "errors_logged"]
    assert len(records) == 1
    # Flask's message, which log filters and alerts written for Flask match on.
    assert records[0].getMessage() == "Exception on /crash [GET]"
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_500_handler_gets_original_exception(client: Any) -> None:
    app = Erlen(__name__)
    app.logger.disabled = True

    @app.errorhandler(500)
    def on_500(e: InternalServerError) -> Any:
        return {"original": repr(e.original_exception)}, 500

    @app.route("/crash")
    def crash() -> Any:
        raise KeyError("k")

    r = client(app).get("/crash")
    assert r.status_code == 500
    assert r.json == {"original": "KeyError('k')"}


def test_500_handler_by_exception_class_matches_flask(oracle: Any) -> None:
    def build(mod: ModuleType, cls: type) -> Any:
        app = cls(__name__)
        app.logger.disabled = True

        @app.errorhandler(InternalServerError)
        def on_500(e: InternalServerError) -> Any:
            return f"ise {type(e.original_exception).__name__}", 500

        @app.route("/crash")
        def crash() -> Any:
            raise ZeroDivisionError()

        @app.route("/abort500")
        def abort500() -> Any:
            mod.abort(500)

        return app

    o = oracle(build)
    o.check("GET", "/crash")
    o.check("GET", "/abort500")


@pytest.mark.parametrize(
    ("config", "propagates"),
    [
        ({}, False),
        ({"TESTING": True}, True),
        ({"PROPAGATE_EXCEPTIONS": True}, True),
        ({"TESTING": True, "PROPAGATE_EXCEPTIONS": False}, False),
        ({"DEBUG": True}, True),
    ],
)
def test_exception_propagation(client: Any, config: dict[str, Any], propagates: bool) -> None:
    app = Erlen(__name__)
    app.config.update(config)
    app.logger.disabled = True

    @app.route("/crash")
    def crash() -> Any:
        raise RuntimeError("propagate me")

    c = client(app)
    if propagates:
        with pytest.raises(RuntimeError, match="propagate me"):
            c.get("/crash")
    else:
        assert c.get("/crash").status_code == 500


def test_http_exceptions_never_propagate_in_testing(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/forbidden")
    def forbidden() -> Any:
        abort(403)

    assert client(app).get("/forbidden").status_code == 403


def test_trap_http_exceptions(client: Any) -> None:
    app = Erlen(__name__)
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.testing = True

    @app.route("/forbidden")
    def forbidden() -> Any:
        abort(403)

    with pytest.raises(Forbidden):
        client(app).get("/forbidden")


def test_bad_request_key_error_shows_key_in_debug(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/", methods=["POST"])
    def index() -> Any:
        return request.form["needed"]

    assert client(app).post("/").status_code == 400
    app.config["TRAP_BAD_REQUEST_ERRORS"] = True
    app.testing = True
    with pytest.raises(KeyError):
        client(app).post("/")


def test_error_in_error_handler_becomes_500(client: Any) -> None:
    app = Erlen(__name__)
    app.logger.disabled = True

    @app.errorhandler(AppError)
    def broken(e: AppError) -> Any:
        raise RuntimeError("handler broke")

    @app.route("/")
    def index() -> Any:
        raise AppError()

    assert client(app).get("/").status_code == 500


def test_blueprint_error_handlers_take_precedence(client: Any) -> None:
    app = Erlen(__name__)
    bp = erlen.Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(AppError)
    def bp_handler(e: AppError) -> str:
        return "blueprint handler"

    @app.errorhandler(AppError)
    def app_handler(e: AppError) -> str:
        return "app handler"

    @bp.route("/raise")
    def bp_raise() -> Any:
        raise SpecificError()

    @app.route("/raise")
    def app_raise() -> Any:
        raise SpecificError()

    app.register_blueprint(bp)
    c = client(app)
    assert c.get("/bp/raise").text == "blueprint handler"
    assert c.get("/raise").text == "app handler"


def test_routing_errors_go_through_app_handlers(client: Any) -> None:
    app = Erlen(__name__)

    @app.errorhandler(405)
    def not_allowed(e: HTTPException) -> Any:
        return "custom 405", 405

    @app.route("/only-get")
    def only_get() -> str:
        return "ok"

    r = client(app).post("/only-get")
    assert (r.status_code, r.text) == (405, "custom 405")


@pytest.mark.parametrize("protocol_name", ["wsgi", "asgi"])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_error_responses_leave_no_reference_cycles(protocol_name: str, asynchronous: bool) -> None:
    """404s, aborts, 500s and handled errors are freed by reference counting alone.

    A cycle (an error whose traceback holds the frames that hold it) would leave each
    failed request's objects to the garbage collector, which under load means pauses.
    The app is called directly: the test client keeps cycles of its own.
    """
    import gc
    import io

    app = erlen.Erlen(__name__)
    app.logger.disabled = True

    def boom() -> str:
        raise RuntimeError("boom")

    def gone() -> str:
        erlen.abort(410)
        return ""

    def key() -> str:
        raise KeyError("k")

    async def aboom() -> str:
        raise RuntimeError("boom")

    async def agone() -> str:
        erlen.abort(410)
        return ""

    app.add_url_rule("/boom", view_func=aboom if asynchronous else boom)
    app.add_url_rule("/gone", view_func=agone if asynchronous else gone)
    app.add_url_rule("/key", view_func=key)
    app.register_error_handler(KeyError, lambda e: ("handled", 400))
    # A routing error an error handler takes (the error stays on the request).
    app.add_url_rule("/post-only", view_func=key, endpoint="post_only", methods=["POST"])
    app.register_error_handler(405, lambda e: ("use POST", 405))
    paths = {"/missing": 404, "/gone": 410, "/boom": 500, "/key": 400, "/post-only": 405}

    def call_wsgi(path: str) -> int:
        statuses: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "t",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
        }
        body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(body)
        return int(statuses[0].split()[0])

    async def call_asgi(path: str) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def run_asgi(rounds: int) -> list[int]:
        return [await call_asgi(path) for _ in range(rounds) for path in paths]

    def run(rounds: int) -> list[int]:
        if protocol_name == "wsgi":
            return [call_wsgi(path) for _ in range(rounds) for path in paths]
        return asyncio.run(run_asgi(rounds))

    assert run(1) == list(paths.values())  # warms the caches up
    gc.collect()
    gc.disable()
    try:
        statuses = run(10)
        found = gc.collect()
    finally:
        gc.enable()
    assert statuses == list(paths.values()) * 10
    assert found == 0
