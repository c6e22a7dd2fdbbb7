"""Erlen's Response as the Werkzeug Response it is: Werkzeug's methods on it, on both doors."""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import generate_etag
from werkzeug.sansio.response import Response as SansIOResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from erlen import Erlen, Response, redirect, request, send_file

DATA = bytes(range(256)) * 40  # 10240 bytes


def _environ(**kwargs: Any) -> dict[str, Any]:
    builder = EnvironBuilder(**kwargs)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts


class _ClosingIterable:
    """An iterable of chunks that records that it was closed."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = list(parts)
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def close(self) -> None:
        self.closed = True


# -- isinstance and the state Werkzeug reads ----------------------------------------------


def test_every_response_is_a_werkzeug_response() -> None:
    app = Erlen(__name__)
    with app.test_request_context():
        made = [
            Response("x"),
            Response(_chunks(b"a")),
            app.make_response("text"),  # the fast path for a str
            app.make_response({"a": 1}),  # the JSON provider's fast path
            app.make_response((b"x", 201, {"X-A": "1"})),
            redirect("/there"),
            send_file(io.BytesIO(b"file"), mimetype="text/plain"),
        ]
    for rv in made:
        assert isinstance(rv, WerkzeugResponse)
        assert isinstance(rv, SansIOResponse)


@pytest.mark.parametrize(
    "body",
    [b"abc", "abc", [b"a", b"bc"], (b"a", "bc"), None],
    ids=["bytes", "str", "list", "tuple", "none"],
)
def test_body_state_matches_werkzeug(body: Any) -> None:
    e, w = Response(body), WerkzeugResponse(body)
    assert e.is_sequence == w.is_sequence
    assert e.is_streamed == w.is_streamed
    assert e.get_data() == w.get_data()
    assert e.calculate_content_length() == w.calculate_content_length()
    assert b"".join(e.iter_encoded()) == b"".join(w.iter_encoded())


def test_generator_body_is_streamed_until_read() -> None:
    rv = Response(_chunks(b"a", b"b"))
    assert rv.is_streamed and not rv.is_sequence
    assert rv.get_data() == b"ab"
    assert not rv.is_streamed and rv.is_sequence
    assert rv.response == [b"ab"]


def test_response_attribute_is_the_body() -> None:
    rv = Response(b"abc")
    chunks = rv.response
    assert chunks == [b"abc"]
    chunks.append(b"d")  # the list handed out is the body itself, as on Werkzeug
    assert rv.get_data() == b"abcd"
    rv.response = [b"x", "y"]
    assert rv.get_data() == b"xy"
    assert rv.complete_body == b"xy"
    gen = _chunks(b"g")
    rv.response = gen
    assert rv.response is gen
    assert rv.body_iterable is gen and rv.complete_body is None


def test_set_data_and_data_property() -> None:
    rv = Response(_chunks(b"a"))
    rv.set_data("héllo")
    assert rv.headers["Content-Length"] == str(len("héllo".encode()))
    assert rv.data == "héllo".encode()
    rv.data = b"xy"
    assert rv.get_data(as_text=True) == "xy"
    assert rv.headers["Content-Length"] == "2"


def test_response_stream_appends_to_the_body() -> None:
    rv = Response(b"start-")
    rv.stream.write(b"more")
    rv.stream.writelines([b"-", b"end"])
    assert rv.get_data() == b"start-more-end"
    assert rv.stream.tell() == len(b"start-more-end")


def test_direct_passthrough_stream_is_not_read_for_a_length() -> None:
    it = _ClosingIterable(b"ab", b"cd")
    rv = Response(it, direct_passthrough=True)
    assert rv.direct_passthrough
    assert rv.is_sequence is False and rv.is_streamed
    assert rv.calculate_content_length() is None  # as Werkzeug: never read implicitly
    assert rv.body_iterable is it
    with pytest.raises(RuntimeError):
        rv._ensure_sequence()
    # get_data() reads it when asked (Werkzeug would refuse), and closes it with the response.
    assert rv.get_data() == b"abcd"
    assert not it.closed
    rv.close()
    assert it.closed


def test_make_sequence_keeps_the_iterables_close() -> None:
    it = _ClosingIterable(b"a", b"b")
    rv = Response(it)
    assert rv.is_streamed
    rv.make_sequence()
    assert rv.is_sequence and rv.get_data() == b"ab"
    assert not it.closed
    rv.close()  # the read iterable is closed with the response, as on Werkzeug
    assert it.closed


def test_freeze_buffers_sets_length_and_etag() -> None:
    for make in (Response, WerkzeugResponse):
        rv = make(_chunks(b"a", b"bc"), direct_passthrough=True)
        rv.freeze()
        assert rv.get_data() == b"abc"
        assert rv.headers["Content-Length"] == "3"
        assert rv.get_etag() == (generate_etag(b"abc"), False)


def test_add_etag_and_get_etag() -> None:
    rv = Response("hello")
    rv.add_etag()
    assert rv.get_etag() == (generate_etag(b"hello"), False)
    rv.add_etag(overwrite=True, weak=True)
    assert rv.headers["ETag"].startswith("W/")


# -- make_conditional, as on Werkzeug ------------------------------------------------------


CONDITIONS = [
    {},
    {"If-None-Match": '"tag"'},
    {"If-None-Match": '"other"'},
    {"If-Match": '"other"', "If-None-Match": '"tag"'},
    {"Range": "bytes=10-19"},
    {"Range": "bytes=-5"},
    {"Range": "bytes=10-19", "If-Range": '"tag"'},
    {"Range": "bytes=10-19", "If-Range": '"changed"'},
]


@pytest.mark.parametrize("headers", CONDITIONS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_make_conditional_matches_werkzeug(headers: dict[str, str], method: str) -> None:
    environ = _environ(method=method, headers=headers)
    results = []
    for make in (Response, WerkzeugResponse):
        rv = make(DATA[:100], mimetype="text/plain")
        rv.set_etag("tag")
        rv.make_conditional(dict(environ), accept_ranges=True, complete_length=100)
        # Werkzeug sets Content-Length in its constructor, Erlen when the response is sent.
        sent = {k: v for k, v in rv.get_wsgi_headers(environ).items() if k != "Date"}
        results.append((rv.status_code, sent, rv.get_data()))
        if isinstance(rv, Response):
            assert {k: v for k, v in rv.header_list() if k != "Date"} == sent
    assert results[0] == results[1]


def test_make_conditional_unsatisfiable_range() -> None:
    rv = Response(b"abc")
    with pytest.raises(RequestedRangeNotSatisfiable):
        rv.make_conditional(_environ(headers={"Range": "bytes=10-20"}), True, 3)


def test_make_conditional_takes_a_request() -> None:
    app = Erlen(__name__)
    with app.test_request_context(headers={"If-None-Match": '"v1"'}):
        rv = Response("body")
        rv.set_etag("v1")
        assert rv.make_conditional(request) is rv
        assert rv.status_code == 304


# -- Werkzeug's WSGI side: the response as a WSGI app, force_type, from_app ---------------


def test_response_is_a_wsgi_application() -> None:
    started: list[Any] = []
    rv = Response(_chunks(b"a", b"b"), headers={"Location": "/über"})
    closed: list[bool] = []
    rv.call_on_close(lambda: closed.append(True))

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))

    body = rv(_environ(), start_response)
    assert b"".join(body) == b"ab"
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    status, headers = started[0]
    assert status == "200 OK"
    assert ("Location", "/%C3%BCber") in headers
    app_iter, status, headers = Response(b"xyz").get_wsgi_response(_environ(method="HEAD"))
    assert list(app_iter) == [] and ("Content-Length", "3") in headers


def test_force_type_adopts_a_werkzeug_response_in_place() -> None:
    closed: list[bool] = []
    w = WerkzeugResponse(b"hello", 202, {"X-A": "1"}, mimetype="text/plain")
    w.call_on_close(lambda: closed.append(True))
    rv = Response.force_type(w)
    assert rv is w and type(rv) is Response
    assert (rv.status, rv.headers["X-A"], rv.get_data()) == ("202 ACCEPTED", "1", b"hello")
    code, _status, _headers, body, close_pending = rv.outgoing("GET")
    assert (code, body, close_pending) == (202, b"hello", True)
    rv.close()
    assert closed == [True]

    class Sub(Response):
        pass

    assert type(Sub.force_type(rv)) is Sub


def test_force_type_and_from_app_run_a_wsgi_app() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("201 CREATED", [("Content-Type", "text/plain")])
        return [b"made ", environ["PATH_INFO"].encode()]

    with pytest.raises(TypeError):
        Response.force_type(wsgi_app)
    for rv in (
        Response.force_type(wsgi_app, _environ(path="/x")),
        Response.from_app(wsgi_app, _environ(path="/x")),
    ):
        assert isinstance(rv, Response)
        assert (rv.status_code, rv.mimetype, rv.get_data()) == (201, "text/plain", b"made /x")


# -- copies ----------------------------------------------------------------------------------


def _copies(rv: Response) -> list[Response]:
    adopted = Response.__new__(Response)
    adopted.__dict__ = rv.__dict__  # Flask-Caching's CachedResponse
    updated = Response.__new__(Response)
    updated.__dict__.update(rv.__dict__)
    return [adopted, updated, copy.copy(rv), pickle.loads(pickle.dumps(rv))]


def test_copies_through_dict_copy_and_pickle_work() -> None:
    rv = Response("cached", 203, {"X-A": "1"})
    rv.set_cookie("k", "v")
    for c in _copies(rv):
        assert (c.status, c.get_data(), c.headers["X-A"]) == (
            "203 NON-AUTHORITATIVE INFORMATION",
            b"cached",
            "1",
        )
        assert ("Content-Length", "6") in c.header_list()
        code, _status, headers, body, close_pending = c.outgoing("GET")
        assert (code, body, close_pending) == (203, b"cached", False)
        assert headers == c.header_list()


# -- both doors: responses changed through Werkzeug's methods --------------------------------


def _app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/file")
    def file() -> Any:
        rv = send_file(io.BytesIO(DATA), mimetype="application/octet-stream", conditional=False)
        rv.set_etag("file-v1")
        return rv.make_conditional(request, accept_ranges=True, complete_length=len(DATA))

    @app.route("/text")
    def text() -> Any:
        rv = app.make_response("0123456789" * 3)
        rv.set_etag("text-v1")
        return rv.make_conditional(request, accept_ranges=True, complete_length=30)

    @app.route("/set-data")
    def set_data() -> Any:
        return Response(_chunks(b"streamed"), mimetype="text/plain")

    @app.route("/list")
    def as_list() -> Any:
        return "replaced"

    @app.route("/passthrough")
    def passthrough() -> Any:
        return Response(_ClosingIterable(b"pass", b"through"), direct_passthrough=True)

    @app.route("/stream-write")
    def stream_write() -> Any:
        rv = Response("a")
        rv.stream.write(b"b")
        return rv

    @app.route("/frozen")
    def frozen() -> Any:
        rv = Response(_chunks(b"fro", b"zen"))
        rv.freeze()
        return rv.make_conditional(request)

    @app.route("/copied")
    def copied() -> Any:
        rv = Response("copy", headers={"X-C": "1"})
        rv.call_on_close(lambda: closed.append("copied"))
        new = Response.__new__(Response)
        new.__dict__.update(rv.__dict__)
        return new

    @app.route("/werkzeug")
    def werkzeug_response() -> Any:
        return Response.force_type(WerkzeugResponse(_chunks(b"wz"), 201))

    closed: list[str] = []
    app.config["closed"] = closed

    @app.after_request
    def mutate(rv: Response) -> Response:
        if request.path == "/set-data":
            rv.set_data(b"after-request")
        elif request.path == "/list":
            rv.response = [b"one ", "two"]
        return rv

    return app


def test_make_conditional_on_a_file_range(client: Any) -> None:
    c = client(_app())
    rv = c.get("/file", headers={"Range": "bytes=100-1099"})
    assert rv.status_code == 206
    assert rv.data == DATA[100:1100]
    assert rv.headers["Content-Range"] == f"bytes 100-1099/{len(DATA)}"
    assert rv.headers["Content-Length"] == "1000"
    assert rv.headers["Accept-Ranges"] == "bytes"
    rv = c.get("/file", headers={"Range": "bytes=-10"})
    assert (rv.status_code, rv.data) == (206, DATA[-10:])
    rv = c.get("/file", headers={"If-None-Match": '"file-v1"'})
    assert (rv.status_code, rv.data) == (304, b"")
    assert "Content-Length" not in rv.headers
    rv = c.get("/file")
    assert (rv.status_code, rv.data) == (200, DATA)
    assert c.get("/file", headers={"Range": "bytes=99999-"}).status_code == 416


def test_make_conditional_on_a_complete_body(client: Any) -> None:
    c = client(_app())
    rv = c.get("/text", headers={"Range": "bytes=5-9"})
    assert (rv.status_code, rv.data, rv.headers["Content-Length"]) == (206, b"56789", "5")
    rv = c.get("/text", headers={"If-None-Match": '"text-v1"'})
    assert (rv.status_code, rv.data) == (304, b"")
    rv = c.head("/text", headers={"Range": "bytes=0-1"})
    assert (rv.status_code, rv.data, rv.headers["Content-Length"]) == (206, b"", "2")


def test_body_replaced_after_creation(client: Any) -> None:
    c = client(_app())
    rv = c.get("/set-data")
    assert (rv.data, rv.headers["Content-Length"]) == (b"after-request", "13")
    rv = c.get("/list")
    assert (rv.data, rv.headers["Content-Length"]) == (b"one two", "7")
    rv = c.get("/stream-write")
    assert rv.data == b"ab"


def test_direct_passthrough_iterable(client: Any) -> None:
    rv = client(_app()).get("/passthrough")
    assert rv.data == b"passthrough"
    assert "Content-Length" not in rv.headers


def test_frozen_response_with_etag(client: Any) -> None:
    c = client(_app())
    rv = c.get("/frozen")
    assert (rv.data, rv.headers["Content-Length"]) == (b"frozen", "6")
    rv = c.get("/frozen", headers={"If-None-Match": rv.headers["ETag"]})
    assert (rv.status_code, rv.data) == (304, b"")


def test_copied_and_adopted_responses_are_sent(client: Any) -> None:
    app = _app()
    c = client(app)
    rv = c.get("/copied")
    assert (rv.data, rv.headers["X-C"], rv.headers["Content-Length"]) == (b"copy", "1", "4")
    assert app.config["closed"] == ["copied"]  # call_on_close came along with the copy
    rv = c.get("/werkzeug")
    assert (rv.status_code, rv.data) == (201, b"wz")


# -- what extensions read and rewrite in after_request ---------------------------------------


def _wrap(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.upper()


@pytest.mark.parametrize(
    "make_body",
    [lambda: b"abc", lambda: [b"a", b"bc"], lambda: _chunks(b"a", b"bc")],
    ids=["bytes", "list", "generator"],
)
@pytest.mark.parametrize("cls", [Response, WerkzeugResponse], ids=["erlen", "werkzeug"])
def test_iter_encoded_can_become_the_body(cls: Any, make_body: Any) -> None:
    """``rv.response = wrap(rv.iter_encoded())`` (Flask-Compress's streaming) reads the old body."""
    rv = cls(make_body())
    rv.response = _wrap(rv.iter_encoded())
    assert rv.get_data() == b"ABC"


def test_content_length_of_a_body_in_memory() -> None:
    """Flask-Compress skips small bodies by reading ``content_length`` in after_request."""
    for body in ("abc", b"abc", None, [b"abc"]):
        e, w = Response(body), WerkzeugResponse(body)
        assert e.content_length == w.content_length, body
    assert Response(_chunks(b"abc")).content_length is None
    rv = Response("héllo")
    rv.set_data(b"xy")
    assert rv.content_length == 2


def test_content_length_in_after_request(client: Any) -> None:
    app = Erlen(__name__)
    seen: list[int | None] = []

    @app.get("/")
    def index() -> str:
        return "hello"

    @app.route("/none", methods=["OPTIONS"])
    def none() -> Response:
        return app.response_class()

    @app.after_request
    def record(rv: Response) -> Response:
        seen.append(rv.content_length)
        return rv

    c = client(app)
    assert c.get("/").data == b"hello"
    assert c.open("/none", method="OPTIONS").data == b""
    assert seen == [5, None]


def test_headers_assigned_as_a_dict_are_sent(client: Any) -> None:
    """Werkzeug copies ``response.headers`` into ``Headers`` when sending (flask-apispec's tests)."""
    app = Erlen(__name__)

    @app.get("/empty")
    def empty() -> Response:
        rv = app.make_response(("", 204))
        rv.headers = {}  # type: ignore[assignment]
        return rv

    @app.get("/dict")
    def as_dict() -> Response:
        rv = app.make_response("body")
        rv.headers = {"Content-Type": "text/plain", "X-A": "1"}  # type: ignore[assignment]
        return rv

    c = client(app)
    assert c.get("/empty").status_code == 204
    rv = c.get("/dict")
    assert (rv.data, rv.headers["X-A"], rv.headers["Content-Type"]) == (b"body", "1", "text/plain")
