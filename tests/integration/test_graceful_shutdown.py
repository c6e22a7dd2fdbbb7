"""SIGTERM under real servers: requests in flight finish, WebSockets close with 1001, lifespan shutdown runs.

Each server is started on loopback. The slow view writes a file when it starts
and then waits for a release file, which the test creates only once the server
has logged that it is shutting down: the request is in flight when the signal
arrives, by construction. uvicorn itself closes WebSockets with 1012 (service
restart) before the app hears of the shutdown; Erlen closes them with 1001
first (see ``erlen.lifespan``), and the test with the feature off pins
uvicorn's own behaviour. WSGI has no lifespan and no WebSockets, so under
gunicorn's sync and gthread workers only the request in flight is checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from tests.support import free_port
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

#: Seconds a server may take from SIGTERM to exit (the in-flight request is released at once).
EXIT_BOUND = 15.0

APP = """
import os
import time

from erlen import Erlen, websocket

app = Erlen(__name__)
app.config["WEBSOCKET_CLOSE_ON_SHUTDOWN"] = os.environ.get("CLOSE_ON_SHUTDOWN", "1") == "1"
here = os.path.dirname(os.path.abspath(__file__))


def mark(name, text=""):
    with open(os.path.join(here, name), "w") as f:
        f.write(text)


@app.after_serving
def stopped():
    mark("after_serving")


@app.route("/slow")
def slow():
    mark("started")
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(here, "release")):
        if time.monotonic() > deadline:
            return "never released", 500
        time.sleep(0.02)
    mark("finished")
    return "done"


@app.websocket("/ws")
async def ws():
    await websocket.accept()
    await websocket.send("ready")
    try:
        async for message in websocket:
            await websocket.send(message)
    finally:
        mark("ws_closed", str(websocket.close_code))
"""


@contextmanager
def started(
    cmd: list[str], port: int, cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    log = (cwd / "server.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: _connectable(port) or proc.poll() is not None, 20)
        assert proc.poll() is None, read_log(cwd)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()


def _connectable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(cond: object, timeout: float) -> bool:
    """Poll ``cond()`` until it is true or ``timeout`` seconds pass; return its last value."""
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)  # polling an external process: there is no event to wait on
    return bool(cond())


def read_log(d: Path) -> str:
    return (d / "server.log").read_text(errors="replace")


def server_cmd(kind: str, port: int) -> list[str]:
    if kind == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "shutdown_app:app",
        ]  # fmt: skip
    if kind == "hypercorn":
        return [
            sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", str(HYPERCORN_GRACE), "shutdown_app:app",
        ]  # fmt: skip
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", "10", "shutdown_app:app",
        ]  # fmt: skip
    worker = {
        "gunicorn-uvicorn": ["-k", "uvicorn_worker.UvicornWorker"],
        "gunicorn-sync": ["-k", "sync"],
        "gunicorn-gthread": ["-k", "gthread", "--threads", "4"],
    }[kind]
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        *worker, "--graceful-timeout", "10", "--log-level", "info", "shutdown_app:app",
    ]  # fmt: skip


#: hypercorn's --graceful-timeout in the test (seconds).
HYPERCORN_GRACE = 2

#: What each server logs once it has begun to shut down.
SHUTDOWN_LOGGED = {
    "granian": "Shutting down granian",
    "uvicorn": "Shutting down",
    "gunicorn-uvicorn": "Shutting down",
    "gunicorn-sync": "Handling signal: term",
    "gunicorn-gthread": "Handling signal: term",
}


def run_shutdown(
    tmp_path: Path,
    kind: str,
    websockets: bool,
    close_on_shutdown: bool = True,
    slow: bool = True,
) -> dict[str, object]:
    (tmp_path / "shutdown_app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "CLOSE_ON_SHUTDOWN": "1" if close_on_shutdown else "0"}
    env["PYTHONPATH"] = str(tmp_path)
    out: dict[str, object] = {}
    with ExitStack() as stack:
        proc = stack.enter_context(started(server_cmd(kind, port), port, tmp_path, env))
        ws = (
            stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10))
            if websockets
            else None
        )
        if ws is not None:
            assert ws.recv(timeout=10) == "ready"
        result: dict[str, object] = {}

        def slow_request() -> None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=20)
                result["status"], result["body"] = r.status_code, r.text
            except httpx.HTTPError as e:
                result["error"] = repr(e)

        t = threading.Thread(target=slow_request)
        if slow:
            t.start()
            assert wait_until(lambda: (tmp_path / "started").exists(), 10), read_log(tmp_path)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        if ws is not None:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            rcvd = closed.value.rcvd
            out["ws_code"] = rcvd.code if rcvd is not None else None
            out["ws_closed_after"] = time.monotonic() - sent
            ws.close()
        if slow:
            finish_slow_request(tmp_path, kind, t)
        out.update(result)
        try:
            proc.wait(EXIT_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"{kind} did not exit within {EXIT_BOUND}s of SIGTERM:\n{read_log(tmp_path)}"
            )
        out["exit_seconds"] = time.monotonic() - sent
    out["after_serving"] = (tmp_path / "after_serving").exists()
    ws_closed = tmp_path / "ws_closed"
    out["handler_close_code"] = ws_closed.read_text() if ws_closed.exists() else None
    out["log"] = read_log(tmp_path)
    return out


def finish_slow_request(tmp_path: Path, kind: str, t: threading.Thread) -> None:
    """Release the request in flight once the server has logged its shutdown; wait for it."""
    assert wait_until(lambda: SHUTDOWN_LOGGED[kind] in read_log(tmp_path), 10), read_log(tmp_path)
    # The request is still in flight: only now may it finish.
    assert not (tmp_path / "finished").exists()
    (tmp_path / "release").write_text("")
    t.join(20)
    assert not t.is_alive()


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn-uvicorn"])
def test_asgi_sigterm_finishes_request_closes_websocket_1001_runs_lifespan(
    tmp_path: Path, kind: str
) -> None:
    out = run_shutdown(tmp_path, kind, websockets=True)
    assert out.get("status") == 200 and out.get("body") == "done", out
    assert out["ws_code"] == 1001, out
    assert out["handler_close_code"] == "1001", out
    assert out["after_serving"], out["log"]
    assert out["exit_seconds"] < EXIT_BOUND  # type: ignore[operator]


def test_uvicorn_alone_closes_websockets_with_1012(tmp_path: Path) -> None:
    """With ``WEBSOCKET_CLOSE_ON_SHUTDOWN = False`` the client sees uvicorn's own close: 1012."""
    out = run_shutdown(tmp_path, "uvicorn", websockets=True, close_on_shutdown=False)
    assert out.get("status") == 200, out
    assert out["ws_code"] == 1012, out
    assert out["handler_close_code"] == "1012", out
    assert out["after_serving"], out["log"]


