"""Start every server command in docs/deployment.md on loopback and request pages from it.

The commands are read from the docs' ``sh`` blocks, so the docs cannot drift from what is
tested. Install commands (``pip install``) are not run. Each server runs from
``examples/hello`` on a free port, is polled until it answers (bounded), and is always
terminated with its whole process group.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import wsgi_servers

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
DOCKERFILE = REPO / "Dockerfile"
BIN = Path(sys.executable).parent
SERVERS = ("gunicorn", "uvicorn", "granian", "hypercorn", "erlen", "uwsgi", "mod_wsgi-express")
DOC_PORT = "8000"
START_TIMEOUT = 40.0


def fenced_blocks(text: str, language: str) -> list[str]:
    """Return the bodies of the ``` blocks tagged *language* in markdown *text*."""
    pattern = re.compile(rf"^```{re.escape(language)}\n(.*?)^```$", re.S | re.M)
    return pattern.findall(text)


def doc_commands() -> list[str]:
    """The server commands shown in docs/deployment.md."""
    commands = []
    for block in fenced_blocks(DEPLOYMENT_DOC.read_text(encoding="utf-8"), "sh"):
        for line in block.splitlines():
            line = line.strip()
            if line.split(" ", 1)[0] in SERVERS:
                commands.append(line)
    return commands


def expected_door(command: str) -> str:
    """Which door of the app a documented command serves."""
    if "--interface wsgi" in command or command.startswith(("uwsgi", "mod_wsgi-express")):
        return "wsgi"
    if command.startswith("gunicorn") and "--worker-class" not in command:
        return "wsgi"
    return "asgi"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_", "GUNICORN_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def resolve(argv: list[str]) -> list[str]:
    exe = BIN / argv[0]
    if exe.exists():
        return [str(exe), *argv[1:]]
    found = shutil.which(argv[0])
    if found is None:
        pytest.fail(f"{argv[0]} is not installed in {BIN} nor on PATH")
    return [found, *argv[1:]]


class Server:
    """A running server process and the log it writes."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.base = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kwargs)  # type: ignore[arg-type]


@contextmanager
def serve(
    argv: list[str], cwd: Path, log: Path, port: int, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start *argv*, wait until it answers ``GET /`` and always stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            resolve(argv),
            cwd=cwd,
            env=env or clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{argv} exited with {proc.returncode}:\n{server.output()}")
            try:
                httpx.get(server.base + "/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{argv} did not answer in {START_TIMEOUT}s:\n{server.output()}")
                time.sleep(0.1)
        yield server
    finally:
        wsgi_servers.stop(proc)


def with_port(command: str, port: int) -> list[str]:
    return shlex.split(command.replace(DOC_PORT, str(port)))


def check_hello(server: Server, door: str) -> None:
    page = server.get("/")
    assert page.status_code == 200
    assert "Hello from Erlen!" in page.text
    info = server.get("/api/info").json()
    assert info["message"] == "hello"
    assert info["door"] == door
    assert info["remote_addr"] == "127.0.0.1"
    assert server.get("/async").json() == {"async": True, "message": "hello"}
    assert server.get("/missing").status_code == 404


# -- the documented commands ---------------------------------------------------------------------


KINDS: dict[str, Callable[[str], bool]] = {
    "gunicorn": lambda c: c.startswith("gunicorn") and "--worker-class" not in c,
    "gunicorn+uvicorn-worker": lambda c: "--worker-class uvicorn_worker.UvicornWorker" in c,
    "uvicorn": lambda c: c.startswith("uvicorn"),
    "granian-asgi": lambda c: c.startswith("granian --interface asgi"),
    "granian-wsgi": lambda c: c.startswith("granian --interface wsgi"),
    "hypercorn": lambda c: c.startswith("hypercorn"),
    "erlen-run": lambda c: c.startswith("erlen run"),
    "uwsgi-http": lambda c: c.startswith("uwsgi --http "),
    "uwsgi-socket": lambda c: c.startswith("uwsgi --socket "),
    "mod_wsgi": lambda c: c.startswith("mod_wsgi-express start-server "),
}


def doc_command(kind: str) -> str:
    """The one documented command of *kind*."""
    (command,) = [c for c in doc_commands() if KINDS[kind](c)]
    return command


def test_docs_show_every_server() -> None:
    commands = doc_commands()
    assert len(commands) == len(set(commands))
    for kind in KINDS:
        assert doc_command(kind)
    assert all(DOC_PORT in c for c in commands), "each command binds the documented port"


def optional_server_missing(command: str) -> str | None:
    """Why the server of *command* cannot run here (uWSGI and mod_wsgi are optional)."""
    if command.startswith("uwsgi"):
        return wsgi_servers.uwsgi_missing()
    if command.startswith("mod_wsgi-express"):
        return wsgi_servers.mod_wsgi_missing()
    return None


@pytest.mark.parametrize(
    # uWSGI's --socket speaks the uwsgi protocol: tested behind nginx below.
    "command",
    [c for c in doc_commands() if not KINDS["uwsgi-socket"](c)],
)
def test_documented_command_serves_the_app(command: str, tmp_path: Path) -> None:
    missing = optional_server_missing(command)
    if missing:
        pytest.skip(missing)
    port = free_port()
    argv = with_port(command, port)
    if command.startswith("mod_wsgi-express"):
        argv = [*wsgi_servers.mod_wsgi_prefix(), *argv]
    try:
        with serve(argv, HELLO, tmp_path / "server.log", port) as server:
            check_hello(server, expected_door(command))
    finally:
        if command.startswith("mod_wsgi-express"):
            shutil.rmtree(wsgi_servers.mod_wsgi_server_root(port), ignore_errors=True)


def test_dockerfile_cmd_serves_the_app(tmp_path: Path) -> None:
    match = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert match is not None
    argv = json.loads(match.group(1))
    port = free_port()
    # A container binds 0.0.0.0; here the same command binds loopback only.
    argv = [a.replace("0.0.0.0", "127.0.0.1").replace(DOC_PORT, str(port)) for a in argv]
    with serve(argv, HELLO, tmp_path / "server.log", port) as server:
        check_hello(server, "asgi")


def test_dockerfile_in_docs_is_the_real_one() -> None:
    blocks = fenced_blocks(DEPLOYMENT_DOC.read_text(encoding="utf-8"), "dockerfile")
    assert blocks == [DOCKERFILE.read_text(encoding="utf-8")]


def test_dockerfile_copies_what_exists() -> None:
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


# -- behind a proxy ------------------------------------------------------------------------------


def proxied_app(tmp_path: Path) -> Path:
    """examples/hello plus the ProxyFix lines from the docs."""
    blocks = [
        b for b in fenced_blocks(DEPLOYMENT_DOC.read_text("utf-8"), "python") if "ProxyFix" in b
    ]
    assert len(blocks) == 1
    folder = tmp_path / "proxied"
    folder.mkdir()
    source = (HELLO / "app.py").read_text(encoding="utf-8")
    (folder / "app.py").write_text(source + "\n\n" + blocks[0], encoding="utf-8")
    return folder


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn", "hypercorn", "granian-wsgi"])
def test_proxy_fix_trusts_only_the_proxy(kind: str, tmp_path: Path) -> None:
    command = doc_command(kind)
    folder = proxied_app(tmp_path)
    port = free_port()
    # What nginx sends when the client itself forged an X-Forwarded-For header.
    headers = {
        "X-Forwarded-For": "6.6.6.6, 203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "example.com",
    }
    with serve(with_port(command, port), folder, tmp_path / "server.log", port) as server:
        info = server.get("/api/info", headers=headers).json()
        assert info["remote_addr"] == "203.0.113.7"
        assert info["scheme"] == "https"
        assert info["host"] == "example.com"
        assert info["url"] == "https://example.com/api/info"
        plain = server.get("/api/info").json()
        assert plain["remote_addr"] == "127.0.0.1"
        assert plain["scheme"] == "http"


# -- erlen run -----------------------------------------------------------------------------------

WS_APP = """
from erlen import Erlen
from erlen.websocket import websocket

app = Erlen(__name__)


@app.route("/")
def index():
    return "ws app"


@app.websocket("/echo")
async def echo():
    await websocket.accept()
    async for message in websocket:
        await websocket.send(f"echo: {message}")
"""


def test_erlen_run_serves_websockets(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    (tmp_path / "app.py").write_text(WS_APP, encoding="utf-8")
    port = free_port()
    argv = ["erlen", "run", "--port", str(port)]
    with serve(argv, tmp_path, tmp_path / "server.log", port) as server:
        assert server.get("/").text == "ws app"
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "echo: hi"


def wait_for(
    server: Server,
    path: str,
    expected: str,
    timeout: float = 40.0,
    edit: Callable[[], None] | None = None,
) -> str:
    """Poll *path* until its body contains *expected* (bounded), and return the body.

    With *edit*, make the edit first and again every 2 s until the change shows: uvicorn's
    reloader starts watching only at its first check, a quarter of a second after the server
    process starts, so an edit made before that is never seen (the server may already answer).
    """
    deadline = time.monotonic() + timeout
    next_edit = time.monotonic()
    last = ""
    while time.monotonic() < deadline:
        if edit is not None and time.monotonic() >= next_edit:
            edit()
            next_edit = time.monotonic() + 2.0
        try:
            last = server.get(path).text
        except httpx.TransportError:
            last = "(restarting)"
        if expected in last:
            return last
        time.sleep(0.2)
    pytest.fail(f"{path} never showed {expected!r} (last: {last!r}):\n{server.output()}")


RELOAD_APP = """
from erlen import Erlen, render_template

app = Erlen(__name__)


@app.route("/")
def index():
    return "version one"


@app.route("/page")
def page():
    return render_template("page.html")
"""


def test_erlen_run_reload_picks_up_code_and_template_changes(tmp_path: Path) -> None:
    app_file = tmp_path / "app.py"
    app_file.write_text(RELOAD_APP, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "page.html"
    template.write_text("<p>template one</p>", encoding="utf-8")
    port = free_port()
    # --no-debug: templates are not auto-reloaded, so only a restart shows the new one.
    argv = ["erlen", "run", "--reload", "--no-debug", "--port", str(port)]
    with serve(argv, tmp_path, tmp_path / "server.log", port) as server:
        assert server.get("/").text == "version one"
        assert server.get("/page").text == "<p>template one</p>"
        # A different length: Python trusts a cached .pyc whose source has the same size and
        # the same mtime in whole seconds, so a same-size edit within a second of the first
        # write would be imported stale by the restarted process (when bytecode is written).
        new_code = RELOAD_APP.replace("version one", "version two, reloaded")
        wait_for(
            server,
            "/",
            "version two, reloaded",
            edit=lambda: app_file.write_text(new_code, encoding="utf-8"),
        )
        wait_for(
            server,
            "/page",
            "template two",
            edit=lambda: template.write_text("<p>template two</p>", encoding="utf-8"),
        )


APP_RUN = """
import sys

from erlen import Erlen

app = Erlen(__name__)


@app.route("/")
def index():
    return f"debug={app.debug}"


@app.route("/boom")
def boom():
    value_in_view = "local-marker"
    raise RuntimeError("app.run boom")


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), debug=sys.argv[2] == "debug")
"""


@pytest.mark.parametrize("mode", ["plain", "debug"])
def test_app_run_serves(mode: str, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP_RUN, encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "app.py", str(port), mode]
    with serve(argv, tmp_path, tmp_path / "server.log", port) as server:
        assert server.get("/").text == f"debug={mode == 'debug'}"
        boom = server.get("/boom")
        assert boom.status_code == 500
        if mode == "debug":
            # debug=True also turns on reloading: the app is served from a fresh process.
            assert "RuntimeError" in boom.text
            assert "local-marker" in boom.text
            assert "Reloading on changes" in server.output()
        else:
            assert "app.run boom" not in boom.text


# -- behind nginx ---------------------------------------------------------------------------------

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_config(tmp_path: Path, listen_port: int, app_port: int, static: Path) -> Path:
    """Wrap the proxy_pass server block from docs/deployment.md in a runnable nginx configuration."""
    (snippet,) = [
        b for b in fenced_blocks(DEPLOYMENT_DOC.read_text("utf-8"), "nginx") if "proxy_pass" in b
    ]
    snippet = (
        snippet.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
        .replace("alias /srv/app/static/;", f"alias {static}/;")
        .replace("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{app_port};")
    )
    assert f"127.0.0.1:{app_port}" in snippet and f"{static}/" in snippet
    return wsgi_servers.nginx_conf(tmp_path, snippet)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (CI installs Debian's nginx)")
@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_behind_nginx_as_documented(kind: str, tmp_path: Path) -> None:
    assert NGINX is not None
    folder = proxied_app(tmp_path)
    static = tmp_path / "static"
    static.mkdir()
    (static / "site.css").write_text("body { color: green }", encoding="utf-8")
    app_port, nginx_port = free_port(), free_port()
    conf = nginx_config(tmp_path, nginx_port, app_port, static)
    command = with_port(doc_command(kind), app_port)
    with serve(command, folder, tmp_path / "server.log", app_port):
        with (tmp_path / "nginx.log").open("wb") as out:
            proc = subprocess.Popen(
                [NGINX, "-p", str(tmp_path), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            base = f"http://127.0.0.1:{nginx_port}"
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail((tmp_path / "nginx-error.log").read_text("utf-8", "replace"))
                try:
                    httpx.get(base + "/", timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        pytest.fail("nginx did not answer")
                    time.sleep(0.1)
            # nginx serves static files itself and proxies the rest.
            assert httpx.get(base + "/static/site.css").text == "body { color: green }"
            # A client forging X-Forwarded-For: nginx appends the real address, ProxyFix
            # trusts only that last hop.
            info = httpx.get(
                base + "/api/info",
                headers={"Host": "example.com", "X-Forwarded-For": "6.6.6.6"},
                timeout=10,
            ).json()
            assert info["remote_addr"] == "127.0.0.1"
            assert info["host"] == "example.com"
            assert info["scheme"] == "http"
            assert info["url"] == "http://example.com/api/info"
        finally:
            wsgi_servers.stop(proc)


def test_uwsgi_behind_nginx_as_documented(tmp_path: Path) -> None:
    """The documented ``uwsgi --socket`` command behind the documented uwsgi_pass block."""
    missing = wsgi_servers.uwsgi_missing() or wsgi_servers.nginx_missing()
    if missing:
        pytest.skip(missing)
    command = doc_command("uwsgi-socket")
    assert wsgi_servers.uwsgi_argv(8000, "app:app", socket=True)[1:] == shlex.split(command)[1:]
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "site.css").write_text("body { color: green }", encoding="utf-8")
    with wsgi_servers.serve_nginx_uwsgi(HELLO, "app:app", tmp_path) as base:
        # nginx serves static files itself and passes the rest over the uwsgi protocol.
        assert httpx.get(base + "/static/site.css").text == "body { color: green }"
        page = httpx.get(base + "/", timeout=10)
        assert page.status_code == 200 and "Hello from Erlen!" in page.text
        # uwsgi_params hands the app the client's address and nginx's $host: no ProxyFix, so
        # a forged X-Forwarded-For changes nothing.
        info = httpx.get(
            base + "/api/info",
            headers={"Host": "example.com", "X-Forwarded-For": "6.6.6.6"},
            timeout=10,
        ).json()
        assert info["door"] == "wsgi"
        assert info["remote_addr"] == "127.0.0.1"
        assert info["url"] == "http://example.com/api/info"
        assert httpx.get(base + "/async", timeout=10).json() == {"async": True, "message": "hello"}
        assert httpx.get(base + "/missing", timeout=10).status_code == 404
