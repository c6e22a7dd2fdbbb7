"""The test client answers alike through both doors: what Flask's and extensions' suites rely on."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest

import erlen
from erlen import Erlen, request
from erlen.concurrency import run_coroutine_sync, run_in_threadpool
from erlen.globals import _cv_app
from erlen.logging import default_handler

Client = Callable[..., Any]


def test_a_kept_request_reads_its_body_after_the_response(client: Client) -> None:
    app = Erlen(__name__)

    @app.post("/")
    def index() -> str:
        return "x"  # the form is left unread until after the response

    with client(app) as c:
        assert c.post("/?q=1", data={"gin": "43"}).status_code == 200
        assert request.form["gin"] == "43"
        assert request.args["q"] == "1"


def test_a_kept_request_reads_a_spooled_body_and_closes_it_when_let_go(
    client: Client, protocol: str
) -> None:
    app = Erlen(__name__)
    app.config["ASGI_BODY_SPOOL_SIZE"] = 16  # the ASGI door spools the body to a file

    @app.post("/")
    def index() -> str:
        return "x"

    big = "y" * 1000
    with client(app) as c:
        c.post("/", data={"big": big})
        kept = request._get_current_object()  # type: ignore[attr-defined]
        assert request.form["big"] == big
    if protocol == "asgi":
        assert kept._input.closed  # the request's own buffer, closed once let go


def test_a_307_or_308_redirect_sends_the_body_again(client: Client) -> None:
    app = Erlen(__name__)

    @app.route("/user/", methods=["GET", "POST"])
    def user() -> str:
        return request.form["status"]

    @app.post("/old")
    def old() -> Any:
        return "", 307, {"Location": "/user/"}

    c = client(app)
    # /user -> /user/ is a 308 from routing; the view reads the body the client sends again.
    rv = c.post("/user", data={"status": "success"}, follow_redirects=True)
    assert rv.status_code == 200 and rv.text == "success"
    rv = c.post("/old", data={"status": "again"}, follow_redirects=True)
    assert rv.status_code == 200 and rv.text == "again"


def test_environ_overrides_reach_the_request(client: Client) -> None:
    app = Erlen(__name__)
    stream = StringIO()

    @app.get("/")
    def index() -> dict[str, Any]:
        environ = request.environ
        return {
            "errors": environ["wsgi.errors"] is stream,
            "custom": environ.get("my.key"),
            "user": request.remote_user,
            "agent": environ.get("HTTP_USER_AGENT", "").split("/")[0],
        }

    rv = client(app).get(
        "/",
        errors_stream=stream,
        environ_overrides={"my.key": "v", "REMOTE_USER": "bob"},
    )
    assert rv.json == {"errors": True, "custom": "v", "user": "bob", "agent": "Werkzeug"}


def test_remote_user_without_reading_the_environ(client: Client) -> None:
    app = Erlen(__name__)

    @app.get("/")
    def index() -> str:
        return str(request.remote_user)

    c = client(app)
    assert c.get("/", environ_overrides={"REMOTE_USER": "ann"}).text == "ann"
    assert c.get("/").text == "None"


def test_the_default_log_handler_writes_to_the_requests_errors_stream(client: Client) -> None:
    app = Erlen(__name__)
    app.testing = False

    @app.get("/log")
    def log() -> str:
        app.logger.error("from the view")
        return ""

    @app.get("/fail")
    def fail() -> str:
        raise RuntimeError("boom")

    c = client(app)
    # pytest's log capture is a handler already: the default one is added by hand.
    app.logger.addHandler(default_handler)
    try:
        stream = StringIO()
        c.get("/log", errors_stream=stream)
        assert "ERROR in test_testing: from the view" in stream.getvalue()
        stream = StringIO()
        assert c.get("/fail", environ_overrides={"wsgi.errors": stream}).status_code == 500
        assert "Exception on /fail [GET]" in stream.getvalue()
        assert "RuntimeError: boom" in stream.getvalue()
    finally:
        app.logger.removeHandler(default_handler)


def test_a_path_without_its_slash(client: Client) -> None:
    app = Erlen(__name__)

    @app.get("/page")
    def page() -> str:
        return request.path

    assert client(app).get("page").text == "/page"


def test_a_sync_view_runs_on_the_tests_thread(client: Client) -> None:
    """Thread-bound resources a test set up (in-memory SQLite) are the view's, on both doors."""
    app = Erlen(__name__)
    db = sqlite3.connect(":memory:")  # check_same_thread: usable on this thread only
    db.execute("create table t (v text unique)")

    @app.post("/")
    def add() -> Any:
        try:
            with db:
                db.execute("insert into t values (?)", (request.form["v"],))
        except sqlite3.IntegrityError:
            return "exists", 409
        return str(threading.get_ident())

    c = client(app)
    try:
        rv = c.post("/", data={"v": "a"})
        assert rv.status_code == 200 and rv.text == str(threading.get_ident())
        assert c.post("/", data={"v": "a"}).status_code == 409
        assert db.execute("select count(*) from t").fetchone() == (1,)
    finally:
        db.close()


