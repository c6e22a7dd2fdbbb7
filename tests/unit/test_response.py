"""Responses and view return values, through both doors and against Flask."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from types import ModuleType
from typing import Any

import pytest
from werkzeug.datastructures import Headers

import erlen
from erlen import Erlen, Response, make_response, redirect, request

# -- the Response class ---------------------------------------------------------------------


def test_response_constructor_arguments() -> None:
    r = Response("héllo", 201, {"X-A": "1"}, mimetype="text/plain")
    assert r.status_code == 201
    assert r.status == "201 CREATED"
    assert r.headers["X-A"] == "1"
    assert r.mimetype == "text/plain"
    assert r.content_type == "text/plain; charset=utf-8"
    assert r.data == "héllo".encode()
    assert r.get_data(as_text=True) == "héllo"
    r = Response(b"\x00\x01", content_type="application/octet-stream")
    assert r.content_type == "application/octet-stream"
    assert r.status_code == 200
    r = Response(headers=[("X-B", "2"), ("X-B", "3")])
    assert r.headers.getlist("X-B") == ["2", "3"]
    assert r.mimetype == "text/html"
    assert r.data == b""
    r = Response("x", status="418 I'M A TEAPOT")
    assert r.status_code == 418
    r = Response("x", status=HTTPStatus.ACCEPTED)
    assert r.status == "202 ACCEPTED"
    r = Response(mimetype="application/json")
    assert r.content_type == "application/json"
    r = Response(headers=Headers({"Content-Type": "text/csv"}))
    assert r.content_type == "text/csv"


def test_response_matches_flask_basics() -> None:
    from flask import Response as WResponse

    for args, kwargs in [
        (("body",), {}),
        (("body", 404), {}),
        (("body",), {"mimetype": "text/xml"}),
        (("body",), {"mimetype": "application/json"}),
        (("body",), {"content_type": "text/plain"}),
        (("body", "299 CUSTOM"), {}),
        ((b"bytes",), {"headers": {"X": "y"}}),
    ]:
        w = WResponse(*args, **kwargs)
        e = Response(*args, **kwargs)
        assert (e.status, e.status_code, e.content_type, e.data) == (
            w.status,
            w.status_code,
            w.content_type,
            w.data,
        )


def test_status_setters() -> None:
    r = Response()
    r.status_code = 404
    assert r.status == "404 NOT FOUND"
    r.status = "201"
    assert r.status_code == 201
    assert r.status == "201 CREATED"
    r.status = 500
    assert r.status == "500 INTERNAL SERVER ERROR"
    with pytest.raises(TypeError):
        r.status = 1.5  # type: ignore[assignment]


def test_mimetype_and_data_setters() -> None:
    r = Response("a")
    r.mimetype = "text/plain"
    assert r.content_type == "text/plain; charset=utf-8"
    r.mimetype = "application/json"
    assert r.content_type == "application/json"
    r.data = "new body"
    assert r.get_data() == b"new body"
    r.set_data(b"bytes")
    assert r.data == b"bytes"
    assert r.is_json
    r.data = b'{"a": [1]}'
    assert r.get_json() == {"a": [1]}
    assert r.json == {"a": [1]}
    plain = Response("x", mimetype="text/plain")
    assert plain.get_json() is None
    assert Response("[2]", mimetype="text/plain").get_json(force=True) == [2]


def test_streamed_response_get_data() -> None:
    r = Response(iter(["a", b"b", "c"]))
    assert r.is_streamed
    assert r.get_data() == b"abc"
    assert not r.is_streamed


def test_set_cookie_options_like_werkzeug() -> None:
    from werkzeug.wrappers import Response as WResponse

    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("a", "1"), {}),
        (("b", "v w;x"), {}),
        (("c", "x"), {"max_age": 60}),
        (("c", "x"), {"max_age": timedelta(hours=1)}),
        (("d", "x"), {"expires": when}),
        (("d", "x"), {"expires": 0}),
        (("e", "x"), {"path": "/sub", "domain": "example.test"}),
        (("f", "x"), {"secure": True, "httponly": True}),
        (("g", "x"), {"samesite": "Lax"}),
        (("g", "x"), {"samesite": "strict"}),
        (("h", "x"), {"secure": True, "samesite": "None", "partitioned": True}),
        (("i", "x"), {"path": None}),
    ]
    for args, kwargs in cases:
        w = WResponse()
        e = Response()
        w.set_cookie(*args, **kwargs)
        e.set_cookie(*args, **kwargs)
        assert e.headers.getlist("Set-Cookie") == w.headers.getlist("Set-Cookie"), kwargs
    for kwargs in [
        {},
        {"path": "/p", "domain": "d.test"},
        {"secure": True, "samesite": "Lax"},
        {"partitioned": True, "secure": True, "httponly": True},
    ]:
        w = WResponse()
        e = Response()
        w.delete_cookie("gone", **kwargs)
        e.delete_cookie("gone", **kwargs)
        assert e.headers.getlist("Set-Cookie") == w.headers.getlist("Set-Cookie"), kwargs


def test_partitioned_cookie_attribute() -> None:
    r = Response()
    r.set_cookie("p", "1", secure=True, samesite="None", partitioned=True)
    header = r.headers["Set-Cookie"]
    assert "Partitioned" in header
    assert "Secure" in header
    assert "SameSite=None" in header


def test_invalid_samesite_is_an_error() -> None:
    with pytest.raises(ValueError):
        Response().set_cookie("x", "1", samesite="bogus")


def test_cookie_round_trip_through_client(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/set")
    def set_() -> Response:
        r = make_response("set")
        r.set_cookie("token", "abc", httponly=True, samesite="Lax")
        return r

    @app.route("/get")
    def get() -> str:
        return request.cookies.get("token", "none")

    @app.route("/del")
    def delete() -> Response:
        r = make_response("deleted")
        r.delete_cookie("token")
        return r

    c = client(app)
    r = c.get("/set")
    assert "token=abc" in r.headers["Set-Cookie"]
    assert "HttpOnly" in r.headers["Set-Cookie"]
    assert c.get("/get").text == "abc"
    assert c.get_cookie("token").value == "abc"
    c.get("/del")
    assert c.get("/get").text == "none"


def test_response_freeze_and_close_callbacks() -> None:
    calls: list[str] = []
    r = Response(iter([b"a", b"b"]))
    r.call_on_close(lambda: calls.append("closed"))
    r.freeze()
    assert r.headers["Content-Length"] == "2"
    r.close()
    assert calls == ["closed"]


def test_response_header_helpers() -> None:
    r = Response("x")
    r.location = "/elsewhere"
    assert r.headers["Location"] == "/elsewhere"
    r.content_length = 10
    assert r.content_length == 10
    r.vary.add("Accept")
    assert r.headers["Vary"] == "Accept"
    r.cache_control.max_age = 30
    assert r.headers["Cache-Control"] == "max-age=30"
    r.set_etag("abc")
    assert r.get_etag() == ("abc", False)
    r.last_modified = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert r.headers["Last-Modified"] == "Wed, 01 Jan 2020 00:00:00 GMT"


@pytest.mark.parametrize(
    ("start", "key", "value"),
    [
        ([("Content-Type", "text/html")], "X-Frame-Options", "DENY"),
        ([("Content-Type", "text/html")], "content-type", "text/plain"),
        ([("X-A", "1"), ("Content-Type", "t"), ("x-a", "2")], "X-A", "3"),
        ([("X-Abc", "1"), ("X-Abd", "2")], "x-abd", "3"),
        ([("X-Abc", "1")], "X-Abd", "2"),
        ([], "X-Count", 5),
        ([("Vary", "Cookie")], "VARY", "Accept"),
    ],
)
def test_response_headers_set_and_contain_as_werkzeug(
    start: list[tuple[str, str]], key: str, value: Any
) -> None:
    """Erlen's faster header assignment and lookup give Werkzeug's ``Headers`` results."""
    from erlen.response import ResponseHeaders

    ours, theirs = ResponseHeaders(start), Headers(start)
    ours[key] = value
    theirs[key] = value
    assert list(ours.items()) == list(theirs.items())
    for name in (key, key.upper(), "X-Missing", "Content-Type"):
        assert (name in ours) == (name in theirs), name
    with pytest.raises(ValueError):
        ours[key] = "a\nb"
    assert list(ours.items()) == list(theirs.items())


# -- view return values, against Flask -----------------------------------------------------------


def _returns_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/str")
    def r_str() -> Any:
        return "héllo"

    @app.route("/bytes")
    def r_bytes() -> Any:
        return b"\x00bytes"

    @app.route("/dict")
    def r_dict() -> Any:
        return {"b": 1, "a": [1, 2, None], "s": "é"}

    @app.route("/list")
    def r_list() -> Any:
        return [1, "two", {"three": 3}]

    @app.route("/tuple-status")
    def r_tuple_status() -> Any:
        return "created", 201

    @app.route("/tuple-status-str")
    def r_tuple_status_str() -> Any:
        return "weird", "299 SOMETHING ODD"

    @app.route("/tuple-headers")
    def r_tuple_headers() -> Any:
        return "with headers", {"X-Extra": "1", "Content-Type": "text/plain"}

    @app.route("/tuple-header-list")
    def r_tuple_header_list() -> Any:
        return "with list", [("X-A", "1"), ("X-A", "2")]

    @app.route("/tuple-3")
    def r_tuple_3() -> Any:
        return {"ok": False}, 422, {"X-Why": "because"}

    @app.route("/tuple-response")
    def r_tuple_response() -> Any:
        return mod.Response("resp", 200), 202, {"X-T": "t"}

    @app.route("/response")
    def r_response() -> Any:
        return mod.Response("made", 203, mimetype="text/plain")

    @app.route("/make_response")
    def r_make_response() -> Any:
        r = mod.make_response("mr", 201, {"X-M": "m"})
        r.headers["X-Later"] = "l"
        return r

    @app.route("/make_response_tuple")
    def r_make_response_tuple() -> Any:
        return mod.make_response(("tuple", 404))

    @app.route("/make_response_dict")
    def r_make_response_dict() -> Any:
        return mod.make_response({"d": 1})

    @app.route("/make_response_empty")
    def r_make_response_empty() -> Any:
        return mod.make_response()

    @app.route("/jsonify")
    def r_jsonify() -> Any:
        return mod.jsonify(a=1, b=[2])

    @app.route("/jsonify-list")
    def r_jsonify_list() -> Any:
        return mod.jsonify([1, 2])

    @app.route("/redirect")
    def r_redirect() -> Any:
        return mod.redirect("/target")

    @app.route("/redirect/<int:code>")
    def r_redirect_code(code: int) -> Any:
        return mod.redirect("https://example.test/x?y=1", code=code)

    @app.route("/status-code-only")
    def r_empty_204() -> Any:
        return "", 204

    @app.route("/204-with-body")
    def r_204_with_body() -> Any:
        return "dropped", 204

    @app.route("/304")
    def r_304() -> Any:
        return "dropped", 304, {"ETag": '"e"', "Expires": "0", "Last-Modified": "x"}

    @app.route("/204-generator")
    def r_204_generator() -> Any:
        def gen() -> Iterator[str]:
            yield "never sent"

        return gen(), 204

    @app.route("/generator")
    def r_generator() -> Any:
        def gen() -> Iterator[str]:
            yield "a"
            yield "b"

        return gen()

    @app.route("/generator-tuple")
    def r_generator_tuple() -> Any:
        def gen() -> Iterator[bytes]:
            yield b"x"

        return gen(), 201, {"Content-Type": "text/plain"}

    @app.route("/http-exception")
    def r_http_exception() -> Any:
        from werkzeug.exceptions import NotFound

        return NotFound()

    @app.route("/async")
    async def r_async() -> Any:
        await asyncio.sleep(0)
        return {"async": True}

    return app


RETURN_PATHS = [
    "/str",
    "/bytes",
    "/dict",
    "/list",
    "/tuple-status",
    "/tuple-status-str",
    "/tuple-headers",
    "/tuple-header-list",
    "/tuple-3",
    "/tuple-response",
    "/response",
    "/make_response",
    "/make_response_tuple",
    "/make_response_dict",
    "/make_response_empty",
    "/jsonify",
    "/jsonify-list",
    "/redirect",
    "/redirect/301",
    "/redirect/302",
    "/redirect/303",
    "/redirect/307",
    "/redirect/308",
    "/status-code-only",
    "/204-with-body",
    "/304",
    "/204-generator",
    "/generator",
    "/generator-tuple",
    "/http-exception",
    "/async",
]


@pytest.mark.parametrize("path", RETURN_PATHS)
def test_view_returns_match_flask(oracle: Any, path: str) -> None:
    o = oracle(_returns_app)
    o.check(
        "GET",
        path,
        headers_to_compare=(
            *("Content-Type", "Location", "X-Extra", "X-A", "X-Why", "X-T", "X-M", "X-Later"),
            *("ETag", "Expires", "Last-Modified", "Content-Length"),
        ),
    )


@pytest.mark.parametrize("path", RETURN_PATHS)
def test_head_matches_flask_and_has_no_body(oracle: Any, path: str) -> None:
    o = oracle(_returns_app)
    f, e = o.check("HEAD", path, compare_body=False)
    assert e.data == b""
    if f.headers.get("Content-Length") is not None:
        assert e.headers.get("Content-Length") == f.headers.get("Content-Length")


def test_content_length_set_for_known_bodies(client: Any) -> None:
    app = _returns_app(erlen, Erlen)
    c = client(app)
    for path in ("/str", "/bytes", "/dict", "/tuple-3", "/response"):
        r = c.get(path)
        assert r.headers["Content-Length"] == str(len(r.data)), path


def _outgoing_cases() -> list[tuple[str, Response]]:
    def chunks() -> Iterator[bytes]:
        yield b"a"

    with_length = Response("abc", headers={"content-LENGTH": "3", "X-A": "é"})
    closing = Response("abc")
    closing.call_on_close(lambda: None)
    return [
        ("text", Response("héllo")),
        ("bytes, no content type", Response(b"x", mimetype=None)),
        ("own content length", with_length),
        ("repeated header", Response("x", headers=[("X-B", "1"), ("X-B", "2")])),
        ("close functions", closing),
        ("list of chunks", Response([b"a", b"b"])),
        ("stream", Response(chunks())),
        ("204", Response("", 204, headers={"Content-Length": "0"})),
        ("304", Response("abc", 304, headers={"ETag": '"x"', "Content-Type": "text/plain"})),
        ("101", Response("", 101)),
        ("599", Response("x", 599)),
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_outgoing_raw_is_outgoing_encoded(method: str) -> None:
    """The ASGI door's one-pass ``outgoing_raw`` sends what ``outgoing`` gives, as bytes."""
    for name, _ in _outgoing_cases():
        expected = dict(_outgoing_cases())[name]
        code, _status, headers, body, close_pending = expected.outgoing(method)
        # Twice on a fresh response: the second time the pairs come from the cache.
        for _round in range(2):
            response = dict(_outgoing_cases())[name]
            raw = response.outgoing_raw(method)
            assert raw[0] == code, name
            assert [(k.lower(), v) for k, v in raw[1]] == [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
            ], name
            assert raw[2:] == (body, close_pending), name


