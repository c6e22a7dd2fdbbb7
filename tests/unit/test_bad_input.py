"""Bad input gets a clear 4xx (or a clear exception for programmer errors), never a 500 or a hang.

In process, through both doors. The same inputs against real servers (gunicorn for WSGI,
uvicorn for ASGI) are in ``tests/integration/test_bad_input_real_servers.py``.
"""

from __future__ import annotations

import io
from types import ModuleType
from typing import Any

import pytest

import erlen
from erlen import Erlen, redirect, request
from support import TIMEOUT


def _bad_app(mod: ModuleType, cls: type) -> Any:
    app = cls(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    app.config["MAX_FORM_PARTS"] = 20
    app.logger.disabled = True

    @app.route("/p/<path:p>")
    def path_view(p: str) -> Any:
        return {"p": p, "args": mod.request.args.to_dict(flat=False)}

    @app.route("/args")
    def args() -> Any:
        return {"args": mod.request.args.to_dict(flat=False), "full_path": mod.request.full_path}

    @app.route("/json", methods=["POST"])
    def as_json() -> Any:
        return {"type": type(mod.request.get_json()).__name__}

    @app.route("/form", methods=["POST"])
    def form() -> Any:
        return {"form": mod.request.form.to_dict(), "files": sorted(mod.request.files)}

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return {"len": len(mod.request.get_data())}

    @app.route("/go")
    def go() -> Any:
        return mod.redirect(mod.request.args.get("next", "/"))

    return app


# -- in process, both doors -------------------------------------------------------------------

BAD_PATHS = [
    "/p/%zz",
    "/p/%",
    "/p/a%2",
    "/p/%C3",
    "/p/%ff%fe",
    "/p/%C3%28",
    "/p/%00",
    "/p/..%2f..%2fetc",
    "/args?a=%zz&b=%&c=%ff&d=%C3%28",
    "/args?%=1&&&=&a",
    "/args?" + "x=1&" * 500,
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_malformed_urls_never_500(client: Any, path: str) -> None:
    r = client(_bad_app(erlen, Erlen)).get(path)
    assert r.status_code < 500
    assert r.status_code in (200, 400, 404)


@pytest.mark.parametrize("path", BAD_PATHS)
def test_malformed_urls_like_flask(oracle: Any, path: str) -> None:
    o = oracle(_bad_app)
    f, e = o.check("GET", path, compare_body=False)
    if f.status_code == 200:
        assert e.get_json() == f.get_json()


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": b"{", "content_type": "application/json"}, 400),
        ({"data": b"", "content_type": "application/json"}, 400),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400),
        ({"data": b'{"a": NaN}', "content_type": "application/json"}, 200),
        ({"data": b"{}", "content_type": "text/plain"}, 415),
        ({"data": b"{}", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": b"{}"}, 415),
        ({"data": b"{}", "content_type": "application/jsonx"}, 415),
        ({"data": b"[" * 100_000, "content_type": "application/json"}, 413),
        ({"data": b"[" * 900, "content_type": "application/json"}, 400),
    ],
)
def test_bad_json(client: Any, kwargs: dict[str, Any], status: int) -> None:
    r = client(_bad_app(erlen, Erlen)).post("/json", **kwargs)
    assert r.status_code == status, r.data[:200]


def test_deeply_nested_json_is_400_not_500(client: Any) -> None:
    """Flask answers 500 (RecursionError); Erlen a 400."""
    app = Erlen(__name__)

    @app.route("/json", methods=["POST"])
    def as_json() -> Any:
        return {"type": type(request.get_json()).__name__}

    @app.route("/silent", methods=["POST"])
    def silent() -> Any:
        return {"value": request.get_json(silent=True)}

    c = client(app)
    for payload in (b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000):
        r = c.post("/json", data=payload, content_type="application/json")
        assert r.status_code == 400, r.data[:200]
        assert c.post("/silent", data=payload, content_type="application/json").json == {
            "value": None
        }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--x--\r\n",
            "multipart/form-data",
        ),
        (b"garbage without boundary", "multipart/form-data; boundary=abc"),
        (
            b'--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated',
            "multipart/form-data; boundary=abc",
        ),
        (b"--abc\r\nno headers end", "multipart/form-data; boundary=abc"),
        (b"--abc\r\n\r\n\r\n--abc--\r\n", "multipart/form-data; boundary=abc"),
        (b"--abc--\r\n", "multipart/form-data; boundary=abc"),
        (b"--" + b"a" * 300 + b"\r\n", "multipart/form-data; boundary=" + "a" * 300),
        (b"a=1&b=%zz&%ff=2", "application/x-www-form-urlencoded"),
        (b"\xff\xfe=\x00", "application/x-www-form-urlencoded; charset=utf-8"),
        (
            "".join(
                f'--abc\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
                for i in range(30)
            ).encode()
            + b"--abc--\r\n",
            "multipart/form-data; boundary=abc",
        ),
    ],
)
def test_malformed_forms_never_500(client: Any, body: bytes, content_type: str) -> None:
    r = client(_bad_app(erlen, Erlen)).post("/form", data=body, content_type=content_type)
    assert r.status_code in (200, 400, 413), (r.status_code, r.data[:300])


