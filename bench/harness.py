"""In-process drivers, scenarios and timing for ``python -m bench``.

Every app is called through its own protocol, in this process, with no server and no socket:

- WSGI: a fresh environ per call (a copy of a template built once per scenario, plus a new
  ``wsgi.input``), a start_response that does nothing, and the iterable consumed and closed.
- ASGI: a fresh scope per call, a receive that hands over the body and then, once the response is
  complete, ``http.disconnect`` (as a server does), and a send that records the response.  All
  ASGI apps run on ONE persistent event loop, many requests per ``run_until_complete`` call, so
  that the loop's own start-up cost does not swamp measurements of a few microseconds.

Before an app is timed for a scenario, one request checks its status, body and (for apps with
hooks) the header the after-request hook sets; an app that fails is reported as broken, never
timed.  Timing is: calibrate a batch size and warm up (every app, every scenario), then several
rounds, interleaved across all of them; the figure is the median microseconds per request over
the rounds, in process CPU time by default (``Settings.clock``), wall-clock time also recorded.

WebSocket scenarios (Erlen and Starlette) are driven the same way, on their own persistent loop:
the harness is the client end of each connection (``websocket.connect``, then text messages through
receive, then ``websocket.disconnect``), counts what the app sends, and reports the median
microseconds per message and messages per second.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import json
import logging
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from io import BytesIO
from typing import Any

from bench.apps.common import (
    HELLO,
    JSON_PAYLOAD,
    TEMPLATE_CONTEXT,
    TEMPLATE_DIR,
    TEMPLATE_NAME,
    WS_ECHO_PATH,
    WS_JOINED,
    WS_ROOM_PATH,
)
from bench.apps.common import Variant as Variant

# --- scenarios ----------------------------------------------------------------------------------

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Scenario:
    """One kind of request, the app it is sent to, and what a correct answer looks like."""

    name: str
    title: str
    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    app: str = "main"  # "main", or "routes:N" for an app with exactly N dynamic rules
    status: int = 200
    text: str | None = None  # exact body
    json: Any = None  # decoded body, and a JSON content type
    html: str | None = None  # body equal up to whitespace
    session: bool = False  # first obtain a session cookie from the app itself


def _expected_html() -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape()
    )
    return env.get_template(TEMPLATE_NAME).render(**TEMPLATE_CONTEXT)


ROUTES_SMALL = 10
ROUTES_LARGE = 1000

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("hello", "plain-text hello", path="/", text=HELLO),
    Scenario("path_param", "path parameter, 100 other rules", path="/users/42", text="user 42"),
    Scenario("json", "JSON response", path="/json", json=JSON_PAYLOAD),
    Scenario(
        "query", "query-string parsing", path="/search", query="q=erlen&page=3&sort=desc",
        text="erlen 3 desc",
    ),
    Scenario(
        "json_body", "JSON request body", method="POST", path="/echo",
        headers=(("Content-Type", "application/json"),),
        body=b'{"name": "erlen", "count": 3}', json={"name": "erlen", "count": 4},
    ),
    Scenario(
        "form", "urlencoded form", method="POST", path="/form",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=b"name=erlen&count=3", text="erlen 3",
    ),
    Scenario(
        "session", "cookie session read+write", path="/session", text="count 2", session=True
    ),
    Scenario("template", "Jinja2 template render", path="/template", html=_expected_html()),
    Scenario("not_found", "404", path="/no/such/page", status=404),
    Scenario(
        "routes_10", f"a rule in a {ROUTES_SMALL}-rule app", path=f"/r{ROUTES_SMALL - 1}/7",
        app=f"routes:{ROUTES_SMALL}", text=f"r{ROUTES_SMALL - 1} 7",
    ),
    Scenario(
        "routes_1000", f"last of {ROUTES_LARGE} dynamic rules", path=f"/r{ROUTES_LARGE - 1}/7",
        app=f"routes:{ROUTES_LARGE}", text=f"r{ROUTES_LARGE - 1} 7",
    ),
)  # fmt: skip
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)


@dataclass(frozen=True)
class WebSocketScenario:
    """Text messages over in-process WebSocket connections, each message the app sends counted.

    ``members`` is 0 for an echo over one connection.  Otherwise that many connections join a
    room, one of them sends, and every message is delivered to every member (the sender too).
    """

    name: str
    title: str
    path: str
    counted: str  # what one counted message is
    members: int = 0


WS_ROOM_MEMBERS = 10
# The client's window: at most this many of its messages (per member, in a room) on their way.
WS_WINDOW = 32
WS_TEXT = "x" * 32  # the message of the timed runs (checks send distinct, numbered messages)
WEBSOCKET_SCENARIOS: tuple[WebSocketScenario, ...] = (
    WebSocketScenario("ws_echo", "echo", WS_ECHO_PATH, "messages echoed"),
    WebSocketScenario(
        "ws_room", f"room of {WS_ROOM_MEMBERS}", WS_ROOM_PATH, "deliveries to a member",
        members=WS_ROOM_MEMBERS,
    ),
)  # fmt: skip
WEBSOCKET_SCENARIO_NAMES = tuple(s.name for s in WEBSOCKET_SCENARIOS)
# The frameworks whose bench module has ``create_websocket_app()``; ratios are against the last.
WEBSOCKET_FRAMEWORKS = ("erlen", "starlette")


# --- the frameworks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Framework:
    """A framework: the module with its bench apps, and probes for import time and memory."""

    name: str
    requires: str  # the distribution's top-level module, to tell "not installed" from "broken"
    variants: tuple[str, ...]
    import_stmt: str | None = None
    small_app: str | None = None

    @property
    def module(self) -> str:
        return f"bench.apps.{self.name}"


def _small(header: str, body: str) -> str:
    return header.strip() + "\n" + body.strip() + "\n"


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "erlen", "erlen", ("erlen-wsgi", "erlen-asgi", "erlen-asgi-sync", "erlen-wsgi-async"),
        "import erlen",
        _small("from erlen import Erlen\napp = Erlen(__name__)",
               "@app.route('/')\ndef hello():\n    return 'Hello, World!'"),
    ),
    Framework(
        "flask", "flask", ("flask", "flask-async"), "import flask",
        _small("from flask import Flask\napp = Flask(__name__)",
               "@app.route('/')\ndef hello():\n    return 'Hello, World!'"),
    ),
    Framework(
        "quart", "quart", ("quart",), "import quart",
        _small("from quart import Quart\napp = Quart(__name__)",
               "@app.route('/')\nasync def hello():\n    return 'Hello, World!'"),
    ),
    Framework(
        "starlette", "starlette", ("starlette", "starlette-sync"),
        "import starlette.applications, starlette.routing, starlette.responses",
        _small("from starlette.applications import Starlette\n"
               "from starlette.responses import PlainTextResponse\n"
               "from starlette.routing import Route",
               "async def hello(request):\n    return PlainTextResponse('Hello, World!')\n"
               "app = Starlette(routes=[Route('/', hello)])"),
    ),
    Framework(
        "falcon", "falcon", ("falcon", "falcon-asgi"), "import falcon",
        _small("import falcon",
               "class Hello:\n    def on_get(self, req, resp):\n        resp.text = 'Hello'\n"
               "app = falcon.App()\napp.add_route('/', Hello())"),
    ),
    Framework(
        "blacksheep", "blacksheep", ("blacksheep",), "import blacksheep",
        _small("from blacksheep import Application, text\napp = Application()",
               "@app.router.get('/')\nasync def hello():\n    return text('Hello, World!')"),
    ),
    Framework(
        "litestar", "litestar", ("litestar",), "import litestar",
        _small("from litestar import Litestar, get",
               "@get('/')\nasync def hello() -> str:\n    return 'Hello, World!'\n"
               "app = Litestar([hello])"),
    ),
    Framework(
        "bottle", "bottle", ("bottle",), "import bottle",
        _small("from bottle import Bottle\napp = Bottle()",
               "@app.get('/')\ndef hello():\n    return 'Hello, World!'"),
    ),
    Framework("raw", "jinja2", ("raw-wsgi", "raw-asgi")),
)  # fmt: skip
FRAMEWORK_BY_NAME = {f.name: f for f in FRAMEWORKS}
VARIANT_NAMES = tuple(v for f in FRAMEWORKS for v in f.variants)


def baseline_for(protocol: str, views: str) -> str:
    """Name the Erlen variant a peer with this protocol and kind of view is compared with."""
    return {
        ("wsgi", "sync"): "erlen-wsgi",
        ("asgi", "async"): "erlen-asgi",
        ("asgi", "sync"): "erlen-asgi-sync",
        ("wsgi", "async"): "erlen-wsgi-async",
    }[(protocol, views)]


def installed(framework: Framework) -> bool:
    """Whether the framework's package is installed at all."""
    return importlib.util.find_spec(framework.requires) is not None


