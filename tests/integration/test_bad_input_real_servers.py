"""Bad input against real servers: a clear 4xx, never a 500 or a hang.

Gunicorn, uWSGI behind nginx and Apache with mod_wsgi for WSGI, uvicorn for ASGI, with raw
sockets for what an HTTP client library would refuse to send. The same inputs in process, through both doors, are in
``tests/unit/test_bad_input.py``.
"""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support import TIMEOUT
from wsgi_servers import serve_wsgi

# Large enough for a JSON document nested 100,000 deep, small enough to test 413s quickly.
SERVER_LIMIT = 300_000

APP_SOURCE = textwrap.dedent(
    """
    from erlen import Erlen, redirect, request

    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = __LIMIT__
    app.logger.disabled = True


    @app.route("/p/<path:p>")
    def path_view(p):
        return {"p": p, "args": request.args.to_dict(flat=False)}


    @app.route("/echo", methods=["POST"])
    def echo():
        return {"len": len(request.get_data())}


    @app.route("/json", methods=["POST"])
    def as_json():
        return {"type": type(request.get_json()).__name__}


    @app.route("/form", methods=["POST"])
    def form():
        return {"form": request.form.to_dict(), "files": sorted(request.files)}


    @app.route("/go")
    def go():
        return redirect(request.args.get("next", "/"))


    @app.route("/fast")
    def fast():
        return "fast"
    """
).replace("__LIMIT__", str(SERVER_LIMIT))


