"""An unmodified open-source Flask app on Erlen: its own test suite, then real servers.

The app is ihatemoney (a shared-budget manager: blueprints, Flask-SQLAlchemy with
Flask-Migrate, Flask-WTF forms with CSRF, Flask-Babel, Flask-RESTful, Flask-Limiter,
Flask-Talisman, Flask-Mail, Flask-CORS), taken from PyPI at a pinned version with the wheel's
hash checked. Its wheel carries its pytest suite (about 150 tests). Nothing in it is changed.

* Its suite runs in a venv of its own (its dependencies pin versions the main venv does not
  have; see the end of this docstring): once on Flask, once on Erlen with ``-p erlen.flask_compat``
  through each test-client door. Every test that passes on Flask must pass on Erlen, unless
  :data:`KNOWN_GAPS` names it with a reason; a listed test that passes fails this test, so
  the list stays true. The Flask run's results are cached with the venv (they do not depend
  on Erlen).
* ``ERLEN_FLASK_COMPAT=1 gunicorn ihatemoney.wsgi:application`` and the same with uvicorn
  (which picks the ASGI 3 interface by itself) serve the app; pages, a form post with CSRF,
  the JSON API and a static file are driven over HTTP.
* ``flask_app/ihm_live.py`` adds an ``async def`` view and a WebSocket to the same app object;
  both work under uvicorn, the async view under gunicorn too.

The venv is built on first use (about a minute; PyPI is needed then and only then) in
``$ERLEN_FLASK_APP_CACHE`` or ``~/.cache/erlen-flask-app``, and reused while
``flask_app/constraints.txt`` and the Python version stay the same; Erlen is installed in it
editable from this checkout. The test skips only when PyPI cannot be reached to build it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support import TIMEOUT, free_port

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent / "flask_app"
#: Outside the checkout, so that CI (a fresh clone each run) finds it warm on the same machine.
CACHE = Path(os.environ.get("ERLEN_FLASK_APP_CACHE") or Path.home() / ".cache" / "erlen-flask-app")

APP = "ihatemoney"
VERSION = "7.2.1"
WHEEL = f"{APP}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "19742d7c6d08ee5675b97beefc7c40f1e07fe8ee2124a1036f5679f20ff9e324"
#: What the venv gets besides the app's own dependencies (versions in constraints.txt).
TOOLS = ("pytest", "pytest-flask", "gunicorn", "uvicorn", "websockets")
#: Seconds one run of the app's suite may take: it needs about 35 s of CPU, and the runs go
#: side by side, so a loaded 2-core machine stretches them a lot.
SUITE_TIMEOUT = 600

_SUITE = f"{APP}/tests"

#: Tests that pass on Flask and fail on Erlen, by door, with the reason.
KNOWN_GAPS: dict[str, dict[str, str]] = {
    "wsgi": {},
    # (The app wraps app.wsgi_app: the ASGI door runs it through erlen.wsgi_bridge.)
    "asgi": {},
}
DOORS = tuple(KNOWN_GAPS)


# -- the venv and the app -------------------------------------------------------------------------

#: What pip says when it cannot reach the index ("from versions: none" for a package that is
#: on PyPI: pip saw no index answer, as when retries are off).
_UNREACHABLE = re.compile(
    r"NewConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|Network is unreachable"
    r"|Temporary failure in name resolution|Name or service not known|ProxyError"
    r"|Connection refused|timed out|\(from versions: none\)",
)


@dataclass(frozen=True)
class AppEnv:
    """The venv that runs the app, and where its package is installed."""

    python: Path
    package: Path
    stamp: str


def _pip(python: Path | str, *args: str) -> None:
    """Run pip; skip the test when it failed for want of PyPI, fail it otherwise."""
    proc = subprocess.run(
        [str(python), "-m", "pip", *args, "--disable-pip-version-check", "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr)[-3000:]
        if _UNREACHABLE.search(out):
            pytest.skip(f"PyPI is unreachable, so {APP} {VERSION} cannot be installed:\n{out}")
        raise RuntimeError(f"pip {' '.join(args[:2])} failed:\n{out}")


def _download_wheel() -> Path:
    wheel = CACHE / "dist" / WHEEL
    if not wheel.exists():
        _pip(
            sys.executable,
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            f"{APP}=={VERSION}",
            "-d",
            str(wheel.parent),
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise AssertionError(f"{WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def _build_venv() -> AppEnv:
    constraints = HELPERS / "constraints.txt"
    stamp = json.dumps(
        {
            "wheel": WHEEL_SHA256,
            "constraints": hashlib.sha256(constraints.read_bytes()).hexdigest(),
            "python": sys.version,
        },
        sort_keys=True,
    )
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    stamp_file = venv / "erlen-stamp.json"
    checkout_file = venv / "erlen-checkout.txt"
    if not (python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp):
        wheel = _download_wheel()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        _pip(python, "install", "-q", "-c", str(constraints), str(wheel), *TOOLS)
        stamp_file.write_text(stamp)
    if not checkout_file.exists() or checkout_file.read_text() != str(ROOT):
        # Erlen from this checkout, editable: src/ edits are live, and the start-up hook
        # that ERLEN_FLASK_COMPAT=1 needs is installed as for any user.
        _pip(python, "install", "-q", "--no-deps", "-e", str(ROOT))
        checkout_file.write_text(str(ROOT))
    package = subprocess.run(
        [str(python), "-c", f"import {APP}, os; print(os.path.dirname({APP}.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return AppEnv(python=python, package=Path(package), stamp=stamp)


@pytest.fixture(scope="module")
def app_env() -> Iterator[AppEnv]:
    """The cached venv (built on first use; one builder at a time)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            env = _build_venv()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    yield env