def test_malformed_multipart_like_flask(oracle: Any) -> None:
    o = oracle(_bad_app)
    for body, ctype in [
        (b"garbage", "multipart/form-data; boundary=abc"),
        (
            b'--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nv',
            "multipart/form-data; boundary=abc",
        ),
        (b"x", "multipart/form-data"),
    ]:
        o.check("POST", "/form", data=body, content_type=ctype, compare_body=False)


def test_oversize_bodies_413(client: Any) -> None:
    c = client(_bad_app(erlen, Erlen))
    assert c.post("/echo", data=b"x" * 1001).status_code == 413
    assert c.post("/form", data={"a": "x" * 2000}).status_code == 413
    assert c.post("/form", data={"f": (io.BytesIO(b"x" * 2000), "f.txt")}).status_code == 413
    assert c.post("/json", json=["x" * 2000]).status_code == 413
    assert c.post("/echo", data=b"x" * 1000).json == {"len": 1000}


def test_crlf_in_header_value_set_by_view_is_a_clear_error(client: Any) -> None:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/set")
    def set_header() -> Any:
        response = erlen.make_response("x")
        response.headers["X-Injected"] = "a\r\nSet-Cookie: evil=1"
        return response

    @app.route("/tuple")
    def tuple_header() -> Any:
        return "x", {"X-Injected": "a\nb"}

    @app.route("/cookie")
    def cookie() -> Any:
        response = erlen.make_response("x")
        response.set_cookie("c", "a\r\nb")
        return response

    c = client(app)
    for path in ("/set", "/tuple"):
        with pytest.raises(ValueError, match="newline"):
            c.get(path)
    # A cookie value is quoted, never split into a new header line.
    r = c.get("/cookie")
    assert r.status_code == 200
    assert "\n" not in r.headers["Set-Cookie"] and "\r" not in r.headers["Set-Cookie"]


def test_crlf_header_error_is_500_without_testing(client: Any) -> None:
    app = Erlen(__name__)
    app.logger.disabled = True

    @app.route("/set")
    def set_header() -> Any:
        response = erlen.make_response("x")
        response.headers["X-Injected"] = "a\r\nb"
        return response

    r = client(app).get("/set")
    assert r.status_code == 500
    assert "X-Injected" not in r.headers


@pytest.mark.parametrize(
    "target",
    [
        "/ok\r\nSet-Cookie: evil=1",
        "/ok\nX-Evil: 1",
        "/ok\rX: 1",
        "http://example.test/\r\n\r\n<script>",
        "/caf\u00e9 space",
        "/tab\there",
        "/\x00null",
    ],
)
def test_crlf_in_redirect_target_from_user_input(client: Any, target: str) -> None:
    """Flask answers 500 here; Erlen sends a safe, percent-encoded Location."""
    r = client(_bad_app(erlen, Erlen)).get("/go", query_string={"next": target})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert all(ch not in location for ch in "\r\n\t\x00 ")
    assert "Set-Cookie" not in r.headers
    assert "X-Evil" not in r.headers
    assert location.isascii()


def test_redirect_helper_encodes_control_characters() -> None:
    r = redirect("/a\r\nb c")
    assert r.headers["Location"] == "/a%0D%0Ab%20c"
    assert redirect("/plain?x=1#frag").headers["Location"] == "/plain?x=1#frag"


def test_wrong_content_type_for_form(client: Any) -> None:
    r = client(_bad_app(erlen, Erlen)).post("/form", data=b"a=1", content_type="text/plain")
    assert r.json == {"form": {}, "files": []}