def load_framework(name: str) -> tuple[list[Variant], str | None]:
    """Import a framework's bench module: its variants, or the reason it is unavailable."""
    framework = FRAMEWORK_BY_NAME[name]
    if not installed(framework):
        return [], f"{framework.requires} is not installed"
    try:
        module = importlib.import_module(framework.module)
    except Exception as exc:  # report any failure, never crash the run
        return [], f"import failed: {type(exc).__name__}: {exc}"
    return list(module.VARIANTS), None


def select(only: Sequence[str] | None) -> list[Framework]:
    """The frameworks named by ``--only`` (framework or variant names), or all of them."""
    if not only:
        return list(FRAMEWORKS)
    wanted = set(only)
    return [f for f in FRAMEWORKS if f.name in wanted or wanted & set(f.variants)]


# --- responses and drivers ----------------------------------------------------------------------


@dataclass
class Reply:
    """What an app answered: status, headers (lower-case names) and the whole body."""

    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def cookies(self) -> str:
        """The ``Cookie`` header a client would send back after this reply."""
        pairs = [v.split(";", 1)[0].strip() for k, v in self.headers if k == "set-cookie"]
        return "; ".join(p for p in pairs if "=" in p)


BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "localhost:8000"),
    ("User-Agent", "erlen-bench/1.0"),
    ("Accept", "*/*"),
)


@dataclass(frozen=True)
class Request:
    """A request as plain values, turned into an environ or a scope by the drivers."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def of(cls, scenario: Scenario, cookie: str | None = None) -> Request:
        headers = BASE_HEADERS + scenario.headers
        if scenario.body:
            headers += (("Content-Length", str(len(scenario.body))),)
        if cookie:
            headers += (("Cookie", cookie),)
        return cls(scenario.method, scenario.path, scenario.query, headers, scenario.body)


def _wsgi_write(data: bytes) -> None:
    pass


def _wsgi_start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
    return _wsgi_write


class WSGIDriver:
    """Calls a WSGI app in-process."""

    protocol = "wsgi"

    def __init__(self, app: Any) -> None:
        self.app = app

    @staticmethod
    def environ(request: Request) -> dict[str, Any]:
        """Build the environ template for a request (``wsgi.input`` is added per call)."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        for name, value in request.headers:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = value
        return environ

    def call(self, request: Request) -> Reply:
        """Send one request and capture the whole reply."""
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
            captured["status"] = status
            captured["headers"] = headers
            return chunks.append

        environ = self.environ(request)
        environ["wsgi.input"] = BytesIO(request.body)
        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = int(captured["status"].split(" ", 1)[0])
        headers = [(k.lower(), v) for k, v in captured["headers"]]
        return Reply(status, headers, b"".join(chunks))

    def batch(self, request: Request) -> Callable[[int], None]:
        """Return ``run(n)``, which sends the request n times, as cheaply as a server could."""
        app = self.app
        copy = self.environ(request).copy
        body = request.body
        start_response = _wsgi_start_response

        def run(n: int) -> None:
            for _ in range(n):
                environ = copy()
                environ["wsgi.input"] = BytesIO(body)
                result = app(environ, start_response)
                for _chunk in result:
                    pass
                close = getattr(result, "close", None)
                if close is not None:
                    close()

        return run

    def close(self) -> None:
        pass


