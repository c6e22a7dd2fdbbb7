"""uWSGI and Apache with mod_wsgi for the real-server tests: find them, start them, stop them.

Neither comes with ``make install``: ``uwsgi`` compiles against the Python headers and
``mod-wsgi`` needs Debian's ``apache2`` and ``apache2-dev``. ``.ci/run`` installs both into
the venv; elsewhere the tests that need them skip and say what to install.

Apache refuses to serve as root, so under root mod_wsgi's daemon processes run as
``www-data``. They must read the app, the venv and the Python the venv was made from; when
that Python sits in a home folder ``www-data`` may not enter (pyenv under ``/root``), the server
runs in a private mount namespace in which that folder is replaced by one holding only the
Python's own tree (nothing on the machine changes).
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UWSGI = BIN / "uwsgi"
MOD_WSGI_EXPRESS = BIN / "mod_wsgi-express"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
#: The user mod_wsgi's daemon processes run as when the tests run as root (Debian's Apache user).
APACHE_USER = "www-data"
START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uwsgi_missing() -> str | None:
    """Why uWSGI cannot run here, or None."""
    if not UWSGI.exists():
        return f"uWSGI is not installed in {BIN}: pip install uwsgi (needs gcc and Python headers)"
    return None


def mod_wsgi_missing() -> str | None:
    """Why Apache with mod_wsgi cannot run here, or None."""
    if not MOD_WSGI_EXPRESS.exists():
        return (
            f"mod_wsgi-express is not installed in {BIN}: apt-get install apache2 apache2-dev,"
            " then pip install mod-wsgi"
        )
    apache = [shutil.which(n) for n in ("apache2", "httpd")] + ["/usr/sbin/apache2"]
    if not any(a and Path(a).exists() for a in apache):
        return "Apache is not installed: apt-get install apache2"
    if os.geteuid() == 0 and _daemon_wrapper() is None:
        return (
            f"the {APACHE_USER} user cannot import erlen and mod_wsgi from {sys.executable}"
            " (its Python is in a folder that user may not enter, and unshare is unavailable)"
        )
    return None


def _open_to_others(folder: Path) -> bool:
    """Whether any user may list *folder* and enter every folder on its path."""
    folder = folder.resolve()
    if not folder.stat().st_mode & stat.S_IROTH:
        return False
    return all(p.stat().st_mode & stat.S_IXOTH for p in (folder, *folder.parents))


def readable_dir(prefix: str) -> Path:
    """A new folder under the system temp dir that mod_wsgi's daemon user can read."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# -- running as www-data --------------------------------------------------------------------


def _needed_paths() -> list[Path]:
    import mod_wsgi  # type: ignore[import-not-found]

    import erlen

    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(erlen.__file__).parent]
    paths.append(Path(mod_wsgi.__file__).parent)
    return [p.resolve() for p in paths]


