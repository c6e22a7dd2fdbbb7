"""Shared fixtures: run core behaviour through both doors, and compare with Flask.

* ``protocol`` runs a test once through the WSGI door and once through the ASGI door.
* ``client`` turns an app built inline into a test client for the current protocol.
* ``oracle`` builds the same tiny app on Flask and on Erlen and asserts that both answer
  a request with the same status, body and the headers that matter.
* An autouse fixture fails any test that leaves an app or request context pushed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import flask
import pytest

import erlen
from erlen.globals import _cv_app, _cv_request

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

Build = Callable[[ModuleType, type], Any]


@pytest.fixture(params=["wsgi", "asgi"])
def protocol(request: pytest.FixtureRequest) -> str:
    """The door a test drives the app through."""
    return str(request.param)


@pytest.fixture
def client(protocol: str) -> Callable[..., Any]:
    """``client(app)`` -> ``app.test_client(asgi=...)`` for the current protocol."""

    def make(app: Any, **kwargs: Any) -> Any:
        return app.test_client(asgi=(protocol == "asgi"), **kwargs)

    return make


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    """Fail a test that leaves an app or request context pushed."""
    yield
    app_ctx = _cv_app.get(None)
    req_ctx = _cv_request.get(None)
    if app_ctx is not None or req_ctx is not None:
        _unwind()  # so that one leak does not fail every later test too
        pytest.fail(f"test left a context pushed: app={app_ctx!r} request={req_ctx!r}")


def _unwind() -> None:
    """Reset the context variables through the leaked contexts' own tokens."""
    for var in (_cv_request, _cv_app):
        for _ in range(100):
            ctx: Any = var.get(None)
            if ctx is None or not getattr(ctx, "_tokens", None):
                break
            token = ctx._tokens.pop()
            var.reset(token[0] if isinstance(token, tuple) else token)
        if var.get(None) is not None:  # pragma: no cover - a context pushed by other means
            var.set(None)  # type: ignore[arg-type]


# -- the Flask oracle --------------------------------------------------------------------------

DEFAULT_HEADERS = ("Content-Type", "Location", "Allow", "Set-Cookie", "WWW-Authenticate")


def _method_set(value: str | None) -> set[str] | None:
    return None if value is None else {m.strip() for m in value.split(",")}


class Oracle:
    """The same app built on Flask and on Erlen; ``check`` asserts they answer alike."""

    def __init__(self, build: Build, protocol: str) -> None:
        self.flask_app = build(flask, flask.Flask)
        self.erlen_app = build(erlen, erlen.Erlen)
        self.protocol = protocol
        self.flask_client = self.flask_app.test_client()
        self.erlen_client = self.erlen_app.test_client(asgi=(protocol == "asgi"))

    def check(
        self,
        method: str,
        path: str,
        *,
        headers_to_compare: Iterable[str] = DEFAULT_HEADERS,
        compare_body: bool = True,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        """Send the same request to both apps and assert the same answer."""
        f = self.flask_client.open(path, method=method, **kwargs)
        e = self.erlen_client.open(path, method=method, **kwargs)
        where = f"{method} {path} ({self.protocol})"
        assert e.status_code == f.status_code, f"{where}: status {e.status_code} != {f.status_code}"
        if compare_body:
            assert e.data == f.data, f"{where}: body {e.data[:300]!r} != {f.data[:300]!r}"
        for name in headers_to_compare:
            if name == "Allow":
                # Flask lists the methods in set order (random per process); compare as sets.
                assert _method_set(e.headers.get(name)) == _method_set(f.headers.get(name)), where
                continue
            assert e.headers.getlist(name) == f.headers.getlist(name), (
                f"{where}: header {name}: {e.headers.getlist(name)} != {f.headers.getlist(name)}"
            )
        if compare_body and method != "HEAD" and not f.is_streamed:
            assert e.headers.get("Content-Length") == f.headers.get("Content-Length"), where
        return f, e


@pytest.fixture
def oracle(protocol: str) -> Callable[[Build], Oracle]:
    """``oracle(build)``: ``build(module, AppClass)`` is called for Flask and for Erlen."""

    def make(build: Build) -> Oracle:
        return Oracle(build, protocol)

    return make


# -- real servers --------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, log: IO[bytes], timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            out = log.read().decode(errors="replace")
            raise RuntimeError(f"server exited early with {proc.returncode}:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # readiness polling of an external process: no event to wait on
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


@contextmanager
def serve(kind: str, app_dir: Path, target: str, *extra: str) -> Iterator[str]:
    """Serve ``target`` (``module:app``) with a real gunicorn or uvicorn; yield its base URL."""
    port = free_port()
    if kind == "gunicorn":
        cmd = [
            PYTHON,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--graceful-timeout",
            "1",
            "--log-level",
            "warning",
            *extra,
            target,
        ]
    elif kind == "uvicorn":
        cmd = [
            PYTHON,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--lifespan",
            "on",
            *extra,
            target,
        ]
    else:  # pragma: no cover
        raise ValueError(kind)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(app_dir), str(ROOT / "src")])}
    # Output goes to a file, not a pipe nobody drains (a full pipe would block the server).
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(proc, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        # SIGINT: a quick shutdown for gunicorn (SIGTERM waits out the graceful timeout).
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="session")
def real_server() -> Callable[..., Any]:
    """``with real_server("gunicorn" | "uvicorn", app_dir, "mod:app") as base_url: ...``"""
    return serve


async def asgi_request(
    app: Any,
    method: str = "GET",
    path: str = "/",
    *,
    query_string: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body_chunks: Iterable[bytes] = (),
    root_path: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """Call an ASGI app in-process; return status, headers (last value wins) and body.

    The body is sent in the given chunks; after it, ``receive`` waits until the response
    has ended and then reports a disconnect, as servers do.
    """
    import asyncio

    chunks = list(body_chunks) or [b""]
    finished = asyncio.Event()
    status = 0
    out_headers: dict[str, str] = {}
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for k, v in message.get("headers", []):
                out_headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query_string,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    return status, out_headers, b"".join(body)


@pytest.fixture
def asgi_call() -> Callable[..., Any]:
    """``await asgi_call(app, "GET", "/path", ...)`` -> (status, headers, body)."""
    return asgi_request