class _Exchange:
    """receive/send for one ASGI request, as a server provides them."""

    __slots__ = ("body", "capture", "chunks", "complete", "headers", "pending", "status", "waiter")

    def __init__(self, body: bytes, capture: bool = False) -> None:
        self.body = body
        self.pending = True
        self.complete = False
        self.waiter: asyncio.Future[None] | None = None
        self.capture = capture
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def receive(self) -> dict[str, Any]:
        if self.pending:
            self.pending = False
            return {"type": "http.request", "body": self.body, "more_body": False}
        # Like a server: the client "disconnects" only once the response is out.
        if not self.complete:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            if self.capture:
                self.headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            if self.capture:
                self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.finish()

    def finish(self) -> None:
        self.complete = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class ASGIDriver:
    """Calls an ASGI app in-process on a persistent event loop, after running its lifespan."""

    protocol = "asgi"

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[Any] | None = None
        self._lifespan_queue: asyncio.Queue[dict[str, Any]] | None = None
        self.lifespan = loop.run_until_complete(self._startup())

    async def _startup(self) -> bool:
        """Run the lifespan startup; False if the app does not speak the lifespan protocol."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete" and not started.done():
                started.set_result(None)
            elif kind == "lifespan.startup.failed" and not started.done():
                started.set_exception(RuntimeError(message.get("message", "startup failed")))

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        task = asyncio.ensure_future(self.app(scope, queue.get, send))
        await queue.put({"type": "lifespan.startup"})
        done, _ = await asyncio.wait({task, started}, timeout=30, return_when="FIRST_COMPLETED")
        if started in done:
            started.result()  # raises if startup failed
            self._lifespan, self._lifespan_queue = task, queue
            return True
        if task in done:
            task.exception()  # an app that refuses lifespan: servers carry on without it
            started.cancel()
            return False
        raise TimeoutError("lifespan startup did not complete in 30 s")

    def close(self) -> None:
        """Run the lifespan shutdown (bounded)."""
        task, queue = self._lifespan, self._lifespan_queue
        if task is None or queue is None:
            return
        self._lifespan = None

        async def shutdown() -> None:
            await queue.put({"type": "lifespan.shutdown"})
            await asyncio.wait({task}, timeout=10)
            if not task.done():
                task.cancel()

        self.loop.run_until_complete(shutdown())

    def scope(self, request: Request) -> dict[str, Any]:
        """Build the scope template for a request (headers and state are copied per call)."""
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": request.method,
            "root_path": "",
            "path": request.path,
            "raw_path": request.path.encode("latin-1"),
            "query_string": request.query.encode("latin-1"),
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers
            ],
            "state": self.state,
        }

    def call(self, request: Request) -> Reply:
        """Send one request and capture the whole reply."""
        scope = self.scope(request)
        scope["state"] = self.state.copy()
        exchange = _Exchange(request.body, capture=True)

        async def one() -> None:
            try:
                await self.app(scope, exchange.receive, exchange.send)
            finally:
                exchange.finish()

        self.loop.run_until_complete(one())
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in exchange.headers]
        return Reply(exchange.status, headers, b"".join(exchange.chunks))

    def batch(self, request: Request) -> Callable[[int], None]:
        """Return ``run(n)``: n requests inside one ``run_until_complete``."""
        app = self.app
        template = self.scope(request)
        copy = template.copy
        headers = template["headers"]
        state = self.state
        body = request.body
        run_until_complete = self.loop.run_until_complete

        async def many(n: int) -> None:
            for _ in range(n):
                scope = copy()
                scope["headers"] = headers.copy()
                scope["state"] = state.copy()
                exchange = _Exchange(body)
                await app(scope, exchange.receive, exchange.send)
                exchange.finish()

        def run(n: int) -> None:
            run_until_complete(many(n))

        return run


Driver = WSGIDriver | ASGIDriver


def check(scenario: Scenario, reply: Reply, hooks: bool) -> str | None:
    """Say what is wrong with a reply, or None if it is what the scenario expects."""
    if reply.status != scenario.status:
        return f"status {reply.status}, expected {scenario.status}: {reply.body[:120]!r}"
    if hooks and reply.header("x-frame-options") != "DENY":
        return "the after_request hook's X-Frame-Options header is missing"
    body = reply.body
    if scenario.text is not None and body != scenario.text.encode():
        return f"body {body[:120]!r}, expected {scenario.text!r}"
    if scenario.json is not None:
        content_type = reply.header("content-type") or ""
        if "json" not in content_type:
            return f"content type {content_type!r} is not JSON"
        try:
            decoded = json.loads(body)
        except ValueError:
            return f"body is not JSON: {body[:120]!r}"
        if decoded != scenario.json:
            return f"JSON {decoded!r}, expected {scenario.json!r}"
    if scenario.html is not None and body.decode().split() != scenario.html.split():
        return f"template output differs: {body[:120]!r}"
    return None


# --- one variant's apps -------------------------------------------------------------------------


class Subject:
    """A variant under test: builds its apps on demand, and drives them."""

    def __init__(self, variant: Variant, loop: asyncio.AbstractEventLoop) -> None:
        self.variant = variant
        self.loop = loop
        self._drivers: dict[str, Driver | Exception] = {}

    def driver(self, app_kind: str) -> Driver:
        """The driver for one of the variant's apps ("main" or "routes:N"), built once."""
        if app_kind not in self._drivers:
            # Some frameworks configure the root logger when an app is built or started (Litestar
            # sets it to INFO with a handler); in this shared process that would make others log
            # every 404, so the root logger is put back as it was.
            root = logging.getLogger()
            handlers, level = root.handlers[:], root.level
            try:
                if app_kind == "main":
                    app = self.variant.main()
                else:
                    assert self.variant.routes is not None
                    app = self.variant.routes(int(app_kind.split(":", 1)[1]))
                driver: Driver
                if self.variant.protocol == "wsgi":
                    driver = WSGIDriver(app)
                else:
                    driver = ASGIDriver(app, self.loop)
                self._drivers[app_kind] = driver
            except Exception as exc:
                self._drivers[app_kind] = exc
            finally:
                root.handlers[:] = handlers
                root.setLevel(level)
        found = self._drivers[app_kind]
        if isinstance(found, Exception):
            raise found
        return found

    def unsupported(self, scenario: Scenario) -> str | None:
        """Why the variant cannot run a scenario natively, if it cannot."""
        if self.variant.unavailable:
            return self.variant.unavailable
        if scenario.name in self.variant.unsupported:
            return self.variant.unsupported[scenario.name]
        if scenario.app != "main" and self.variant.routes is None:
            return "no router"
        return None

    def prepare(self, scenario: Scenario) -> tuple[Driver, Request]:
        """Build the request for a scenario (fetching a session cookie first), and check it.

        Raise ``Broken`` if the app does not answer correctly.
        """
        try:
            driver = self.driver(scenario.app)
        except Exception as exc:
            raise Broken(f"building the app failed: {type(exc).__name__}: {exc}") from exc
        cookie = None
        try:
            if scenario.session:
                setup = driver.call(Request.of(scenario))
                problem = check(Scenario("setup", "", text="count 1"), setup, self.variant.hooks)
                if problem:
                    raise Broken(f"session setup request: {problem}")
                cookie = setup.cookies()
                if not cookie:
                    raise Broken("session setup request set no cookie")
            request = Request.of(scenario, cookie)
            problem = check(scenario, driver.call(request), self.variant.hooks)
        except Broken:
            raise
        except Exception as exc:
            raise Broken(f"{type(exc).__name__}: {exc}") from exc
        if problem:
            raise Broken(problem)
        return driver, request

    def close(self) -> None:
        for driver in self._drivers.values():
            if not isinstance(driver, Exception):
                try:
                    driver.close()
                except Exception:
                    pass


