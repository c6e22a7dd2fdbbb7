"""A streamed response on a real server stops its generator when the client hangs up.

The in-process cases (the request context during iteration, disconnects through both
doors) are in ``tests/unit/test_streaming.py``.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER_APP = """
import asyncio
import threading
import time

from erlen import Erlen, g, request, session

app = Erlen(__name__)
app.secret_key = "real server"
events = {
    name: threading.Event()
    for name in ("sync", "async", "slow-sync", "teardown-sync", "teardown-async",
                 "teardown-slow-sync")
}
seen = {}


@app.teardown_request
def teardown(exc):
    name = request.args.get("name")
    if name:
        events["teardown-" + name].set()


@app.route("/login")
def login():
    session["user"] = "ann"
    return "ok"


@app.route("/stream/async")
async def stream_async():
    g.who = request.args["who"]

    async def generate():
        i = 0
        try:
            while True:
                i += 1
                yield f"{i} {g.who} {session.get('user')} {request.path}\\n"
                await asyncio.sleep(0.005)
        finally:
            seen["async"] = i
            events["async"].set()

    return generate()


@app.route("/stream/sync")
def stream_sync():
    g.who = request.args["who"]

    def generate():
        i = 0
        try:
            while True:
                i += 1
                yield f"{i} {g.who} {session.get('user')} {request.path}\\n"
        finally:
            seen["sync"] = i
            events["sync"].set()

    return generate()


@app.route("/stream/slow-sync")
def stream_slow_sync():
    def generate():
        i = 0
        try:
            while True:
                i += 1
                yield f"{i}\\n"
                time.sleep(0.05)
        finally:
            seen["slow-sync"] = i
            events["slow-sync"].set()

    return generate()


@app.route("/wait/<name>")
def wait(name):
    # A long poll: the test waits on the server's event instead of sleeping.
    return {"set": events[name].wait(10), "seen": seen.get(name)}
"""


def dechunk(data: bytes) -> bytes:
    """Decode a (possibly cut off) chunked body."""
    out = b""
    while data:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def read_some_then_hang_up(base_url: str, path: str, cookie: str, lines: int) -> list[str]:
    """Read a few lines of a streamed body over a raw socket, then drop the connection."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n".encode())
        data = b""
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
            head, _, body = data.partition(b"\r\n\r\n")
            text = dechunk(body) if b"chunked" in head.lower() else body
            if text.count(b"\n") >= lines:
                break
    return text.decode().splitlines()[:lines]


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
@pytest.mark.parametrize("kind", ["sync", "async", "slow-sync"])
def test_real_server_disconnect_stops_the_generator(
    real_server: Any, tmp_path: Path, server: str, kind: str
) -> None:
    (tmp_path / "stream_app.py").write_text(textwrap.dedent(SERVER_APP), encoding="utf-8")
    with (
        real_server(server, tmp_path, "stream_app:app") as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
    ):
        login = http.get("/login")
        cookie = f"session={login.cookies['session']}"
        lines = read_some_then_hang_up(base_url, f"/stream/{kind}?who=bob&name={kind}", cookie, 3)
        if kind != "slow-sync":
            assert lines[0] == f"1 bob ann /stream/{kind}"
        stopped = http.get(f"/wait/{kind}").json()
        assert stopped["set"], f"the {kind} generator's finally did not run"
        assert http.get(f"/wait/teardown-{kind}").json()["set"]