# -- the app's own suite --------------------------------------------------------------------------


def _child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ERLEN_FLASK_COMPAT", "ERLEN_TEST_DOOR", "PYTHONPATH", "PYTEST_ADDOPTS"}
        and not k.startswith("IHATEMONEY_")
    }
    env.update(extra)
    return env


@dataclass
class SuiteRun:
    """One run of the app's suite under way: the process, its report and its log."""

    proc: subprocess.Popen[bytes]
    report: Path
    log: Path
    started: float

    def result(self) -> dict[str, Any]:
        """Wait for the run; return its report (with the seconds it took)."""
        try:
            self.proc.wait(timeout=SUITE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the suite ran over {SUITE_TIMEOUT}s; log: {self.log}") from None
        if not self.report.exists():
            tail = self.log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"no report (exit {self.proc.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(self.report.read_text())
        result["seconds"] = round(time.monotonic() - self.started, 1)
        return result


def _start_suite(app_env: AppEnv, workdir: Path, *, erlen: bool, door: str = "") -> SuiteRun:
    """Start one run of the app's suite on a copy of the package (its fixtures write into it)."""
    workdir.mkdir(parents=True)
    shutil.copytree(app_env.package, workdir / APP, ignore=shutil.ignore_patterns("__pycache__"))
    report = workdir / "report.json"
    log = workdir / "pytest.log"
    cmd = [str(app_env.python), "-m", "pytest"]
    if erlen:
        cmd += ["-p", "erlen.flask_compat"]
    cmd += ["-p", "suite_probe", "-p", "no:cacheprovider", "-q", "--rootdir", str(workdir)]
    cmd.append(_SUITE)
    env = _child_env(
        PYTHONPATH=os.pathsep.join([str(workdir), str(HELPERS)]),
        ERLEN_SUITE_REPORT=str(report),
        **({"ERLEN_TEST_DOOR": door} if erlen else {}),
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    return SuiteRun(proc, report, log, time.monotonic())


@pytest.fixture(scope="module")
def suite_results(app_env: AppEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's suite on Flask (cached) and on Erlen through both doors, run side by side."""
    base = tmp_path_factory.mktemp("ihatemoney-suite")
    baseline_file = CACHE / "flask-baseline.json"
    baseline: dict[str, Any] | None = None
    if baseline_file.exists():
        cached = json.loads(baseline_file.read_text())
        if cached.get("stamp") == app_env.stamp:
            baseline = cached["result"]
    runs = {door: _start_suite(app_env, base / door, erlen=True, door=door) for door in DOORS}
    if baseline is None:
        runs["flask"] = _start_suite(app_env, base / "flask", erlen=False)
    results = {name: run.result() for name, run in runs.items()}
    if baseline is None:
        baseline = results["flask"]
        baseline_file.write_text(json.dumps({"stamp": app_env.stamp, "result": baseline}))
    else:
        results["flask"] = baseline
    return results


def _passed(result: dict[str, Any]) -> set[str]:
    return {k for k, v in result["outcomes"].items() if v == "passed"}


def test_flask_baseline_is_the_real_flask(suite_results: dict[str, Any]) -> None:
    flask_run = suite_results["flask"]
    assert flask_run["flask_is_erlen"] is False and flask_run["compat_active"] is False
    assert flask_run["app_module_flask"] == "flask.app.Flask"
    assert flask_run["fixtures"]["app"] == "flask.app.Flask"
    # The whole suite was collected and most of it passes on Flask here (a few tests need
    # DNS for e-mail validation and fail offline, on Flask as on Erlen).
    assert len(flask_run["outcomes"]) >= 150
    assert len(_passed(flask_run)) >= 140


@pytest.mark.parametrize("door", ["wsgi", "asgi"])
def test_own_suite_passes_on_erlen(door: str, suite_results: dict[str, Any]) -> None:
    flask_run, erlen_run = suite_results["flask"], suite_results[door]
    # The suite really ran on Erlen: flask is Erlen, in the app's module and its fixtures.
    assert erlen_run["flask_is_erlen"] is True and erlen_run["compat_active"] is True
    assert erlen_run["app_module_flask"] == "erlen.app.Erlen"
    assert erlen_run["fixtures"]["app"] == "erlen.app.Erlen"
    assert erlen_run["fixtures"]["client"] == "erlen.testing.ErlenClient"
    assert erlen_run["door"] == door
    assert set(erlen_run["outcomes"]) == set(flask_run["outcomes"]), "not the same tests"

    known = KNOWN_GAPS[door]
    lost = sorted(_passed(flask_run) - _passed(erlen_run))
    unexpected = {t: erlen_run["messages"].get(t, erlen_run["outcomes"][t]) for t in lost}
    for t in known:
        unexpected.pop(t, None)
    assert not unexpected, f"pass on Flask, fail on Erlen ({door}):\n" + "\n".join(
        f"{t}: {m}" for t, m in unexpected.items()
    )
    fixed = sorted(set(known) - set(lost))
    assert not fixed, f"listed in KNOWN_GAPS but passing now: remove them: {fixed}"


# -- real servers ---------------------------------------------------------------------------------


def _settings(tmp_path: Path) -> Path:
    """The app's settings file (its documented way to configure a deployment)."""
    cfg = tmp_path / "ihatemoney.cfg"
    cfg.write_text(
        f'SQLALCHEMY_DATABASE_URI = "sqlite:///{tmp_path / "ihatemoney.sqlite"}"\n'
        'SECRET_KEY = "not the default secret"\n'
        "SESSION_COOKIE_SECURE = False  # plain http on loopback\n"
    )
    return cfg


@dataclass
class Served:
    """A server under way: its ``host:port``; once stopped, what it logged while serving."""

    host: str
    output: str = ""

    def check_output(self) -> None:
        """Fail when the server logged an error (an exception in the app or the server)."""
        assert "Traceback" not in self.output and "ERROR" not in self.output, self.output[-4000:]


@contextlib.contextmanager
def _serve(app_env: AppEnv, server: str, target: str, tmp_path: Path) -> Iterator[Served]:
    """Serve ``target`` from the app's venv in compat mode."""
    port = free_port()
    if server == "gunicorn":
        cmd = ["-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        cmd += ["--threads", "4", "--graceful-timeout", "1", "--log-level", "warning"]
    else:
        # No --interface: uvicorn sees a coroutine-function __call__ and picks ASGI 3.
        cmd = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--log-level", "warning"]
    env = _child_env(
        ERLEN_FLASK_COMPAT="1",
        IHATEMONEY_SETTINGS_FILE_PATH=str(_settings(tmp_path)),
        PYTHONPATH=str(HELPERS),
    )
    served = Served(f"127.0.0.1:{port}")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [str(app_env.python), *cmd, target], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"{server} did not start:\n{log.read().decode()[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)  # polling an external process: no event to wait on
        yield served
    finally:
        log.seek(0)  # what it said while serving (not how its workers were stopped)
        served.output = log.read().decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _create_project(http: httpx.Client) -> None:
    """Create project "raclette" through the home page's form (logs the client in)."""
    home = http.get("/")
    assert home.status_code == 200
    form = {
        "name": "Raclette party",
        "id": "raclette",
        "password": "secret-pw",
        "contact_email": "host@example.com",
        "default_currency": "XXX",
        "project_history": "y",
    }
    refused = http.post("/create", data=form)  # without the token: Flask-WTF refuses
    assert refused.status_code == 200 and "The CSRF token is missing." in refused.text
    created = http.post("/create", data={**form, "csrf_token": _csrf(home.text)})
    assert created.status_code == 302, created.text[-2000:]
    assert created.headers["location"].endswith("/raclette/")
    assert "session" in http.cookies


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_app_served_unchanged(server: str, app_env: AppEnv, tmp_path: Path) -> None:
    with (
        _serve(app_env, server, f"{APP}.wsgi:application", tmp_path) as served,
        httpx.Client(base_url=f"http://{served.host}", timeout=TIMEOUT) as http,
    ):
        home = http.get("/")
        assert home.status_code == 200 and "<title>I Hate Money" in home.text
        assert "default-src 'self'" in home.headers["content-security-policy"]  # Talisman
        assert home.headers["x-content-type-options"] == "nosniff"
        _create_project(http)

        project = http.get("/raclette/")
        assert project.status_code == 200 and "Raclette party" in project.text
        token = _csrf(project.text)
        for name in ("zorglub", "fred"):
            added = http.post("/raclette/members/add", data={"csrf_token": token, "name": name})
            assert added.status_code == 302, added.text[-2000:]
        bill_form = http.get("/raclette/add").text
        payers = re.findall(r'<option value="(\d+)">', bill_form)
        assert len(payers) == 2
        bill = {
            "csrf_token": _csrf(bill_form),
            "date": "2026-01-31",
            "what": "fromage à raclette",
            "payer": payers[0],
            "payed_for": payers,
            "bill_type": "Expense",
            "amount": "25.5",
        }
        assert http.post("/raclette/add", data=bill).status_code == 302
        bills = http.get("/raclette/")
        assert "fromage à raclette" in bills.text and "25.50" in bills.text

        # Its JSON API (Flask-RESTful, HTTP basic auth with the project's password).
        api = http.get("/api/projects/raclette/bills", auth=("raclette", "secret-pw"))
        assert api.status_code == 200
        assert [b["what"] for b in api.json()] == ["fromage à raclette"]
        assert http.get("/api/projects/raclette/bills", auth=("raclette", "no")).status_code == 401

        css = http.get("/static/css/main.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert css.content == (app_env.package / "static" / "css" / "main.css").read_bytes()

        missing = http.get("/no/such/page/here")  # its own 404 handler and template
        assert missing.status_code == 404
        assert "unable to find the page you've asked for" in missing.text
    served.check_output()


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_async_view_and_websocket_beside_it(server: str, app_env: AppEnv, tmp_path: Path) -> None:
    with (
        _serve(app_env, server, "ihm_live:app", tmp_path) as served,
        httpx.Client(base_url=f"http://{served.host}", timeout=TIMEOUT) as http,
    ):
        assert http.get("/_erlen/summary/raclette").status_code == 403
        _create_project(http)  # the app's own pages log the client in
        http.post(
            "/raclette/members/add",
            data={"csrf_token": _csrf(http.get("/raclette/").text), "name": "zorglub"},
        )
        summary = http.get("/_erlen/summary/raclette")
        assert summary.status_code == 200
        assert summary.json() == {"project": "Raclette party", "members": ["zorglub"], "bills": 0}
        if server == "uvicorn":  # WebSockets need the ASGI door
            _websocket_beside_the_app(served.host, http)
    served.check_output()


def _websocket_beside_the_app(host: str, http: httpx.Client) -> None:
    url = f"ws://{host}/_erlen/ws/raclette"
    with connect(url, additional_headers={"Cookie": f"session={http.cookies['session']}"}) as ws:
        ws.send("hello")
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {
            "project": "Raclette party",
            "echo": "hello",
            "members": ["zorglub"],
        }
        # A member added through the app's own form shows in the open connection.
        http.post(
            "/raclette/members/add",
            data={"csrf_token": _csrf(http.get("/raclette/").text), "name": "fred"},
        )
        ws.send("über")
        reply = json.loads(ws.recv(timeout=TIMEOUT))
        assert reply["echo"] == "über" and reply["members"] == ["fred", "zorglub"]
    with pytest.raises(InvalidStatus) as refused, connect(url):  # no session cookie
        pass
    assert refused.value.response.status_code == 403