class Broken(Exception):
    """An app answered a scenario wrongly."""


# --- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How long to measure (a round lasts about ``round_time`` seconds), and with which clock.

    ``clock`` is "cpu" (the process's CPU time, all threads, user + system: what a request costs,
    steady on a shared machine where other work preempts this process) or "wall" (elapsed time,
    which such preemption inflates).  Both are recorded; ``clock`` picks the one reported.
    """

    rounds: int
    round_time: float
    warmup: float
    probe_runs: int
    probe_frameworks: tuple[str, ...] | None  # None: every framework
    clock: str = "cpu"
    # WebSocket rounds: longer, so that opening the connections is a small part of each round.
    ws_rounds: int = 5
    ws_round_time: float = 0.04
    ws_warmup: float = 0.02

    @classmethod
    def quick(cls, clock: str = "cpu") -> Settings:
        return cls(rounds=3, round_time=0.006, warmup=0.003, probe_runs=2,
                   probe_frameworks=("erlen", "flask"), clock=clock,
                   ws_rounds=5, ws_round_time=0.04, ws_warmup=0.02)  # fmt: skip

    @classmethod
    def full(cls, clock: str = "cpu") -> Settings:
        return cls(rounds=15, round_time=0.02, warmup=0.05, probe_runs=5,
                   probe_frameworks=None, clock=clock,
                   ws_rounds=15, ws_round_time=0.1, ws_warmup=0.1)  # fmt: skip

    @property
    def timer(self) -> Callable[[], float]:
        return time.process_time if self.clock == "cpu" else time.perf_counter


def calibrate(
    run: Callable[[int], None],
    settings: Settings,
    round_time: float | None = None,
    warmup: float | None = None,
) -> int:
    """Find how many calls make a round of about ``round_time`` (default
    ``settings.round_time``), and warm up for ``warmup`` seconds (default ``settings.warmup``)."""
    timer = settings.timer
    round_time = settings.round_time if round_time is None else round_time
    warmup = settings.warmup if warmup is None else warmup
    n, elapsed = 1, 0.0
    while True:  # grow the batch until it takes a measurable time
        start = timer()
        run(n)
        elapsed = timer() - start
        if elapsed >= round_time / 8 or n >= 1 << 22:
            break
        n *= 2 if elapsed > round_time / 40 else 8
    iterations = max(1, round(round_time * n / elapsed))
    deadline = time.perf_counter() + warmup
    while time.perf_counter() < deadline:
        run(max(1, iterations // 4))
    return iterations


def time_round(run: Callable[[int], None], iterations: int) -> tuple[float, float]:
    """One timed round, after a short re-warm (other apps ran since): µs per call, as
    (wall clock, process CPU time)."""
    run(max(1, iterations // 20))
    wall, cpu = time.perf_counter(), time.process_time()
    run(iterations)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return wall / iterations * 1e6, cpu / iterations * 1e6


@dataclass
class Result:
    """One variant on one scenario."""

    variant: str
    framework: str
    protocol: str
    views: str
    scenario: str
    status: str  # "ok", "n/a" (not native to the framework), "broken" (wrong answer), "error"
    reason: str = ""
    us: float | None = None  # median µs per request, by the clock the run reports
    wall_us: float | None = None  # median wall-clock µs per request
    cpu_us: float | None = None  # median process-CPU µs per request
    rounds: list[float] = field(default_factory=list)  # wall-clock µs, per round
    cpu_rounds: list[float] = field(default_factory=list)  # CPU µs, per round
    iterations: int = 0


@dataclass
class Job:
    """One variant and scenario to time: its result, and the batch that runs it ``n`` times."""

    result: Result
    run: Callable[[int], None]


def run_inprocess(
    frameworks: Sequence[Framework],
    scenarios: Sequence[Scenario],
    settings: Settings,
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Measure every selected variant on every selected scenario.

    First every app is built, checked and calibrated; then the rounds are interleaved (round 1 of
    every variant on every scenario, then round 2, ...), so that a burst of load from elsewhere on
    the machine lands on all frameworks alike instead of on whichever ran at that moment.
    """
    results: list[Result] = []
    jobs: list[Job] = []
    subjects: list[Subject] = []
    loop = asyncio.new_event_loop()
    try:
        for framework in frameworks:
            variants, reason = load_framework(framework.name)
            if reason is not None:
                for name in framework.variants:
                    if only and name not in only and framework.name not in only:
                        continue
                    for scenario in scenarios:
                        results.append(
                            Result(name, framework.name, "?", "?", scenario.name, "n/a", reason)
                        )
                if progress:
                    progress(f"{framework.name}: unavailable ({reason})")
                continue
            for variant in variants:
                if only and variant.name not in only and framework.name not in only:
                    continue
                subject = Subject(variant, loop)
                subjects.append(subject)
                for scenario in scenarios:
                    result = Result(
                        variant.name, variant.framework, variant.protocol, variant.views,
                        scenario.name, "ok",
                    )  # fmt: skip
                    results.append(result)
                    job = _prepare_job(subject, scenario, result, settings)
                    if job is not None:
                        jobs.append(job)
                # PERF: keep the apps built so far out of the collector's way while the next
                # framework builds its 1,000 rules (Litestar's build is twice as slow otherwise).
                gc.freeze()
                if progress:
                    progress(f"{variant.name}: built, checked and calibrated")
        # PERF: this process holds every framework's apps; freezing what exists now keeps full
        # collections during the rounds as cheap as in a server that runs one app.
        gc.collect()
        gc.freeze()
        for index in range(settings.rounds):
            for job in jobs:
                if job.result.status != "ok":
                    continue
                try:
                    wall, cpu = time_round(job.run, job.result.iterations)
                    job.result.rounds.append(wall)
                    job.result.cpu_rounds.append(cpu)
                except Exception as exc:
                    job.result.status = "error"
                    job.result.reason = f"{type(exc).__name__}: {exc}"
            if progress:
                progress(f"round {index + 1}/{settings.rounds} done")
        take_medians(jobs, settings.clock)
    finally:
        close_subjects(subjects, loop)
    return results