@pytest.fixture(scope="module", params=["gunicorn+uvicorn", "nginx+uwsgi", "mod_wsgi"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, real_server: Any
) -> Iterator[dict[str, str]]:
    """The app on gunicorn and uvicorn, on uWSGI behind nginx, or on Apache with mod_wsgi.

    uWSGI's own HTTP router passes no chunked body to the app (docs/deployment.md), so uWSGI
    meets bad input behind nginx, as in production. nginx's and Apache's body limits are the
    app's, as docs/deployment.md advises.
    """
    path = tmp_path_factory.mktemp("bad_input")
    (path / "badapp.py").write_text(APP_SOURCE)
    if request.param != "gunicorn+uvicorn":
        with serve_wsgi(request.param, path, "badapp:app", body_limit=SERVER_LIMIT) as base:
            yield {request.param: base}
        return
    with (
        real_server("gunicorn", path, "badapp:app") as g,
        real_server("uvicorn", path, "badapp:app") as u,
    ):
        yield {"gunicorn": g, "uvicorn": u}


def _addr(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def raw_request(base: str, data: bytes, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """Send raw bytes on a new connection; return the status and everything received."""
    with socket.create_connection(_addr(base), timeout=timeout) as s:
        # No half-close: uvicorn treats EOF from the client as a disconnect. "Connection: close"
        # in the request makes the server close after its answer.
        s.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    if not received:
        return 0, b""
    status_line = received.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), received


def _req(
    method: str, target: bytes, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
    ]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


RAW_TARGETS = [
    b"/p/%zz",
    b"/p/%",
    b"/p/%ff%fe",
    b"/p/\xff\xfe",
    b"/p/caf\xc3\xa9",
    b"/p/x?a=%zz&b=\xff&c=%C3%28",
    b"/p/%00",
]


@pytest.mark.parametrize("target", RAW_TARGETS)
def test_real_servers_malformed_urls(servers: dict[str, str], target: bytes) -> None:
    for name, base in servers.items():
        status, raw = raw_request(base, _req("GET", target))
        assert status in (200, 400, 404), (name, target, raw[:300])


def test_real_servers_bad_json_and_deep_nesting(servers: dict[str, str]) -> None:
    """Deeply nested JSON is a 400 (a RecursionError and a 500 on Flask)."""
    headers = {"Content-Type": "application/json"}
    for name, base in servers.items():
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            assert http.post("/json", content=b"{", headers=headers).status_code == 400, name
            for deep in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000):
                assert http.post("/json", content=deep, headers=headers).status_code == 400, name
            r = http.post("/json", content=b"{}", headers={"Content-Type": "text/plain"})
            assert r.status_code == 415, name
            assert http.post("/json", content=b"[[[1]]]", headers=headers).json() == {
                "type": "list"
            }
        # Its own connection: gunicorn drains at most 64 KiB of an unread body, then drops
        # the keep-alive connection, so a request after it on the same one would fail.
        too_big = b"[" + b"1," * (SERVER_LIMIT // 2) + b"1]"  # just over the limit
        assert httpx.post(f"{base}/json", content=too_big, headers=headers).status_code == 413


def test_real_servers_redirect_crlf(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            r = http.get("/go", params={"next": "/x\r\nSet-Cookie: evil=1"})
            assert r.status_code == 302, name
            assert "set-cookie" not in r.headers, name
            assert "\r" not in r.headers["location"] and "\n" not in r.headers["location"]


def test_real_servers_malformed_multipart(servers: dict[str, str]) -> None:
    body = b'--abc\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated'
    for name, base in servers.items():
        status, raw = raw_request(
            base,
            _req(
                "POST",
                b"/form",
                {
                    "Content-Type": "multipart/form-data; boundary=abc",
                    "Content-Length": str(len(body)),
                },
                body,
            ),
        )
        assert status in (200, 400), (name, raw[:300])


def test_real_servers_oversize_declared_body(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        # Declared over the limit, body never sent: answered at once, no hang.
        status, raw = raw_request(
            base, _req("POST", b"/echo", {"Content-Length": str(SERVER_LIMIT * 10)}, b"x" * 10)
        )
        assert status == 413, (name, raw[:300])
        # One connection each (see test_real_servers_bad_json_and_deep_nesting).
        r = httpx.post(f"{base}/echo", content=b"x" * (SERVER_LIMIT + 1), timeout=TIMEOUT)
        assert r.status_code == 413, name
        r = httpx.post(f"{base}/echo", content=b"x" * SERVER_LIMIT, timeout=TIMEOUT)
        assert r.json() == {"len": SERVER_LIMIT}, name


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"


def test_real_servers_chunked_body(servers: dict[str, str]) -> None:
    for name, base in servers.items():
        status, raw = raw_request(
            base,
            _req(
                "POST", b"/echo", {"Transfer-Encoding": "chunked"}, _chunked(b"a" * 300, b"b" * 200)
            ),
        )
        assert status == 200, (name, raw[:300])
        assert raw.endswith(b'{"len":500}\n'), (name, raw[-100:])


def test_real_servers_chunked_body_over_limit_is_413(servers: dict[str, str]) -> None:
    """Flask silently truncates this body at MAX_CONTENT_LENGTH; Erlen answers 413."""
    for name, base in servers.items():
        status, raw = raw_request(
            base,
            _req(
                "POST",
                b"/echo",
                {"Transfer-Encoding": "chunked"},
                _chunked(b"a" * (SERVER_LIMIT // 2), b"b" * (SERVER_LIMIT // 2 + 1)),
            ),
        )
        assert status == 413, (name, raw[:300])


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not a hex size
        b"5\r\nabc\r\n0\r\n\r\n",  # size larger than the data
        b"3\r\nabcXX0\r\n\r\n",  # missing CRLF after the data
        b"-1\r\nabc\r\n0\r\n\r\n",  # negative size
        b"3;bad\x00ext\r\nabc\r\n0\r\n\r\n",  # a control character in an extension
    ],
)
def test_real_servers_malformed_chunked_body(servers: dict[str, str], body: bytes) -> None:
    """Flask answers 500 on gunicorn; Erlen a 4xx (or the server rejects it itself)."""
    for name, base in servers.items():
        status, raw = raw_request(
            base, _req("POST", b"/echo", {"Transfer-Encoding": "chunked"}, body), timeout=5.0
        )
        assert status != 500, (name, raw[:300])
        if name == "nginx+uwsgi" and b";" in body:
            # nginx skips chunk extensions unread and hands the app the valid body "abc".
            assert raw.endswith(b'{"len":3}\n'), (name, raw[:300])
            continue
        assert status == 0 or 400 <= status < 500, (name, raw[:300])


@pytest.mark.parametrize("servers", ["gunicorn+uvicorn"], indirect=True)
def test_uvicorn_slow_client_delays_no_one(servers: dict[str, str]) -> None:
    """A client dribbling its body keeps only its own request waiting."""
    base = servers["uvicorn"]
    with socket.create_connection(_addr(base), timeout=TIMEOUT) as slow:
        slow.sendall(_req("POST", b"/echo", {"Content-Length": "100"}, b"x" * 10))
        # The slow request is now waiting for 90 more bytes. Another client is not delayed.
        start = time.monotonic()
        with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
            for _ in range(5):
                assert http.get("/fast").text == "fast"
        fast_elapsed = time.monotonic() - start
        assert fast_elapsed < 2.0, fast_elapsed
        # The slow client finishes; its request completes normally.
        done = threading.Event()
        received = bytearray()

        def read() -> None:
            while True:
                chunk = slow.recv(65536)
                if not chunk:
                    break
                received.extend(chunk)
            done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for _ in range(9):
            slow.sendall(b"x" * 10)
        assert done.wait(TIMEOUT)
        assert received.startswith(b"HTTP/1.1 200")
        assert received.endswith(b'{"len":100}\n')