@pytest.mark.parametrize("kind", ["gunicorn-sync", "gunicorn-gthread"])
def test_wsgi_sigterm_finishes_request_in_flight(tmp_path: Path, kind: str) -> None:
    out = run_shutdown(tmp_path, kind, websockets=False)
    assert out.get("status") == 200 and out.get("body") == "done", out
    # WSGI has no lifespan protocol: after_serving does not run (docs/deployment.md).
    assert not out["after_serving"]
    assert out["exit_seconds"] < EXIT_BOUND  # type: ignore[operator]


def test_granian_closes_websockets_1001_at_lifespan_shutdown(tmp_path: Path) -> None:
    """granian drops open WebSockets without a close frame on SIGTERM: Erlen's 1001 goes first.

    The close is handed to granian in the loop callback that the signal schedules, which runs
    before granian's own handler for the signal (its transport starts writing when ``send`` is
    called). Closing in a task's first step instead lost the race about one run in ten under load.
    """
    out = run_shutdown(tmp_path, "granian", websockets=True)
    assert out.get("status") == 200 and out.get("body") == "done", out
    assert out["ws_code"] == 1001, out
    assert out["handler_close_code"] == "1001", out
    assert out["after_serving"], out["log"]


def test_granian_alone_drops_websockets_without_a_close_frame(tmp_path: Path) -> None:
    """With ``WEBSOCKET_CLOSE_ON_SHUTDOWN = False`` the client sees granian's own behaviour: no close
    frame at all (the handler hears 1005, no status), which is why Erlen sends 1001 first."""
    out = run_shutdown(tmp_path, "granian", websockets=True, close_on_shutdown=False)
    assert out.get("status") == 200, out
    assert out["ws_code"] is None, out
    assert out["handler_close_code"] == "1005", out
    assert out["after_serving"], out["log"]


def test_hypercorn_keeps_websockets_open_until_its_graceful_timeout(tmp_path: Path) -> None:
    """hypercorn's worker hears of the shutdown from its parent, not from a signal: WebSockets
    stay open until ``--graceful-timeout``, then their tasks are cancelled and Erlen sends 1001."""
    out = run_shutdown(tmp_path, "hypercorn", websockets=True, slow=False)
    assert out["ws_code"] == 1001, out
    assert out["ws_closed_after"] >= HYPERCORN_GRACE, out  # type: ignore[operator]
    assert out["after_serving"], out["log"]