def take_medians(jobs: Sequence[Job], clock: str) -> None:
    """Set each measured job's figures to the medians of its rounds (``clock``: cpu or wall)."""
    for job in jobs:
        if job.result.status == "ok":
            job.result.wall_us = statistics.median(job.result.rounds)
            job.result.cpu_us = statistics.median(job.result.cpu_rounds)
            job.result.us = job.result.cpu_us if clock == "cpu" else job.result.wall_us


def batch_for(
    variant_name: str, scenario_name: str, loop: asyncio.AbstractEventLoop
) -> tuple[Subject, Callable[[int], None]]:
    """One variant's ``run(n)`` for one scenario, its reply checked first.

    For the counting tools (``bench.instructions``, ``bench.steps``). Raises
    SystemExit with the reason when the framework is missing or the variant
    cannot run the scenario.
    """
    framework = variant_name.split("-", 1)[0]
    variants, problem = load_framework(framework)
    if problem:
        raise SystemExit(problem)
    variant = next(v for v in variants if v.name == variant_name)
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    subject = Subject(variant, loop)
    reason = subject.unsupported(scenario)
    if reason:
        raise SystemExit(f"{variant_name} cannot run {scenario_name}: {reason}")
    driver, request = subject.prepare(scenario)
    return subject, driver.batch(request)


def close_subjects(subjects: Sequence[Subject], loop: asyncio.AbstractEventLoop) -> None:
    """Close the apps of a run and the loop they ran on; let the collector run again."""
    for subject in subjects:
        subject.close()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    gc.unfreeze()


def _prepare_job(
    subject: Subject, scenario: Scenario, result: Result, settings: Settings
) -> Job | None:
    """Check one variant on one scenario and calibrate it; None if it is not to be timed."""
    reason = subject.unsupported(scenario)
    if reason:
        result.status, result.reason = "n/a", reason
        return None
    try:
        driver, request = subject.prepare(scenario)
    except Broken as exc:
        result.status, result.reason = "broken", str(exc)
        return None
    run = driver.batch(request)
    try:
        result.iterations = calibrate(run, settings)
    except Exception as exc:
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
        return None
    return Job(result, run)


# --- WebSockets ---------------------------------------------------------------------------------

WS_TIMEOUT = 30.0  # seconds a session may take before the app is declared stuck
WS_CHECK_MESSAGES = 200  # the checking session's messages (more than the window: flow control)
_WS_UPGRADE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
)


def _ws_message(text: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": text}


def _ws_disconnect() -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000, "reason": ""}