def test_a_blocking_call_made_while_the_tests_thread_is_busy_goes_to_a_worker(
    client: Client,
) -> None:
    app = Erlen(__name__)

    async def in_a_worker() -> int:
        return await run_in_threadpool(threading.get_ident)

    @app.get("/")
    def index() -> str:
        # The view holds the test's thread while it waits for the coroutine, whose
        # blocking call cannot run there too: it must not wait for this thread.
        worker = run_coroutine_sync(in_a_worker())
        return str(worker != threading.get_ident())

    assert client(app).get("/").text == "True"


@pytest.mark.parametrize("buffered", [True, False])
def test_a_streamed_sync_body_is_sent_whole(client: Client, buffered: bool) -> None:
    app = Erlen(__name__)

    @app.get("/")
    def index() -> Any:
        def chunks() -> Any:
            yield "a"
            yield "b"

        return app.response_class(chunks())

    rv = client(app).get("/", buffered=buffered)
    assert rv.get_data() == b"ab"


def test_a_keyboard_interrupt_in_a_view_reaches_the_test(client: Client) -> None:
    app = Erlen(__name__)
    app.testing = False
    torn_down: list[object] = []
    app.teardown_request(torn_down.append)

    @app.get("/stop")
    def stop() -> str:
        raise KeyboardInterrupt

    @app.get("/")
    def index() -> str:
        return "still serving"

    c = client(app)
    with pytest.raises(KeyboardInterrupt):
        c.get("/stop")
    assert len(torn_down) == 1  # the request was unwound
    assert c.get("/").text == "still serving"


def _app_counting_teardowns() -> tuple[Erlen, list[object]]:
    """An app whose ``/`` answers how many app-context teardowns have run, and their list."""
    app = Erlen(__name__)
    torn_down: list[object] = []
    app.teardown_appcontext(torn_down.append)

    @app.get("/")
    def index() -> str:
        return str(len(torn_down))

    return app, torn_down


def test_an_app_context_around_a_kept_request_lasts_until_the_client_lets_go(
    client: Client,
) -> None:
    # Flask-DebugToolbar's tests: ``with client: with app.app_context(): client.get(...)``.
    # As in Flask, the block's end leaves the kept request (and the app context it stands
    # on) current; the app context is torn down when the client lets the request go.
    app, torn_down = _app_counting_teardowns()

    with client(app) as c:
        with app.app_context() as app_ctx:
            assert c.get("/").text == "0"
        assert request.path == "/"
        assert erlen.g._get_current_object() is app_ctx.g  # type: ignore[attr-defined]
        assert torn_down == []
    assert torn_down == [None]
    assert _cv_app.get(None) is None


def test_a_kept_request_let_go_by_the_next_request_pops_the_context_beneath(
    client: Client,
) -> None:
    app, _ = _app_counting_teardowns()

    with client(app) as c:
        with app.app_context():
            assert c.get("/").text == "0"
        assert c.get("/").text == "1"  # the app context above was torn down first
    assert _cv_app.get(None) is None


@pytest.mark.parametrize(("buffered", "streamed"), [(None, True), (True, False)])
def test_a_response_reports_streamed_until_read_as_flasks_does(
    client: Client, buffered: bool | None, streamed: bool
) -> None:
    """Flask's client streams unless asked to buffer (Flask-Compress's tests check this)."""
    app = Erlen(__name__)

    @app.get("/")
    def index() -> str:
        return "text"

    kwargs = {} if buffered is None else {"buffered": buffered}
    rv = client(app).get("/", **kwargs)
    assert rv.is_streamed is streamed
    assert rv.data == b"text"
    assert not rv.is_streamed
