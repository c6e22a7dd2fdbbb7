"""The fault-and-load run: the example blog on eight workers behind nginx, a worker killed and Redis restarted.

Run from the repository root, with PostgreSQL from ``.ci/services.sh``::

    source .ci/services.sh
    python -m bench.faults                   # 60 s, 200 WebSocket and 100 SSE clients
    python -m bench.faults --seconds 20 --ws 20 --sse 10 --rate 40   # a quick look

What it starts (all on loopback, in a temporary folder, stopped at the end):

- its own ``redis-server`` on a free port (append-only file on, so a restart keeps sessions),
  so that the shared test Redis is left alone;
- a fresh PostgreSQL schema in ``ERLEN_TEST_POSTGRES_URL`` (dropped at the end, ``--keep`` keeps it);
- ``uvicorn --workers 4`` (ASGI) and ``gunicorn -k gthread -w 4`` (WSGI), both serving
  ``erlenblog:create_app()`` with ``ERLENBLOG_REDIS_URL`` and the PostgreSQL schema;
- nginx in front: plain HTTP is balanced over both servers (eight workers); WebSockets and the
  SSE stream go to uvicorn's four workers only, since a WSGI worker can serve neither.

The clients (one asyncio process): an open-loop HTTP load at ``--rate`` requests per second
(``--writes`` of them ``POST /api/posts`` with a bearer token, the rest ``GET /``), ``--ws``
chat clients on ``/ws/chat`` that each say something every ``--chat-interval`` seconds on
average, and ``--sse`` clients on ``/notifications/stream`` that reconnect with
``Last-Event-ID`` when their stream ends. Every HTTP request has a timeout; a request that
times out is counted as a hang, not as an error. At ``--kill-at`` of the run one uvicorn worker
gets SIGKILL (uvicorn's supervisor starts a new one); at ``--redis-at`` Redis is shut down
(``SHUTDOWN``, which saves) and started again after ``--redis-down`` seconds.

What it checks afterwards:

- errors: each failed request is explained if it overlapped the killed worker's moment or the
  Redis outage (plus ``--grace`` seconds); any other error, and any hang, is unexplained;
- writes: every post whose ``POST`` was answered 2xx is in the database, with its title;
- chat: every message that reached any client reached every client that stayed connected;
- SSE: every post committed (2xx) after a client first subscribed reached that client, also
  when it reconnected (replay through ``Last-Event-ID``); a client that never reconnected is
  reported apart from one that did;
- latency p50/p99 of the HTTP requests that succeeded, and of chat deliveries.

It writes ``bench/results/faults.json`` (``--json``) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
EXAMPLE = ROOT / "examples" / "blog"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "correct horse battery"


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling another process's start-up: there is no event to wait on
    raise RuntimeError(f"{what} not listening on {port} after {timeout}s")


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    out: list[int] = []
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(x) for x in f.read().split())
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Redis:
    """A redis-server of this run, restartable on the same port and data folder."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        folder.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = self._popen(log)
        wait_port(self.port, self.proc, 10, "redis-server")

    def _popen(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--protected-mode", "no",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def stop(self) -> None:
        """``SHUTDOWN`` (Redis writes its data out first), then wait for the process to end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # same as SHUTDOWN: persist, then exit
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    # Plain HTTP: the eight workers (uvicorn's four and gunicorn's four, one port each).
    upstream erlen_http {{
        server 127.0.0.1:{uvicorn};
        server 127.0.0.1:{gunicorn};
        keepalive 32;
    }}
    # WebSockets and server-sent events: the ASGI workers only.
    upstream erlen_live {{
        server 127.0.0.1:{uvicorn};
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        location /ws/ {{
            proxy_pass http://erlen_live;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
        }}
        location /notifications/ {{
            proxy_pass http://erlen_live;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
        location / {{
            proxy_pass http://erlen_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Deployment:
    """Redis, a PostgreSQL schema, uvicorn, gunicorn and nginx for one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="erlen-faults-"))
        self.redis = Redis(self.tmp / "redis")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.schema = "erlen_faults_" + secrets.token_hex(4)
        self.pg_url = args.postgres_url
        self.db_url = f"{self.pg_url}?options={quote('-csearch_path=' + self.schema)}"
        self.uvicorn_port = free_port()
        self.gunicorn_port = free_port()
        self.nginx_port = free_port()
        self.base = f"http://127.0.0.1:{self.nginx_port}"
        self.secret_key = secrets.token_hex(32)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(
                [str(EXAMPLE), str(ROOT / "src"), env.get("PYTHONPATH", "")]
            ),
            ERLENBLOG_INSTANCE_PATH=str(self.tmp / "instance"),
            ERLENBLOG_SECRET_KEY=self.secret_key,
            ERLENBLOG_SQLALCHEMY_DATABASE_URI=self.db_url,
            ERLENBLOG_REDIS_URL=self.redis.url,
            # Eight workers share PostgreSQL's 100 connections with whatever else runs.
            ERLENBLOG_SQLALCHEMY_ENGINE_OPTIONS=json.dumps(
                {"pool_size": 4, "max_overflow": 4, "pool_pre_ping": True}
            ),
        )
        return env

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd, cwd=self.tmp, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def start(self) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.pg_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        engine.dispose()
        self.redis.start()
        timeout = self.args.graceful
        uv = self._spawn(
            "uvicorn",
            [
                PYTHON, "-m", "uvicorn", "--factory", "erlenblog:create_app",
                "--host", "127.0.0.1", "--port", str(self.uvicorn_port),
                "--workers", str(self.args.workers), "--timeout-graceful-shutdown", str(timeout),
                "--log-level", "warning", "--no-access-log",
            ],
        )  # fmt: skip
        # The first worker creates the tables; the others find them.
        wait_port(self.uvicorn_port, uv, 60, "uvicorn")
        gu = self._spawn(
            "gunicorn",
            [
                PYTHON, "-m", "gunicorn", "-k", "gthread", "--workers", str(self.args.workers),
                "--threads", "4", "--bind", f"127.0.0.1:{self.gunicorn_port}",
                "--graceful-timeout", str(timeout), "--log-level", "warning",
                "erlenblog:create_app()",
            ],
        )  # fmt: skip
        wait_port(self.gunicorn_port, gu, 60, "gunicorn")
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                tmp=self.tmp,
                uvicorn=self.uvicorn_port,
                gunicorn=self.gunicorn_port,
                port=self.nginx_port,
            )
        )
        ng = self._spawn("nginx", [NGINX, "-p", str(self.tmp), "-c", str(conf)])
        wait_port(self.nginx_port, ng, 20, "nginx")

    def workers(self, name: str) -> list[int]:
        """The worker processes of ``uvicorn`` or ``gunicorn`` (not the supervisor's helpers)."""
        proc = self.procs[name]
        pids = children(proc.pid)
        if name == "uvicorn":
            return [p for p in pids if "spawn_main" in cmdline(p)]
        return pids

    def stop(self) -> None:
        for name in ("nginx", "gunicorn", "uvicorn"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
        for name in ("nginx", "gunicorn", "uvicorn"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            try:
                proc.wait(self.args.graceful + 10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.redis.stop()

    def drop_schema(self) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.pg_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        engine.dispose()

    def posts_in_db(self) -> dict[int, str]:
        import sqlalchemy as sa

        engine = sa.create_engine(self.db_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, title FROM post")).all()
        engine.dispose()
        return {int(i): str(t) for i, t in rows}


# -- clients -----------------------------------------------------------------------------------


@dataclass
class HttpRecord:
    kind: str
    start: float
    end: float
    status: int | None = None
    error: str | None = None  # exception class name; "hang" for a timeout
    post_id: int | None = None
    title: str | None = None


@dataclass
class ChatClient:
    cid: int
    connects: int = 0
    disconnects: list[tuple[float, Any]] = field(default_factory=list)
    first_open: float | None = None
    received: dict[str, float] = field(default_factory=dict)  # text -> receive time
    sent: int = 0
    refused: int = 0


@dataclass
class SseClient:
    cid: int
    connects: int = 0
    first_ready: float | None = None
    reconnects_with_id: int = 0
    ends: list[tuple[float, str]] = field(default_factory=list)
    post_ids: set[int] = field(default_factory=set)
    last_id: str | None = None
    replayed: int = 0


@dataclass
class Faults:
    kill: tuple[float, float] | None = None  # (t, t) of the SIGKILL
    killed_pid: int | None = None
    worker_back: float | None = None
    redis_down: tuple[float, float] | None = None


class Run:
    def __init__(self, args: argparse.Namespace, dep: Deployment) -> None:
        self.args = args
        self.dep = dep
        self.base = dep.base
        self.ws_base = dep.base.replace("http://", "ws://")
        self.records: list[HttpRecord] = []
        self.chat = [ChatClient(i) for i in range(args.ws)]
        self.sse = [SseClient(i) for i in range(args.sse)]
        self.faults = Faults()
        self.t0 = time.monotonic()
        self.stop_load = asyncio.Event()
        self.stop_all = asyncio.Event()
        self.cookies: list[str] = []
        self.tokens: list[str] = []
        self.sent_texts: dict[str, float] = {}

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- set-up: users, sessions, tokens over HTTP ---------------------------------------------

    async def setup_users(self) -> None:
        import httpx

        for i in range(self.args.users):
            name = f"load{i}_{secrets.token_hex(3)}"
            async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
                page = await client.get("/register")
                token = _csrf(page.text)
                r = await client.post(
                    "/register",
                    data={"username": name, "password": PASSWORD, "csrf_token": token},
                )
                assert r.status_code in (302, 303), f"register: {r.status_code} {r.text[:300]}"
                page = await client.get("/login")
                r = await client.post(
                    "/login",
                    data={"username": name, "password": PASSWORD, "csrf_token": _csrf(page.text)},
                )
                assert r.status_code in (302, 303), f"login: {r.status_code} {r.text[:300]}"
                self.cookies.append("; ".join(f"{k}={v}" for k, v in client.cookies.items()))
                r = await client.post("/api/tokens", auth=(name, PASSWORD))
                assert r.status_code == 201, f"token: {r.status_code} {r.text[:300]}"
                self.tokens.append(r.json()["token"])

    # -- HTTP load -----------------------------------------------------------------------------

    async def http_load(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=self.args.max_in_flight, max_keepalive_connections=32)
        timeout = httpx.Timeout(self.args.timeout)
        sem = asyncio.Semaphore(self.args.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        self.saturated = 0
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=timeout) as client:
            interval = 1.0 / self.args.rate
            next_at = time.monotonic()
            n = 0
            while not self.stop_load.is_set():
                n += 1
                if sem.locked():
                    self.saturated += 1
                else:
                    write = random.random() < self.args.writes
                    task = asyncio.ensure_future(self._one(client, sem, write, n))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    with suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.stop_load.wait(), delay)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, client: Any, sem: asyncio.Semaphore, write: bool, n: int) -> None:
        import httpx

        async with sem:
            rec = HttpRecord("write" if write else "read", self.now(), 0.0)
            try:
                if write:
                    title = f"load post {n} {secrets.token_hex(4)}"
                    token = self.tokens[n % len(self.tokens)]
                    r = await client.post(
                        "/api/posts",
                        json={"title": title, "body": f"Body of {title}."},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    rec.title = title
                    if r.status_code == 201:
                        rec.post_id = int(r.json()["id"])
                else:
                    r = await client.get("/")
                rec.status = r.status_code
            except httpx.TimeoutException:
                rec.error = "hang"
            except (httpx.HTTPError, OSError) as e:
                rec.error = type(e).__name__
            rec.end = self.now()
            self.records.append(rec)

    # -- chat ----------------------------------------------------------------------------------

    async def chat_client(self, c: ChatClient, ready: asyncio.Event) -> None:
        import websockets

        cookie = self.cookies[c.cid % len(self.cookies)]
        first = True
        while not self.stop_all.is_set():
            try:
                async with websockets.connect(
                    self.ws_base + "/ws/chat",
                    additional_headers={"Cookie": cookie},
                    open_timeout=self.args.timeout,
                    ping_interval=None,
                    max_queue=None,
                ) as ws:
                    c.connects += 1
                    # Others' messages may come before the welcome (it is sent after joining).
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), self.args.timeout))
                        if msg.get("type") == "message":
                            c.received.setdefault(msg["text"], self.now())
                        elif msg.get("type") == "welcome":
                            break
                    if c.first_open is None:
                        c.first_open = self.now()
                    if first:
                        first = False
                        ready.set()
                    sender = asyncio.ensure_future(self._chat_sender(c, ws))
                    try:
                        async for raw in ws:
                            msg = json.loads(raw)
                            if msg.get("type") == "message":
                                c.received.setdefault(msg["text"], self.now())
                    finally:
                        sender.cancel()
                        with suppress(asyncio.CancelledError, Exception):
                            await sender
                    code = ws.close_code
            except websockets.ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else 1006
            except websockets.InvalidStatus as e:
                code = f"refused {e.response.status_code}"
            except Exception as e:  # reset, timeout: all end this connection
                code = type(e).__name__
                if first:
                    c.refused += 1
            if self.stop_all.is_set():
                return
            c.disconnects.append((self.now(), code))
            await asyncio.sleep(random.uniform(0.2, 1.0))  # a page's reconnect back-off

    async def _chat_sender(self, c: ChatClient, ws: Any) -> None:
        await self.chat_go.wait()
        while not self.stop_load.is_set():
            await asyncio.sleep(random.expovariate(1.0 / self.args.chat_interval))
            if self.stop_load.is_set():
                return
            text = f"c{c.cid}-{c.sent}"
            self.sent_texts[text] = self.now()
            c.sent += 1
            await ws.send(text)

    # -- server-sent events --------------------------------------------------------------------

    async def sse_client(self, s: SseClient, ready: asyncio.Event) -> None:
        import httpx

        first = True
        timeout = httpx.Timeout(self.args.timeout, read=None)
        async with httpx.AsyncClient(base_url=self.base, timeout=timeout) as client:
            while not self.stop_all.is_set():
                headers = {"Accept": "text/event-stream"}
                if s.last_id is not None:
                    headers["Last-Event-ID"] = s.last_id
                    s.reconnects_with_id += 1
                reason = "end"
                try:
                    async with client.stream("GET", "/notifications/stream", headers=headers) as r:
                        if r.status_code != 200:
                            reason = f"status {r.status_code}"
                        else:
                            s.connects += 1
                            event: dict[str, str] = {}
                            async for line in r.aiter_lines():
                                if line == "":
                                    if first and event.get("event") == "ready":
                                        first = False
                                        s.first_ready = self.now()
                                        ready.set()
                                    self._sse_event(s, event)
                                    event = {}
                                    continue
                                key, _, value = line.partition(":")
                                value = value[1:] if value.startswith(" ") else value
                                if key == "data" and "data" in event:
                                    event["data"] += "\n" + value
                                else:
                                    event[key] = value
                except Exception as e:
                    reason = type(e).__name__
                if self.stop_all.is_set():
                    return
                s.ends.append((self.now(), reason))
                await asyncio.sleep(random.uniform(0.2, 1.0))  # EventSource waits `retry` ms

    def _sse_event(self, s: SseClient, event: dict[str, str]) -> None:
        if "id" in event:
            s.last_id = event["id"]
        if event.get("event") != "post" or "data" not in event:
            return
        try:
            data = json.loads(event["data"])
        except ValueError:
            return
        if isinstance(data, dict) and "id" in data:
            s.post_ids.add(int(data["id"]))

    # -- faults --------------------------------------------------------------------------------

    async def kill_worker(self) -> None:
        await asyncio.sleep(self.args.seconds * self.args.kill_at)
        before = self.dep.workers(self.args.kill)
        if not before:
            return
        pid = random.choice(before)
        self.faults.killed_pid = pid
        t = self.now()
        os.kill(pid, signal.SIGKILL)
        self.faults.kill = (t, t)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = self.dep.workers(self.args.kill)
            if len(now) >= len(before) and pid not in now:
                self.faults.worker_back = self.now()
                return
            await asyncio.sleep(0.1)

    async def restart_redis(self) -> None:
        await asyncio.sleep(self.args.seconds * self.args.redis_at)
        t = self.now()
        await asyncio.to_thread(self.dep.redis.stop)
        await asyncio.sleep(self.args.redis_down)
        await asyncio.to_thread(self.dep.redis.start)
        self.faults.redis_down = (t, self.now())

    # -- the run -------------------------------------------------------------------------------

    async def main(self) -> dict[str, Any]:
        await self.setup_users()
        self.chat_go = asyncio.Event()
        chat_ready = [asyncio.Event() for _ in self.chat]
        sse_ready = [asyncio.Event() for _ in self.sse]
        clients: list[asyncio.Task[None]] = []
        connect_gate = asyncio.Semaphore(20)

        async def gated(coro_factory: Any, ev: asyncio.Event) -> None:
            async with connect_gate:
                task = asyncio.ensure_future(coro_factory())
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ev.wait(), 30)
            await task

        for c, ev in zip(self.chat, chat_ready, strict=True):
            clients.append(
                asyncio.ensure_future(gated(lambda c=c, ev=ev: self.chat_client(c, ev), ev))
            )
        for s, ev in zip(self.sse, sse_ready, strict=True):
            clients.append(
                asyncio.ensure_future(gated(lambda s=s, ev=ev: self.sse_client(s, ev), ev))
            )
        connect_start = time.monotonic()
        await asyncio.gather(*(ev.wait() for ev in chat_ready + sse_ready))
        connected_in = time.monotonic() - connect_start
        self.t0 = time.monotonic()  # the measured run starts now
        for c in self.chat:
            c.first_open = 0.0 if c.first_open is not None else None
        for s in self.sse:
            s.first_ready = 0.0 if s.first_ready is not None else None
        self.chat_go.set()
        rss_before = {
            name: sum(rss_kib(p) for p in self.dep.workers(name))
            for name in ("uvicorn", "gunicorn")
        }
        faults = [
            asyncio.ensure_future(self.kill_worker()),
            asyncio.ensure_future(self.restart_redis()),
        ]
        load = asyncio.ensure_future(self.http_load())
        await asyncio.sleep(self.args.seconds)
        self.stop_load.set()
        await load
        await asyncio.gather(*faults)
        load_end = self.now()
        await asyncio.sleep(self.args.drain)  # deliveries still on their way
        self.stop_all.set()
        for t in clients:
            t.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        rss_after = {
            name: sum(rss_kib(p) for p in self.dep.workers(name))
            for name in ("uvicorn", "gunicorn")
        }
        return self.report(load_end, connected_in, rss_before, rss_after)

    # -- the report ----------------------------------------------------------------------------

    def explained(self, rec: HttpRecord) -> str | None:
        """The fault a failed request overlapped, if any."""
        return self.cause(rec.start, rec.end)

    def cause(self, start: float, end: float) -> str | None:
        """The fault that the time span [start, end] overlaps (plus the grace period), if any."""
        g = self.args.grace
        if self.faults.kill is not None:
            t = self.faults.kill[0]
            if start <= t + g and end >= t:
                return "killed worker"
        if self.faults.redis_down is not None:
            a, b = self.faults.redis_down
            if start <= b + g and end >= a:
                return "redis restart"
        return None

    def report(
        self,
        load_end: float,
        connected_in: float,
        rss_before: dict[str, int],
        rss_after: dict[str, int],
    ) -> dict[str, Any]:
        recs = self.records
        ok = [r for r in recs if r.status is not None and r.status < 400]
        failed = [r for r in recs if r not in ok]
        hangs = [r for r in failed if r.error == "hang"]
        errors: dict[str, dict[str, int]] = {}
        unexplained: list[dict[str, Any]] = []
        for r in failed:
            what = r.error if r.error is not None else f"HTTP {r.status}"
            why = self.explained(r) or "unexplained"
            errors.setdefault(why, {}).setdefault(what, 0)
            errors[why][what] += 1
            if why == "unexplained":
                unexplained.append(
                    {
                        "kind": r.kind,
                        "start": round(r.start, 3),
                        "end": round(r.end, 3),
                        "what": what,
                    }
                )

        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            values = sorted(values)
            return values[min(len(values) - 1, int(q * len(values)))]

        lat = {
            kind: {
                "count": len(v),
                "p50_ms": _ms(pct(v, 0.50)),
                "p99_ms": _ms(pct(v, 0.99)),
            }
            for kind, v in {
                "all": [r.end - r.start for r in ok],
                "write": [r.end - r.start for r in ok if r.kind == "write"],
                "read": [r.end - r.start for r in ok if r.kind == "read"],
                "outside_faults": [
                    r.end - r.start for r in ok if self.cause(r.start, r.end) is None
                ],
            }.items()
        }

        # Writes: every 2xx write is in the database with its title.
        committed = [r for r in ok if r.kind == "write" and r.post_id is not None]
        in_db = self.dep.posts_in_db()
        missing = [r.post_id for r in committed if in_db.get(r.post_id or -1) != r.title]
        failed_titles = {r.title for r in failed if r.kind == "write" and r.title}
        ambiguous = sum(1 for t in in_db.values() if t in failed_titles)

        # Chat: what reached anyone reached everyone who stayed connected.
        delivered_any: set[str] = set()
        for c in self.chat:
            delivered_any.update(c.received)
        stayed = [c for c in self.chat if c.connects == 1 and not c.disconnects]
        chat_missing = {
            c.cid: len(delivered_any - set(c.received))
            for c in stayed
            if delivered_any - set(c.received)
        }
        delays = [
            t - self.sent_texts[text]
            for c in self.chat
            for text, t in c.received.items()
            if text in self.sent_texts
        ]
        lost_sent = len(set(self.sent_texts) - delivered_any)

        # SSE: every post committed after a client subscribed reached it.
        def expected_for(s: SseClient) -> set[int]:
            start = s.first_ready if s.first_ready is not None else float("inf")
            return {r.post_id for r in committed if r.start >= start and r.post_id is not None}

        sse_rows = []
        for s in self.sse:
            exp = expected_for(s)
            gap = exp - s.post_ids
            sse_rows.append((s, len(exp), len(gap)))
        never = [row for row in sse_rows if not row[0].ends]
        again = [row for row in sse_rows if row[0].ends]

        result: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {
                k: v for k, v in vars(self.args).items() if k not in ("postgres_url", "json")
            },
            "setup": {
                "uvicorn_workers": self.args.workers,
                "gunicorn_workers": self.args.workers,
                "gunicorn_worker_class": "gthread (4 threads)",
                "nginx": "HTTP over both servers; /ws/ and /notifications/ to uvicorn only",
                "clients_connected_in_s": round(connected_in, 2),
            },
            "faults": {
                "killed": self.args.kill,
                "killed_pid": self.faults.killed_pid,
                "kill_at_s": _r(self.faults.kill[0]) if self.faults.kill else None,
                "worker_replaced_at_s": _r(self.faults.worker_back),
                "redis_down_s": [_r(x) for x in self.faults.redis_down]
                if self.faults.redis_down
                else None,
            },
            "http": {
                "requests": len(recs),
                "served_ok": len(ok),
                "per_second": round(len(ok) / load_end, 1) if load_end else None,
                "client_saturated_skips": self.saturated,
                "failed": len(failed),
                "hangs": len(hangs),
                "errors": errors,
                "unexplained": unexplained[:50],
                "unexplained_count": len(unexplained),
                "status_counts": _counts(str(r.status) for r in recs if r.status is not None),
                "latency": lat,
            },
            "writes": {
                "committed_2xx": len(committed),
                "missing_in_db": len(missing),
                "missing_ids": missing[:50],
                "failed_but_in_db": ambiguous,
                "posts_in_db": len(in_db),
            },
            "chat": {
                "clients": len(self.chat),
                "stayed_connected": len(stayed),
                "reconnected": sum(1 for c in self.chat if c.disconnects),
                "never_connected": sum(1 for c in self.chat if c.connects == 0),
                "messages_sent": len(self.sent_texts),
                "messages_delivered_to_someone": len(delivered_any),
                "sent_but_delivered_to_nobody": lost_sent,
                "deliveries": sum(len(c.received) for c in self.chat),
                "stayed_clients_missing_messages": len(chat_missing),
                "stayed_missing_total": sum(chat_missing.values()),
                "delivery_p50_ms": _ms(pct(delays, 0.5)),
                "delivery_p99_ms": _ms(pct(delays, 0.99)),
                "disconnect_codes": _counts(
                    str(code) for c in self.chat for _, code in c.disconnects
                ),
                "disconnects_by_cause": _counts(
                    self.cause(t, t) or "no fault" for c in self.chat for t, _ in c.disconnects
                ),
            },
            "sse": {
                "clients": len(self.sse),
                "never_reconnected": len(never),
                "never_reconnected_with_gap": sum(1 for _, _, g in never if g),
                "reconnected": len(again),
                "reconnected_with_last_event_id": sum(1 for s in self.sse if s.reconnects_with_id),
                "reconnected_with_gap": sum(1 for _, _, g in again if g),
                "missed_events_total": sum(g for _, _, g in sse_rows),
                "expected_events_total": sum(e for _, e, _ in sse_rows),
                "end_reasons": _counts(reason for s in self.sse for _, reason in s.ends),
                "ends_by_cause": _counts(
                    self.cause(t, t) or "no fault" for s in self.sse for t, _ in s.ends
                ),
            },
            "memory_kib": {"before": rss_before, "after": rss_after},
        }
        return result


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if m is None:
        raise RuntimeError("no csrf_token field in the form")
    return m.group(1)


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _counts(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def table(result: dict[str, Any]) -> str:
    h, w, c, s, f = (result[k] for k in ("http", "writes", "chat", "sse", "faults"))
    lat = h["latency"]
    explained = sum(n for why, d in h["errors"].items() if why != "unexplained" for n in d.values())
    rows = [
        ("run", f"{result['settings']['seconds']} s, {result['machine']['cpus']} cores"),
        ("killed worker", f"{f['killed']} pid {f['killed_pid']} at {f['kill_at_s']} s, "
         f"replaced at {f['worker_replaced_at_s']} s"),
        ("redis down", f"{f['redis_down_s']}"),
        ("HTTP requests", f"{h['requests']} ({h['served_ok']} ok, {h['per_second']}/s)"),
        ("errors explained", f"{explained}  {h['errors']}" if h["errors"] else "0"),
        ("errors unexplained", str(h["unexplained_count"])),
        ("hangs", str(h["hangs"])),
        ("latency all p50/p99", f"{lat['all']['p50_ms']} / {lat['all']['p99_ms']} ms"),
        ("latency write p50/p99", f"{lat['write']['p50_ms']} / {lat['write']['p99_ms']} ms"),
        ("latency read p50/p99", f"{lat['read']['p50_ms']} / {lat['read']['p99_ms']} ms"),
        ("latency outside faults p50/p99",
         f"{lat['outside_faults']['p50_ms']} / {lat['outside_faults']['p99_ms']} ms"),
        ("writes 2xx / missing in DB", f"{w['committed_2xx']} / {w['missing_in_db']}"),
        ("writes failed but in DB", str(w["failed_but_in_db"])),
        ("chat clients stayed/reconnected", f"{c['stayed_connected']} / {c['reconnected']}"),
        ("chat disconnects", f"{c['disconnect_codes']} {c['disconnects_by_cause']}"),
        ("chat messages sent/delivered", f"{c['messages_sent']} / {c['messages_delivered_to_someone']}"
         f" ({c['deliveries']} deliveries)"),
        ("chat stayed clients missing msgs", f"{c['stayed_clients_missing_messages']}"
         f" ({c['stayed_missing_total']} messages)"),
        ("chat delivery p50/p99", f"{c['delivery_p50_ms']} / {c['delivery_p99_ms']} ms"),
        ("SSE never reconnected (gap)", f"{s['never_reconnected']} ({s['never_reconnected_with_gap']})"),
        ("SSE reconnected (gap)", f"{s['reconnected']} ({s['reconnected_with_gap']})"),
        ("SSE stream ends", f"{s['end_reasons']} {s['ends_by_cause']}"),
        ("SSE events missed/expected", f"{s['missed_events_total']} / {s['expected_events_total']}"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the loaded run")
    p.add_argument("--ws", type=int, default=200, help="WebSocket chat clients")
    p.add_argument("--sse", type=int, default=100, help="SSE clients")
    p.add_argument("--rate", type=float, default=30.0, help="HTTP requests per second (open loop)")
    p.add_argument(
        "--writes", type=float, default=0.5, help="share of the HTTP requests that write"
    )
    p.add_argument("--max-in-flight", type=int, default=64, help="HTTP requests in flight at most")
    p.add_argument(
        "--chat-interval",
        type=float,
        default=20.0,
        help="mean seconds between a chat client's messages",
    )
    p.add_argument("--workers", type=int, default=4, help="workers per server (uvicorn, gunicorn)")
    p.add_argument("--users", type=int, default=4, help="accounts the clients share")
    p.add_argument(
        "--kill",
        choices=["uvicorn", "gunicorn"],
        default="uvicorn",
        help="whose worker gets SIGKILL",
    )
    p.add_argument("--kill-at", type=float, default=0.33, help="when, as a fraction of the run")
    p.add_argument(
        "--redis-at", type=float, default=0.66, help="when Redis restarts, as a fraction"
    )
    p.add_argument("--redis-down", type=float, default=1.0, help="seconds Redis stays down")
    p.add_argument(
        "--timeout", type=float, default=10.0, help="per-request timeout: longer is a hang"
    )
    p.add_argument(
        "--grace",
        type=float,
        default=3.0,
        help="seconds after a fault its errors count as explained",
    )
    p.add_argument(
        "--drain", type=float, default=3.0, help="seconds to wait for deliveries at the end"
    )
    p.add_argument("--graceful", type=int, default=5, help="servers' graceful shutdown timeout")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "faults.json"))
    p.add_argument("--keep", action="store_true", help="keep the temp folder and the schema")
    p.add_argument("--postgres-url", default=os.environ.get("ERLEN_TEST_POSTGRES_URL"))
    args = p.parse_args(argv)
    if not args.postgres_url:
        p.error(
            "no PostgreSQL: run `source .ci/services.sh` first (it exports ERLEN_TEST_POSTGRES_URL)"
        )
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the deployment, run the clients and the faults, check, stop; return the result."""
    dep = Deployment(args)
    try:
        dep.start()
        result = asyncio.run(Run(args, dep).main())
    except BaseException:
        print(f"logs kept in {dep.tmp}", file=sys.stderr)
        args.keep = True
        raise
    finally:
        dep.stop()
        if not args.keep:
            with suppress(Exception):
                dep.drop_schema()
            shutil.rmtree(dep.tmp, ignore_errors=True)
    result["logs"] = str(dep.tmp) if args.keep else None
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