class _WSClient:
    """The client's end of one in-process WebSocket connection: the app's receive and send.

    ``receive`` hands over what waits in ``inbox`` (the connect, the disconnect), or waits for it,
    as a server's receive does.  ``send`` counts the app's messages, and records their text when
    checking.  As an echo client, it sends ``n`` messages, at most ``WS_WINDOW`` ahead of the
    echoes, and disconnects once every echo is back.
    """

    __slots__ = ("accepted", "count", "inbox", "n", "problem", "record", "sent", "texts", "waiter")

    def __init__(self, n: int = 0, texts: list[str] | None = None) -> None:
        self.inbox: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.n = n
        self.sent = 0
        self.count = 0  # messages received from the app
        self.texts = texts  # checking: the numbered texts to send, and to expect back
        self.record: list[Any] | None = [] if texts is not None else None
        self.accepted = False
        self.problem = ""

    def push(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    async def receive(self) -> dict[str, Any]:
        inbox = self.inbox
        while True:
            if inbox:
                return inbox.popleft()
            sent = self.sent
            if sent < self.n:
                if sent - self.count < WS_WINDOW:
                    self.sent = sent + 1
                    texts = self.texts
                    return _ws_message(WS_TEXT if texts is None else texts[sent])
            elif self.count >= self.n:
                return _ws_disconnect()
            await self.wait()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.send":
            self.control(message)
            return
        self.count += 1
        if self.record is not None:
            self.record.append(message.get("text", message.get("bytes")))
        if self.waiter is not None:
            self.wake()

    def control(self, message: dict[str, Any]) -> None:
        """Note the accept, and anything else the app should not have sent."""
        kind = message["type"]
        if kind == "websocket.accept" and not self.accepted and not self.count:
            self.accepted = True
        elif self.problem:
            pass
        elif kind == "websocket.http.response.start":
            self.problem = f"refused the handshake with HTTP {message.get('status')}"
        elif kind == "websocket.close":
            reason = message.get("reason") or ""
            self.problem = f"closed the connection with code {message.get('code')}" + (
                f": {reason}" if reason else ""
            )
        else:
            self.problem = f"sent {kind!r} out of turn"


class _Room:
    """One room session: ``n`` messages through the sender, each delivered to every member.

    Flow control as a client with a window: the sender's receive hands the app a new message only
    while fewer than ``WS_WINDOW`` messages per member are on their way, and once that window is
    full it waits until half of it has been delivered (a hub's queues would overflow otherwise).
    """

    __slots__ = (
        "all_joined", "delivered", "done", "expected", "high", "joined", "low", "members",
        "published", "sender", "texts", "to_publish",
    )  # fmt: skip

    def __init__(self, members: int, n: int, texts: list[str] | None) -> None:
        loop = asyncio.get_running_loop()
        self.members = members
        self.to_publish = 0  # set to n once every member has joined
        self.published = 0
        self.delivered = 0
        self.expected = n * members
        self.high = WS_WINDOW * members
        self.low = self.high // 2
        self.joined = 0
        self.all_joined: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.texts = texts
        self.sender: _WSSender | None = None


class _WSMember(_WSClient):
    """A member of a room: its first message must say it joined; then it counts deliveries."""

    __slots__ = ("in_room", "room")

    def __init__(self, room: _Room) -> None:
        super().__init__(0, room.texts)
        self.room = room
        self.in_room = False

    async def receive(self) -> dict[str, Any]:
        inbox = self.inbox
        while not inbox:
            await self.wait()
        return inbox.popleft()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.send":
            self.control(message)
            return
        room = self.room
        if not self.in_room:
            self.in_room = True
            if message.get("text") != WS_JOINED and not self.problem:
                self.problem = f"the first message was {message!r}, not {WS_JOINED!r}"
            room.joined += 1
            if room.joined == room.members and not room.all_joined.done():
                room.all_joined.set_result(None)
            return
        self.count += 1
        if self.record is not None:
            self.record.append(message.get("text", message.get("bytes")))
        room.delivered += 1
        if room.delivered >= room.expected:
            if not room.done.done():
                room.done.set_result(None)
        elif room.published * room.members - room.delivered <= room.low:
            sender = room.sender
            if sender is not None and sender.waiter is not None:
                sender.wake()


class _WSSender(_WSMember):
    """The member that sends the room's messages, within the window."""

    __slots__ = ()

    async def receive(self) -> dict[str, Any]:
        inbox = self.inbox
        room = self.room
        while True:
            if inbox:
                return inbox.popleft()
            if room.to_publish and room.published * room.members - room.delivered < room.high:
                room.to_publish -= 1
                sent = room.published
                room.published = sent + 1
                texts = room.texts
                return _ws_message(WS_TEXT if texts is None else texts[sent])
            await self.wait()


async def _first(
    future: asyncio.Future[None], tasks: list[asyncio.Task[Any]], clients: Sequence[_WSClient],
    what: str,
) -> None:  # fmt: skip
    """Wait for ``future``; raise ``Broken`` if a handler ends or the wait times out first."""
    done, _ = await asyncio.wait(
        {future, *tasks}, timeout=WS_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
    )
    if future in done:
        return
    problem = _ws_problem(tasks, clients) or (
        "a handler returned early" if done else f"no progress in {WS_TIMEOUT:g} s"
    )
    raise Broken(f"{what}: {problem}")


def _ws_problem(tasks: Sequence[asyncio.Task[Any]], clients: Sequence[_WSClient]) -> str:
    """What went wrong in a session, as far as it shows: a handler's exception (every one is
    retrieved), or something the app sent that it should not have; "" if nothing did."""
    errors = [t.exception() for t in tasks if t.done() and not t.cancelled()]
    for exc in errors:
        if exc is not None:
            return f"the handler raised {type(exc).__name__}: {exc}"
    for client in clients:
        if client.problem:
            return f"the app {client.problem}"
    return ""


class WebSocketDriver:
    """Drives an ASGI app's WebSocket scenarios in-process, on a persistent event loop."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.asgi = ASGIDriver(app, loop)  # runs the lifespan startup, and holds the state
        self._scopes: dict[str, dict[str, Any]] = {}

    def scope(self, path: str) -> dict[str, Any]:
        """A fresh handshake scope for ``path``, as a server builds one per connection."""
        template = self._scopes.get(path)
        if template is None:
            headers = BASE_HEADERS + _WS_UPGRADE_HEADERS
            template = self._scopes[path] = {
                "type": "websocket",
                "asgi": {"version": "3.0", "spec_version": "2.4"},
                "http_version": "1.1",
                "scheme": "ws",
                "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 50000),
                "root_path": "",
                "path": path,
                "raw_path": path.encode("latin-1"),
                "query_string": b"",
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                "subprotocols": [],
                "extensions": {"websocket.http.response": {}},
            }
        scope = template.copy()
        scope["headers"] = template["headers"].copy()
        scope["state"] = self.asgi.state.copy()
        return scope

    async def session(self, scenario: WebSocketScenario, n: int, check: bool = False) -> None:
        """Run one session of ``n`` client messages; raise ``Broken`` if the app gets one wrong.

        Checking sends numbered messages and compares everything the app sent back, in order.
        """
        texts = [f"m{k}" for k in range(n)] if check else None
        loop = asyncio.get_running_loop()
        clients: list[_WSClient]
        room: _Room | None = None
        if scenario.members:
            room = _Room(scenario.members, n, texts)
            room.sender = _WSSender(room)
            clients = [room.sender, *(_WSMember(room) for _ in range(scenario.members - 1))]
        else:
            clients = [_WSClient(n, texts)]
        tasks = []
        for client in clients:
            client.push({"type": "websocket.connect"})
            scope = self.scope(scenario.path)
            tasks.append(loop.create_task(self.app(scope, client.receive, client.send)))
        try:
            if room is not None:
                await _first(room.all_joined, tasks, clients, "joining the room")
                room.to_publish = n
                clients[0].wake()
                await _first(room.done, tasks, clients, f"broadcasting {n} messages")
                for client in clients:
                    client.push(_ws_disconnect())
            _, pending = await asyncio.wait(tasks, timeout=WS_TIMEOUT)
            if pending:
                if room is not None:
                    stuck = "the handlers did not return after the clients disconnected"
                else:
                    stuck = f"{clients[0].count} of {n} messages came back"
                problem = _ws_problem(tasks, clients) or f"{stuck} ({WS_TIMEOUT:g} s)"
                raise Broken(problem)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        problem = _ws_problem(tasks, clients)
        if problem:
            raise Broken(problem)
        for client in clients:
            if not client.accepted:
                raise Broken("the app did not accept the handshake before sending")
            if client.count != n:
                raise Broken(f"a client got {client.count} messages back, expected {n}")
            if texts is not None and client.record != texts:
                got = client.record or []
                k = next(i for i, (a, b) in enumerate(zip(got, texts, strict=False)) if a != b)
                raise Broken(f"message {k} came back as {got[k]!r}, expected {texts[k]!r}")

    def check(self, scenario: WebSocketScenario, n: int = WS_CHECK_MESSAGES) -> None:
        """One checking session (raise ``Broken`` if the app answers wrongly)."""
        try:
            self.loop.run_until_complete(self.session(scenario, n, check=True))
        except Broken:
            raise
        except Exception as exc:
            raise Broken(f"{type(exc).__name__}: {exc}") from exc

    def batch(self, scenario: WebSocketScenario) -> Callable[[int], None]:
        """Return ``run(n)``: one session in which the client sends n messages."""
        run_until_complete = self.loop.run_until_complete
        session = self.session

        def run(n: int) -> None:
            run_until_complete(session(scenario, n))

        return run

    def close(self) -> None:
        self.asgi.close()


@dataclass
class WebSocketResult:
    """One framework on one WebSocket scenario.

    Figures are per counted message: an echo for ``ws_echo``, a delivery to one member for
    ``ws_room`` (each message the client sends counts ``per_sent`` times).
    """

    framework: str
    scenario: str
    status: str  # "ok", "n/a" (not installed), "broken" (wrong answer), "error"
    reason: str = ""
    counted: str = ""
    per_sent: int = 1  # counted messages per message the client sends
    us: float | None = None  # median µs per counted message, by the clock the run reports
    per_second: float | None = None  # counted messages per second, from ``us``
    wall_us: float | None = None
    cpu_us: float | None = None
    ratio_to_peer: float | None = None  # Erlen's messages/s ÷ Starlette's (on Erlen's rows)
    rounds: list[float] = field(default_factory=list)  # wall-clock µs per message, per round
    cpu_rounds: list[float] = field(default_factory=list)  # CPU µs per message, per round
    iterations: int = 0  # messages the client sends in a round


def load_websocket_app(name: str) -> tuple[Any, str, str]:
    """Build a framework's WebSocket app: (app, status, reason); status "ok", "n/a" or "broken"."""
    framework = FRAMEWORK_BY_NAME[name]
    if not installed(framework):
        return None, "n/a", f"{framework.requires} is not installed"
    try:
        module = importlib.import_module(framework.module)
    except Exception as exc:
        return None, "n/a", f"import failed: {type(exc).__name__}: {exc}"
    try:
        return module.create_websocket_app(), "ok", ""
    except Exception as exc:
        return None, "broken", f"building the app failed: {type(exc).__name__}: {exc}"


def run_websocket(
    frameworks: Sequence[Framework],
    settings: Settings,
    scenarios: Sequence[WebSocketScenario] = WEBSOCKET_SCENARIOS,
    progress: Callable[[str], None] | None = None,
) -> list[WebSocketResult]:
    """Measure the WebSocket scenarios for the selected frameworks that have them.

    As in ``run_inprocess``: every app is checked once (a wrong answer is reported, not timed),
    then calibrated and warmed up, then the rounds are interleaved across frameworks and
    scenarios; each figure is the median over ``settings.ws_rounds`` rounds.
    """
    wanted = [f.name for f in frameworks if f.name in WEBSOCKET_FRAMEWORKS]
    if not wanted or not scenarios:
        return []
    # The in-process apps that ran before are garbage now: collect them before calibrating.
    gc.collect()
    results: list[WebSocketResult] = []
    jobs: list[tuple[WebSocketResult, Callable[[int], None]]] = []
    drivers: list[WebSocketDriver] = []
    loop = asyncio.new_event_loop()
    try:
        for name in wanted:
            app, status, reason = load_websocket_app(name)
            driver: WebSocketDriver | None = None
            if app is not None:
                try:
                    driver = WebSocketDriver(app, loop)
                    drivers.append(driver)
                except Exception as exc:
                    status, reason = "broken", f"lifespan: {type(exc).__name__}: {exc}"
            for scenario in scenarios:
                result = WebSocketResult(
                    name, scenario.name, status, reason, scenario.counted,
                    scenario.members or 1,
                )  # fmt: skip
                results.append(result)
                if driver is None:
                    continue
                try:
                    driver.check(scenario)
                except Broken as exc:
                    result.status, result.reason = "broken", str(exc)
                    continue
                run = driver.batch(scenario)
                try:
                    result.iterations = calibrate(
                        run, settings, settings.ws_round_time, settings.ws_warmup
                    )
                except Exception as exc:
                    result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
                    continue
                jobs.append((result, run))
            if progress:
                progress(f"websocket {name}: built, checked and calibrated")
        gc.collect()
        gc.freeze()
        for _ in range(settings.ws_rounds):
            for result, run in jobs:
                if result.status != "ok":
                    continue
                try:
                    wall, cpu = time_round(run, result.iterations)
                except Exception as exc:
                    result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
                    continue
                result.rounds.append(wall / result.per_sent)
                result.cpu_rounds.append(cpu / result.per_sent)
        if progress:
            progress(f"websocket: {settings.ws_rounds} rounds done")
    finally:
        for driver in drivers:
            try:
                driver.close()
            except Exception:
                pass
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        gc.unfreeze()
    for result in results:
        if result.status == "ok" and result.rounds:
            result.wall_us = statistics.median(result.rounds)
            result.cpu_us = statistics.median(result.cpu_rounds)
            result.us = result.cpu_us if settings.clock == "cpu" else result.wall_us
            result.per_second = 1e6 / result.us if result.us else None
    peer = WEBSOCKET_FRAMEWORKS[-1]
    for result in results:
        if result.framework == peer:
            continue
        other = next(
            (r for r in results if r.framework == peer and r.scenario == result.scenario), None
        )
        if other is not None and result.per_second and other.per_second:
            result.ratio_to_peer = result.per_second / other.per_second
    return results


# --- import time and memory ---------------------------------------------------------------------


def _python(code: str, timeout: float = 60) -> str:
    """Run code in a fresh interpreter (isolated from this directory) and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return done.stdout.strip().splitlines()[-1]


_PROBE = """\
import time
wall, cpu = time.perf_counter(), time.process_time()
{stmt}
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
{app}
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        rss = int(line.split()[1])
print(wall, cpu, rss)
"""


def measure_probes(
    frameworks: Iterable[Framework], runs: int, clock: str = "cpu"
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Import time (ms) and resident memory (MiB), medians over fresh interpreters.

    Each run times the framework's import statement (wall clock and CPU time; ``ms`` is the one
    ``clock`` names), then builds a small hello app and reads VmRSS.  "python" is the bare
    interpreter, for reference.
    """
    probes = [("python", "pass", "pass")] + [
        (f.name, f.import_stmt, f.small_app)
        for f in frameworks
        if f.import_stmt is not None and f.small_app is not None
    ]
    # One discarded run imports everything first: it rewrites stale bytecode caches (the code
    # under test changes often) and warms the file cache, so no timed run pays for either.
    warm = "".join(f"try:\n    {stmt}\nexcept Exception:\n    pass\n" for _, stmt, _ in probes)
    try:
        _python(warm + "print()")
    except Exception:
        pass
    imports: dict[str, dict[str, Any]] = {}
    rss: dict[str, dict[str, Any]] = {}
    for name, stmt, app in probes:
        code = _PROBE.format(stmt=stmt, app=app)
        try:
            rows = [_python(code).split() for _ in range(runs)]
        except Exception as exc:
            imports[name] = rss[name] = {"status": "error", "reason": str(exc)}
            continue
        wall = [float(row[0]) * 1000 for row in rows]
        cpu = [float(row[1]) * 1000 for row in rows]
        kib = [int(row[2]) for row in rows]
        if name != "python":
            imports[name] = {
                "status": "ok",
                "statement": stmt,
                "ms": statistics.median(cpu if clock == "cpu" else wall),
                "wall_ms": statistics.median(wall),
                "cpu_ms": statistics.median(cpu),
                "runs_wall_ms": wall,
                "runs_cpu_ms": cpu,
            }
        rss[name] = {"status": "ok", "mib": statistics.median(kib) / 1024, "runs_kib": kib}
    return imports, rss


def versions() -> dict[str, str]:
    """Installed versions of the frameworks and servers."""
    from importlib import metadata

    names = ["erlen", "flask", "quart", "starlette", "falcon", "blacksheep", "litestar", "bottle",
             "werkzeug", "jinja2", "gunicorn", "uvicorn", "granian"]  # fmt: skip
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def results_as_dicts(results: Iterable[Result | WebSocketResult]) -> list[dict[str, Any]]:
    """Results as plain dicts, for JSON."""
    return [asdict(r) for r in results]
