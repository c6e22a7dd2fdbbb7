"""Helpers that test modules import: free ports, real servers, an in-process ASGI call."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: Seconds a test waits on a request to a server (real or in process) before it fails.
TIMEOUT = 10.0


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


# -- a headless browser ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: What Chromium needs on this machine (root, no display, a closed network).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (
            f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing):"
            " apt-get install chromium chromium-driver"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install selenium)"
    return None


def launch_chromium(profile: Path, *flags: str, wait: float = 20.0) -> Any:
    """Start a headless Chromium with its own profile; page loads and scripts bounded by ``wait``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, *flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(wait)
    driver.set_script_timeout(wait)
    return driver


# -- docs pages run as written --------------------------------------------------------------------


def run_markdown(path: Path, optionflags: int = 0) -> int:
    """Run a page's ```python blocks and doctest its ```pycon blocks, in page order.

    Returns the number of examples tried; a failing example fails the calling test.
    """
    import doctest
    import re
    import types

    text = path.read_text("utf8")
    # The page's names live in a module registered as ``docs_example`` while it runs, so code
    # that looks a class's module up (dataclasses, SQLAlchemy's ``Mapped["Post"]``) finds them.
    module = types.ModuleType("docs_example")
    globs: dict[str, Any] = module.__dict__
    saved = sys.modules.get("docs_example")
    sys.modules["docs_example"] = module
    attempted = 0
    try:
        for language, body in re.findall(r"^```(python|pycon)\n(.*?)^```$", text, re.S | re.M):
            if language == "python":
                exec(compile(body, str(path), "exec"), globs)
                continue
            test = doctest.DocTestParser().get_doctest(body, globs, path.name, str(path), 0)
            runner = doctest.DocTestRunner(optionflags=optionflags)
            runner.run(test, clear_globs=False)
            globs.update(test.globs)  # DocTest copies its globals; keep what the session defined
            failed, tried = runner.summarize(verbose=False)
            assert failed == 0, f"{path.name}: {failed} example(s) failed (see captured stdout)"
            attempted += tried
    finally:
        if saved is None:
            sys.modules.pop("docs_example", None)
        else:
            sys.modules["docs_example"] = saved
    return attempted


def isolated_cli_run(monkeypatch: Any, tmp_path: Path) -> Iterator[None]:
    """For a CLI test fixture: run in an empty folder without ERLEN_/FLASK_ variables, and
    restore the environment, sys.path and sys.modules afterwards."""
    for key in list(os.environ):
        if key.startswith(("ERLEN_", "FLASK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    saved_env = dict(os.environ)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]