def _closed_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The first folder above *path* that others may not enter, and its child on the way."""
    for parent in reversed(path.parents):
        if parent == Path("/"):
            continue
        if not parent.stat().st_mode & stat.S_IXOTH:
            child = path.relative_to(parent).parts[0]
            return parent, parent / child
    return None


def _can_import(wrapper: list[str]) -> bool:
    argv = [*wrapper, "runuser", "-u", APACHE_USER, "--", sys.executable, "-c"]
    argv.append("import erlen, mod_wsgi")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


_WRAPPER: list[list[str] | None] = []


def _daemon_wrapper() -> list[str] | None:
    """A command prefix under which www-data can run the venv's Python (``[]``: none needed).

    None when there is no such prefix.
    """
    if _WRAPPER:
        return _WRAPPER[0]
    wrapper: list[str] | None = []
    if not _can_import([]):
        closed = {c for c in map(_closed_ancestor, _needed_paths()) if c is not None}
        wrapper = _namespace_wrapper(sorted(closed)) if closed else None
        if wrapper is not None and (shutil.which("unshare") is None or not _can_import(wrapper)):
            wrapper = None
    _WRAPPER.append(wrapper)
    return wrapper


def _namespace_wrapper(closed: list[tuple[Path, Path]]) -> list[str]:
    """``unshare`` a mount namespace where each closed folder holds only the needed child."""
    keep = Path(tempfile.mkdtemp(prefix="erlen-keep-"))
    atexit.register(shutil.rmtree, keep, ignore_errors=True)
    lines = ["set -e"]
    for i, (_, child) in enumerate(closed):
        lines.append(f"mkdir -p '{keep}/{i}' && mount --bind '{child}' '{keep}/{i}'")
    for folder in sorted({f for f, _ in closed}):
        lines.append(f"mount -t tmpfs -o mode=711 tmpfs '{folder}'")
    for i, (_, child) in enumerate(closed):
        lines.append(f"mkdir -p '{child}' && mount --bind '{keep}/{i}' '{child}'")
    lines.append('exec "$@"')
    script = "; ".join(lines)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "erlen-ns"]


def mod_wsgi_prefix() -> list[str]:
    """What goes before a ``mod_wsgi-express`` command so that its daemons can start."""
    if os.geteuid() != 0:
        return []
    wrapper = _daemon_wrapper()
    assert wrapper is not None, "call mod_wsgi_missing() first"
    return wrapper


# -- processes -----------------------------------------------------------------------------


def wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll until *port* accepts a connection (bounded); fail with the log if it never does."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            out = log.read_text("utf-8", "replace")
            raise RuntimeError(f"server exited with {proc.returncode}:\n{out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                out = log.read_text("utf-8", "replace")
                raise RuntimeError(
                    f"nothing listens on {port} after {START_TIMEOUT}s:\n{out}"
                ) from None
            time.sleep(0.05)  # readiness of an external process: no event to wait on


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group started for *proc* (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    # Workers and Apache's daemons may outlive their parent for a moment; the group is ours.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=STOP_TIMEOUT)


def app_env(app_dir: Path) -> dict[str, str]:
    """The environment a server runs in: the app's folder and erlen's source importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "UWSGI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(app_dir), str(ROOT / "src")])
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextmanager
def run(argv: list[str], cwd: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start *argv* in its own process group, wait until *port* listens, always stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=app_env(cwd),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_listening(proc, port, log)
        yield proc
    finally:
        stop(proc)


# -- the commands, as docs/deployment.md shows them ------------------------------------------

DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
DOC_PORT = "8000"


def fenced_blocks(language: str) -> list[str]:
    """The bodies of docs/deployment.md's ``` blocks tagged *language*."""
    pattern = re.compile(rf"^```{re.escape(language)}\n(.*?)^```$", re.S | re.M)
    return pattern.findall(DEPLOYMENT_DOC.read_text(encoding="utf-8"))


def documented(prefix: str) -> list[str]:
    """The one command in docs/deployment.md's ``sh`` blocks that starts with *prefix*."""
    lines = [
        line.strip()
        for block in fenced_blocks("sh")
        for line in block.splitlines()
        if line.strip().startswith(prefix)
    ]
    assert len(lines) == 1, (prefix, lines)
    return shlex.split(lines[0])


def _replace(argv: list[str], option: str, value: str) -> list[str]:
    """*argv* with the value after *option* replaced (the option must be there)."""
    at = argv.index(option) + 1
    return [*argv[:at], value, *argv[at + 1 :]]


def uwsgi_argv(port: int, target: str, *, socket: bool = False) -> list[str]:
    """The documented uWSGI command (``--http`` or ``--socket``) for *target* on *port*."""
    mode = "--socket" if socket else "--http"
    argv = documented(f"uwsgi {mode} ")
    argv = _replace(argv, mode, f"127.0.0.1:{port}")
    argv = _replace(argv, "--module", target)
    return [str(UWSGI), *argv[1:]]


@contextmanager
def serve_uwsgi(app_dir: Path, target: str, log: Path) -> Iterator[str]:
    """uWSGI's own HTTP router in front of its workers; yield the base URL."""
    port = free_port()
    with run(uwsgi_argv(port, target), app_dir, port, log):
        yield f"http://127.0.0.1:{port}"


def nginx_conf(folder: Path, server_block: str) -> Path:
    """Wrap a documented nginx ``server`` block in a main configuration kept in *folder*."""
    if Path("/etc/nginx/uwsgi_params").exists():  # for the uwsgi_pass block's include
        shutil.copy(Path("/etc/nginx/uwsgi_params"), folder / "uwsgi_params")
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
user root;
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/nginx-access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{server_block}
}}
""",
        encoding="utf-8",
    )
    return conf


def uwsgi_nginx_block(
    listen_port: int, uwsgi_port: int, static: Path, body_limit: int | None = None
) -> str:
    """The documented nginx block for uWSGI, on these ports and this static folder.

    *body_limit* replaces the documented ``client_max_body_size`` (the app's limit).
    """
    (block,) = [b for b in fenced_blocks("nginx") if "uwsgi_pass" in b]
    if body_limit is not None:
        block = re.sub(r"client_max_body_size \w+;", f"client_max_body_size {body_limit};", block)
        assert f"client_max_body_size {body_limit};" in block
    filled = (
        block.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
        .replace("alias /srv/app/static/;", f"alias {static}/;")
        .replace(f"uwsgi_pass 127.0.0.1:{DOC_PORT};", f"uwsgi_pass 127.0.0.1:{uwsgi_port};")
    )
    assert f"127.0.0.1:{uwsgi_port}" in filled and f"{static}/" in filled
    return filled


def nginx_missing() -> str | None:
    """Why nginx cannot run here, or None."""
    if NGINX is None:
        return "nginx is not installed (CI installs Debian's nginx)"
    return None


@contextmanager
def serve_nginx_uwsgi(
    app_dir: Path, target: str, folder: Path, body_limit: int | None = None
) -> Iterator[str]:
    """uWSGI on a uwsgi-protocol socket behind nginx (both as documented); yield nginx's URL.

    nginx serves *folder*/static itself; its configuration and logs go to *folder*.
    """
    assert NGINX is not None
    static = folder / "static"
    static.mkdir(exist_ok=True)
    app_port, nginx_port = free_port(), free_port()
    conf = nginx_conf(folder, uwsgi_nginx_block(nginx_port, app_port, static, body_limit))
    uwsgi = uwsgi_argv(app_port, target, socket=True)
    with (
        run(uwsgi, app_dir, app_port, folder / "uwsgi.log"),
        run([NGINX, "-p", str(folder), "-c", str(conf)], folder, nginx_port, folder / "nginx.log"),
    ):
        yield f"http://127.0.0.1:{nginx_port}"


def mod_wsgi_argv(
    port: int, script: str, callable_object: str = "app", **options: str
) -> list[str]:
    """The documented mod_wsgi-express command for *script* on *port*.

    *options* replace the documented values of other options (``limit_request_body="100"``).
    """
    argv = documented("mod_wsgi-express start-server ")
    argv[argv.index("app.py")] = script
    argv = _replace(argv, "--callable-object", callable_object)
    argv = _replace(argv, "--port", str(port))
    for name, value in options.items():
        argv = _replace(argv, "--" + name.replace("_", "-"), value)
    return [*mod_wsgi_prefix(), str(MOD_WSGI_EXPRESS), *argv[1:]]


def mod_wsgi_server_root(port: int) -> Path:
    """Where mod_wsgi-express writes Apache's configuration for *port* (its default)."""
    uid = os.geteuid()
    return Path(tempfile.gettempdir()) / f"mod_wsgi-127.0.0.1:{port}:{uid}"


@contextmanager
def serve_wsgi(
    kind: str, app_dir: Path, target: str, body_limit: int | None = None
) -> Iterator[str]:
    """Serve ``target`` (``module:app``, a module in *app_dir*) with ``"uwsgi"`` (its HTTP
    router), ``"nginx+uwsgi"`` or ``"mod_wsgi"``; yield the base URL.

    *body_limit*, the app's ``MAX_CONTENT_LENGTH``, becomes the front server's body limit as
    the docs advise (nginx's ``client_max_body_size``, mod_wsgi's ``--limit-request-body``);
    without it the documented values stay. Skips the test when the server is not installed.
    """
    module, _, name = target.partition(":")
    if kind in ("uwsgi", "nginx+uwsgi"):
        missing = uwsgi_missing() or (nginx_missing() if kind == "nginx+uwsgi" else None)
        if missing:
            pytest.skip(missing)
        if kind == "uwsgi":
            with serve_uwsgi(app_dir, target, app_dir / "uwsgi.log") as base:
                yield base
        else:
            with serve_nginx_uwsgi(app_dir, target, app_dir, body_limit) as base:
                yield base
        return
    assert kind == "mod_wsgi", kind
    missing = mod_wsgi_missing()
    if missing:
        pytest.skip(missing)
    # The daemon user reads the app from a folder it may enter (pytest's are private).
    own = not _open_to_others(app_dir)
    folder = readable_dir("erlen-mod-wsgi-") if own else app_dir
    try:
        if own:
            for source in app_dir.glob("*.py"):
                shutil.copy(source, folder / source.name)
                (folder / source.name).chmod(0o644)
        port = free_port()
        options = {} if body_limit is None else {"limit_request_body": str(body_limit)}
        argv = mod_wsgi_argv(port, f"{module}.py", name or "app", **options)
        try:
            with run(argv, folder, port, app_dir / "mod_wsgi.log"):
                yield f"http://127.0.0.1:{port}"
        finally:
            shutil.rmtree(mod_wsgi_server_root(port), ignore_errors=True)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
