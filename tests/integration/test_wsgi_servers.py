"""What Erlen does on its own under uWSGI (alone and behind nginx) and Apache with mod_wsgi.

The request-by-request comparisons run in ``test_realserver_core.py`` and
``test_bad_input_real_servers.py``; this module checks what those cannot: async views on one
persistent loop per worker thread, and streamed responses reaching the client while the view
is still producing them. Each server runs as docs/deployment.md shows it.
"""

from __future__ import annotations

import os
import shutil
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import TIMEOUT
from wsgi_servers import readable_dir, serve_wsgi

APP_SOURCE = textwrap.dedent(
    """
    import asyncio
    import os
    import threading
    import time

    from erlen import Erlen, request

    app = Erlen(__name__)
    HERE = os.path.dirname(os.path.abspath(__file__))


    @app.route("/where")
    async def where():
        # Three awaits that run concurrently on the thread's loop.
        results = await asyncio.gather(*(asyncio.sleep(0, result=i) for i in range(3)))
        return {
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "loop": id(asyncio.get_running_loop()),
            "gathered": results,
        }


    def wait_for(flag):
        # The test creates the flag after it has read the first chunk (bounded wait).
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(HERE, flag)) and time.monotonic() < deadline:
            time.sleep(0.02)


    # nginx holds a response from uWSGI in its buffers unless told not to, as docs/deployment.md
    # says (Erlen's server-sent events send this header themselves).
    STREAMED = {"Content-Type": "text/plain", "X-Accel-Buffering": "no"}


    @app.route("/held/<flag>")
    def held(flag):
        def gen():
            yield "first;"
            wait_for(flag)
            yield "second"
        return gen(), STREAMED


    @app.route("/aheld/<flag>")
    async def aheld(flag):
        async def gen():
            yield "first;"
            await asyncio.to_thread(wait_for, flag)
            yield "second"
        return gen(), STREAMED
    """
)

KINDS = ["uwsgi", "nginx+uwsgi", "mod_wsgi"]


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """The app on one server; yields its base URL and the app's folder (readable by all)."""
    folder = readable_dir("erlen-wsgi-servers-")
    try:
        (folder / "wsgiapp.py").write_text(APP_SOURCE, encoding="utf-8")
        (folder / "wsgiapp.py").chmod(0o644)
        with serve_wsgi(request.param, folder, "wsgiapp:app") as base:
            yield base, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_async_views_run_on_one_loop_per_thread(server: tuple[str, Path]) -> None:
    base, _ = server
    loops: dict[tuple[int, int], set[int]] = {}
    with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        for _ in range(40):
            r = http.get("/where")
            assert r.status_code == 200, r.text
            info = r.json()
            assert info["gathered"] == [0, 1, 2]
            loops.setdefault((info["pid"], info["thread"]), set()).add(info["loop"])
    # Never a fresh loop per request: each worker thread reuses its own.
    assert all(len(ids) == 1 for ids in loops.values()), loops


def _read_until(sock: socket.socket, marker: bytes, deadline: float) -> bytes:
    received = b""
    while marker not in received:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} not received in time; got {received[-300:]!r}")
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}: {received[-300:]!r}")
        received += chunk
    return received


@pytest.mark.parametrize("view", ["held", "aheld"])
def test_streamed_chunks_reach_the_client_while_the_view_runs(
    server: tuple[str, Path], view: str
) -> None:
    """The first chunk arrives before the view is allowed to produce the second."""
    base, folder = server
    flag = f"flag-{view}-{os.getpid()}-{time.monotonic_ns()}"
    host, port = base.removeprefix("http://").split(":")
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        request = f"GET /{view}/{flag} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        head = _read_until(sock, b"first;", deadline)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert b"second" not in head
        (folder / flag).touch()
        rest = _read_until(sock, b"second", deadline)
        assert b"second" in rest