def test_outgoing_raw_keeps_varying_values_out_of_the_cache() -> None:
    from erlen.response import _encoded_headers

    for size in range(600):
        Response("x" * size, headers={"X-Id": str(size)}).outgoing_raw("GET")
    assert not any(k.lower() == "content-length" for k, _ in _encoded_headers)
    assert len(_encoded_headers) <= 512


def test_unencodable_header_is_logged_and_raised_under_asgi(asgi_call: Any) -> None:
    app = Erlen(__name__)
    logged: list[Any] = []
    app.log_exception = logged.append  # type: ignore[method-assign]

    @app.route("/")
    def index() -> Any:
        return "x", {"X-Name": "\u0100"}  # not latin-1: no ASGI server can send it

    with pytest.raises(UnicodeEncodeError):
        asyncio.run(asgi_call(app, "GET", "/"))
    assert logged and logged[0][0] is UnicodeEncodeError


def test_streamed_sync_generator_keeps_context(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/stream")
    def stream() -> Any:
        def gen() -> Iterator[str]:
            yield "start "
            yield request.args.get("name", "?")  # the request is still available
            yield " end"

        return gen(), {"Content-Type": "text/plain"}

    r = client(app).get("/stream?name=bob")
    assert r.text == "start bob end"
    assert "Content-Length" not in r.headers


def test_streamed_async_generator(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/astream")
    async def astream() -> Any:
        async def agen() -> AsyncIterator[str]:
            for i in range(3):
                await asyncio.sleep(0)
                yield f"{i}{request.args.get('s', '')};"

        return agen()

    @app.route("/astream-sync-view")
    def astream_sync_view() -> Any:
        async def agen() -> AsyncIterator[bytes]:
            yield b"from "
            await asyncio.sleep(0)
            yield b"async gen"

        return Response(agen(), mimetype="text/plain")

    c = client(app)
    assert c.get("/astream?s=x").text == "0x;1x;2x;"
    assert c.get("/astream-sync-view").text == "from async gen"


def test_stream_with_context_helper(client: Any) -> None:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        @erlen.stream_with_context
        def gen() -> Iterator[str]:
            yield request.method

        return gen()

    assert client(app).get("/").text == "GET"


def test_none_return_names_the_view(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/none")
    def forgot_to_return() -> None:
        pass

    with pytest.raises(TypeError, match="forgot_to_return") as info:
        client(app).get("/none")
    assert "None" in str(info.value)


def test_unknown_return_type_names_the_view(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/bad")
    def returns_object() -> Any:
        return object()

    @app.route("/bad-int")
    def returns_int() -> Any:
        return 42

    with pytest.raises(TypeError, match="returns_object") as info:
        client(app).get("/bad")
    assert "object" in str(info.value)
    with pytest.raises(TypeError, match="returns_int"):
        client(app).get("/bad-int")


def test_bad_return_is_500_when_not_testing(client: Any) -> None:
    app = Erlen(__name__)
    app.logger.disabled = True

    @app.route("/none")
    def nothing() -> None:
        return None

    assert client(app).get("/none").status_code == 500


def test_bad_tuple_is_type_error(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/t")
    def t() -> Any:
        return "a", 200, {}, "extra"

    with pytest.raises(TypeError, match="tuple"):
        client(app).get("/t")


def test_make_response_variants_in_context() -> None:
    app = Erlen(__name__)
    with app.test_request_context():
        r = make_response()
        assert r.status_code == 200 and r.data == b""
        r = make_response("body", 404)
        assert r.status_code == 404 and r.data == b"body"
        r = make_response(("t", 201, {"X": "1"}))
        assert r.status_code == 201 and r.headers["X"] == "1"
        r = make_response({"j": 1})
        assert r.is_json and r.get_json() == {"j": 1}
        original = Response("x")
        assert make_response(original) is original
        assert make_response("a", {"X-H": "h"}).headers["X-H"] == "h"


@pytest.mark.parametrize("code", [301, 302, 303, 305, 307, 308])
def test_redirect_codes(code: int) -> None:
    r = redirect("/to", code)
    assert r.status_code == code
    assert r.headers["Location"] == "/to"
    assert r.location == "/to"
    r = redirect("/to")
    assert r.status_code == 302


def test_redirect_custom_response_class() -> None:
    class MyResponse(Response):
        pass

    r = redirect("/x", Response=MyResponse)
    assert isinstance(r, MyResponse)
    app = Erlen(__name__)
    app.response_class = MyResponse
    with app.app_context():
        assert isinstance(redirect("/y"), MyResponse)


def test_custom_response_class_used_for_views(client: Any) -> None:
    class MyResponse(Response):
        default_mimetype = "text/plain"

    app = Erlen(__name__)
    app.response_class = MyResponse

    @app.route("/")
    def index() -> str:
        return "plain"

    assert client(app).get("/").headers["Content-Type"] == "text/plain; charset=utf-8"


def test_werkzeug_response_returned_by_view(client: Any) -> None:
    from werkzeug.wrappers import Response as WResponse

    app = Erlen(__name__)

    @app.route("/")
    def index() -> Any:
        return WResponse("from werkzeug", 202, {"X-W": "1"}, mimetype="text/plain")

    r = client(app).get("/")
    assert r.status_code == 202
    assert r.text == "from werkzeug"
    assert r.headers["X-W"] == "1"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_streamed_responses_are_sent_chunk_by_chunk_asgi(asgi_call: Any, kind: str) -> None:
    app = Erlen(__name__)

    @app.route("/sync")
    def sync_stream() -> Any:
        def gen() -> Iterator[str]:
            for i in range(4):
                yield f"part{i};"

        return gen()

    @app.route("/async")
    async def async_stream() -> Any:
        async def gen() -> AsyncIterator[str]:
            for i in range(4):
                await asyncio.sleep(0)
                yield f"part{i};"

        return gen()

    messages: list[dict[str, Any]] = []

    async def main() -> None:
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/{kind}",
            "raw_path": f"/{kind}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(main())
    start = messages[0]
    assert start["type"] == "http.response.start"
    assert b"content-length" not in dict(start["headers"])
    chunks = [m["body"] for m in messages[1:] if m.get("body")]
    assert chunks == [f"part{i};".encode() for i in range(4)]  # one message per chunk
    assert messages[-1].get("more_body", False) is False


def test_streamed_response_chunks_wsgi() -> None:
    from wsgiref.util import setup_testing_defaults

    app = Erlen(__name__)

    @app.route("/")
    def stream() -> Any:
        def gen() -> Iterator[bytes]:
            yield b"one"
            yield b"two"

        return gen()

    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    headers: list[Any] = []
    result = app(env, lambda status, h, exc_info=None: headers.extend(h))
    try:
        assert list(result) == [b"one", b"two"]  # the server gets each chunk as it comes
    finally:
        result.close()  # type: ignore[attr-defined]
    assert "Content-Length" not in dict(headers)


def _redirect_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)

    @app.route("/go")
    def go() -> Any:
        return mod.redirect(mod.request.args["t"], int(mod.request.args.get("code", 302)))

    return app


@pytest.mark.parametrize(
    "target",
    [
        "/plain",
        "https://example.test/a?b=c#d",
        "/café",
        "https://exämple.test/ä?q=ü#frag",
        "/a b",
        "/x?a=1&b=é d",
        '/"quoted"<tag>',
        "//other.test/path",
        "/%41already-encoded",
        "/\u2028line-separator",
    ],
)
def test_redirect_matches_flask(oracle: Any, target: str) -> None:
    o = oracle(_redirect_app)
    o.check("GET", "/go", query_string={"t": target})
    o.check("GET", "/go", query_string={"t": target, "code": "307"})


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize("httponly", [False, True])
@pytest.mark.parametrize(
    "value", ["", "abc", "eyJjb3VudCI6MX0.axG3TQ.2WcGSMCDj_a9", "a b", 'a"b', "a;b", "é"]
)
@pytest.mark.parametrize("key", ["session", "a b", "ké"])
def test_set_cookie_matches_werkzeug(key: str, value: str, secure: bool, httponly: bool) -> None:
    """The quick path for plain browser-session cookies writes Werkzeug's exact header."""
    from werkzeug.http import dump_cookie

    response = Response()
    response.set_cookie(key, value, secure=secure, httponly=httponly)
    assert response.headers.getlist("Set-Cookie") == [
        dump_cookie(key, value, secure=secure, httponly=httponly)
    ]


def test_oversized_plain_cookie_warns_as_werkzeug() -> None:
    response = Response()
    with pytest.warns(UserWarning, match="too large"):
        response.set_cookie("big", "x" * 5000)


def test_response_class_changes_after_requests_are_seen(client: Any) -> None:
    """What a str or dict return is built from is learned once per response class; setting
    an attribute of the class later (as a test or an app may) is seen by the next response."""

    class Plain(Response):
        pass

    app = Erlen(__name__)
    app.response_class = Plain

    @app.get("/")
    def index() -> str:
        return "héllo"

    @app.get("/json")
    def data() -> dict[str, int]:
        return {"a": 1}

    c = client(app)
    first = c.get("/")
    assert (first.status_code, first.content_type) == (200, "text/html; charset=utf-8")
    assert c.get("/json").content_type == "application/json"

    Plain.default_mimetype = "text/plain"
    Plain.default_status = 203
    r = c.get("/")
    assert (r.status_code, r.content_type, r.data) == (
        203,
        "text/plain; charset=utf-8",
        "héllo".encode(),
    )

    Plain.charset = "latin-1"
    r = c.get("/")
    assert r.content_type == "text/plain; charset=latin-1"
    assert r.data == "héllo".encode("latin-1")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        Response.__init__(self, *args, **kwargs)
        self.headers["X-Built-By"] = "init"

    Plain.__init__ = __init__  # type: ignore[method-assign]
    assert c.get("/").headers["X-Built-By"] == "init"
    assert c.get("/json").headers["X-Built-By"] == "init"

    del Plain.__init__, Plain.charset, Plain.default_status, Plain.default_mimetype
    r = c.get("/")
    assert (r.status_code, r.content_type) == (200, "text/html; charset=utf-8")
    assert "X-Built-By" not in r.headers


def test_response_class_of_a_subclass_with_its_own_init(client: Any) -> None:
    class Tagged(Response):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.headers["X-Tagged"] = "1"

    app = Erlen(__name__)
    app.response_class = Tagged
    app.get("/")(lambda: "hi")
    r = client(app).get("/")
    assert (r.data, r.headers["X-Tagged"]) == (b"hi", "1")