def test_terminated_wsgi_input_over_limit_is_413_not_truncated() -> None:
    """A chunked body (wsgi.input_terminated, no Content-Length) over MAX_CONTENT_LENGTH."""
    from werkzeug.test import EnvironBuilder

    app = _bad_app(erlen, Erlen)

    def call(body: bytes) -> tuple[str, bytes]:
        env = EnvironBuilder("/echo", method="POST").get_environ()
        env.pop("CONTENT_LENGTH", None)
        env["wsgi.input"] = io.BytesIO(body)
        env["wsgi.input_terminated"] = True
        out: dict[str, str] = {}
        result = app(env, lambda status, headers, exc_info=None: out.setdefault("s", status))
        data = b"".join(result)
        return out["s"], data

    assert call(b"x" * 1000) == ("200 OK", b'{"len":1000}\n')
    assert call(b"x" * 1001)[0] == "413 REQUEST ENTITY TOO LARGE"
    assert call(b"x" * 5000)[0] == "413 REQUEST ENTITY TOO LARGE"


def test_broken_wsgi_input_is_400() -> None:
    """A server's input that fails mid-body (gunicorn's InvalidChunkSize is an IOError)."""
    from werkzeug.test import EnvironBuilder

    class BrokenInput(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            raise OSError("Invalid chunk size")

    app = Erlen(__name__)

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return {"len": len(request.get_data())}

    def status_for(terminated: bool) -> str:
        env = EnvironBuilder("/echo", method="POST", data=b"abc").get_environ()
        env["wsgi.input"] = BrokenInput()
        if terminated:
            env.pop("CONTENT_LENGTH", None)
            env["wsgi.input_terminated"] = True
        statuses: list[str] = []
        result = app(env, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(result)
        return statuses[0]

    assert status_for(terminated=True).startswith("400")
    assert status_for(terminated=False).startswith("400")


@pytest.mark.parametrize("broken", [False, True])
def test_urlencoded_form_body_shorter_than_declared_or_failing_is_400(broken: bool) -> None:
    """The urlencoded form reads its declared length at once: a short or failing body is a 400."""
    from werkzeug.test import EnvironBuilder

    class BrokenInput(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            raise OSError("Invalid chunk size")

    torn_down: list[BaseException | None] = []
    app = _bad_app(erlen, Erlen)
    app.teardown_request(torn_down.append)
    env = EnvironBuilder(
        "/form", method="POST", data=b"a=1&b=2", content_type="application/x-www-form-urlencoded"
    ).get_environ()
    env["CONTENT_LENGTH"] = "50"  # the client promised more than it sent
    env["wsgi.input"] = BrokenInput() if broken else io.BytesIO(b"a=1&b=2")
    statuses: list[str] = []
    result = app(env, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(result)
    assert statuses == ["400 BAD REQUEST"]
    assert len(torn_down) == 1


def test_urlencoded_form_consumes_the_body(client: Any) -> None:
    """After ``request.form`` the body is consumed, as in Flask: data and stream are empty."""
    app = Erlen(__name__)

    @app.post("/")
    def view() -> Any:
        form = request.form.to_dict(flat=False)
        return {
            "form": form,
            "data": request.get_data(as_text=True),
            "rest": len(request.stream.read()),
        }

    for c in (client(app),):
        r = c.post(
            "/", data="a=1&a=2&b=%20x+y&=empty&c", content_type="application/x-www-form-urlencoded"
        )
        assert r.json == {
            "form": {"a": ["1", "2"], "b": [" x y"], "": ["empty"], "c": [""]},
            "data": "",
            "rest": 0,
        }


def test_slow_client_under_asgi_door_in_process(asgi_call: Any) -> None:
    """A request waiting for its body yields the loop.

    The property ``test_uvicorn_slow_client_delays_no_one`` checks on a real server
    (``tests/integration/test_bad_input_real_servers.py``), here without one.
    """
    import asyncio

    app = Erlen(__name__)

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return {"len": len(request.get_data())}

    @app.route("/fast")
    async def fast_view() -> str:
        return "fast"

    async def main() -> tuple[Any, Any]:
        more = asyncio.Event()
        finished = asyncio.Event()
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            if not status:
                status.append(0)
                return {"type": "http.request", "body": b"x" * 10, "more_body": True}
            if len(status) == 1:
                await more.wait()  # the client is slow: nothing arrives until `more` is set
                status.append(1)
                return {"type": "http.request", "body": b"x" * 90, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        out: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                out.append(message.get("body", b""))
                if not message.get("more_body"):
                    finished.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/echo",
            "raw_path": b"/echo",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t"), (b"content-length", b"100")],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        slow = asyncio.ensure_future(app(scope, receive, send))
        fast = await asyncio.wait_for(asgi_call(app, "GET", "/fast"), TIMEOUT)
        assert not slow.done()
        more.set()
        await asyncio.wait_for(slow, TIMEOUT)
        return fast, b"".join(out)

    fast_answer, slow_body = asyncio.run(main())
    assert fast_answer[0] == 200 and fast_answer[2] == b"fast"
    assert slow_body == b'{"len":100}\n'
