"""Capacity figures for docs/deployment.md: requests/s per worker, Redis pub/sub rate, memory per WebSocket.

Run from the repository root (``wrk``: ``apt-get install -y wrk``; PostgreSQL from ``.ci/services.sh``)::

    source .ci/services.sh
    python -m bench.capacity                     # about three minutes
    python -m bench.capacity --only ws --ws 2000

Each server runs ONE worker process, so a figure is what one worker (one core at most) does:

- ``hello``: ``examples/hello`` ``GET /`` under uvicorn and under gunicorn (sync worker);
- ``db``: the example blog's ``GET /posts/<id>`` (a PostgreSQL query and a template, not cached)
  and ``GET /api/posts`` (a page of posts as JSON), with Redis sessions, under both servers;
  loaded by ``wrk -t1 -c{conns}`` for ``--seconds``, the best of ``--rounds`` runs;
- ``pubsub``: ``redis-benchmark`` publishing to a channel with 0 and with 10 subscribers
  (``redis-cli``) on a Redis of its own, then how many messages per second one Python process
  receives through ``redis.asyncio`` pub/sub;
- ``ws``: the resident memory of a uvicorn worker before and after ``--ws`` idle WebSockets
  (the client offers permessage-deflate, as browsers do), the difference divided by the count:
  a bare ASGI app, an Erlen handler, an Erlen handler joined to an ``erlen.hub.Hub`` room, and
  the same with uvicorn's ``--ws-per-message-deflate false``; then how many messages per
  second the worker fans out to everyone in the room over real sockets.

It writes ``bench/results/capacity.json`` and prints what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.faults import PASSWORD, REDIS_SERVER, ROOT, Redis, _csrf, free_port, rss_kib, wait_port

PYTHON = sys.executable
WS_APP = """
from erlen import Erlen, websocket
from erlen.hub import Hub

app = Erlen(__name__)
hub = Hub()


@app.websocket("/hub")
async def in_room():
    await websocket.accept()
    await hub.join("room", websocket)
    try:
        async for message in websocket:
            await hub.publish("room", message)
    finally:
        await hub.leave("room", websocket)


@app.websocket("/plain")
async def plain():
    await websocket.accept()
    async for message in websocket:
        await websocket.send(message)


async def raw(scope, receive, send):
    # The same connection without a framework: what uvicorn itself keeps per socket.
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})
"""


@contextmanager
def server(
    kind: str, target: str, cwd: Path, env: dict[str, str], log: Path, *extra: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """One worker of ``uvicorn`` or ``gunicorn`` (sync) serving ``target``; yield (port, process)."""
    port = free_port()
    if kind == "uvicorn":
        factory = ["--factory"] if target.endswith("()") else []
        cmd = [PYTHON, "-m", "uvicorn", *factory, target.removesuffix("()"), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log", *extra]  # fmt: skip
    else:
        cmd = [PYTHON, "-m", "gunicorn", "-k", "sync", "--workers", "1", "--bind",
               f"127.0.0.1:{port}", "--log-level", "warning", target]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        wait_port(port, proc, 60, kind)
        yield port, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wrk(url: str, seconds: float, conns: int, rounds: int) -> dict[str, Any]:
    """The best of ``rounds`` wrk runs: requests/s, p50/p99 ms, non-2xx and socket errors."""
    best: dict[str, Any] | None = None
    for _ in range(rounds):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{round(seconds)}s", "--latency", url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        row = {
            "rps": round(rps),
            "p50_ms": _latency(out, "50%"),
            "p99_ms": _latency(out, "99%"),
            "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx.*?:\s+(\d+)", out)) else 0,
            "socket_errors": out.count("Socket errors"),
        }
        if best is None or row["rps"] > best["rps"]:
            best = row
    assert best is not None
    return best


def _latency(out: str, pct: str) -> float | None:
    m = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m is None:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return round(float(m.group(1)) * scale, 2)


def measure_hello(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = {}
    for kind in ("uvicorn", "gunicorn"):
        with server(
            kind, "app:app", ROOT / "examples" / "hello", env, tmp / f"hello-{kind}.log"
        ) as (
            port,
            _,
        ):
            out[kind] = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.conns, args.rounds)
    return out


def measure_db(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import httpx
    import sqlalchemy as sa

    if not args.postgres_url:
        return {"skipped": "no ERLEN_TEST_POSTGRES_URL (source .ci/services.sh)"}
    schema = "erlen_capacity_" + secrets.token_hex(4)
    engine = sa.create_engine(args.postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    redis = Redis(tmp / "redis-db")
    redis.start()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "examples" / "blog"), str(ROOT / "src")]),
        "ERLENBLOG_INSTANCE_PATH": str(tmp / "instance"),
        "ERLENBLOG_SECRET_KEY": secrets.token_hex(32),
        "ERLENBLOG_SQLALCHEMY_DATABASE_URI": f"{args.postgres_url}?options="
        + quote(f"-csearch_path={schema}"),
        "ERLENBLOG_REDIS_URL": redis.url,
    }
    out: dict[str, Any] = {}
    try:
        for kind in ("uvicorn", "gunicorn"):
            with server(kind, "erlenblog:create_app()", tmp, env, tmp / f"db-{kind}.log") as (
                port,
                _,
            ):
                base = f"http://127.0.0.1:{port}"
                if kind == "uvicorn":
                    post_id = _seed(httpx, base)
                out[kind] = {
                    "post_page": wrk(
                        f"{base}/posts/{post_id}", args.seconds, args.conns, args.rounds
                    ),
                    "api_posts": wrk(f"{base}/api/posts", args.seconds, args.conns, args.rounds),
                }
    finally:
        redis.stop()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    return out


def _seed(httpx: Any, base: str) -> int:
    """A user and six posts over HTTP (the API's first page); return one post's id."""
    name = "cap_" + secrets.token_hex(3)
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/register")
        r = client.post("/register", data={"username": name, "password": PASSWORD,
                                           "csrf_token": _csrf(page.text)})  # fmt: skip
        assert r.status_code in (302, 303), r.status_code
        token = client.post("/api/tokens", auth=(name, PASSWORD)).json()["token"]
        ids = []
        for i in range(6):
            r = client.post("/api/posts", json={"title": f"Post {i}", "body": "Some text. " * 40},
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["id"]))
    return ids[0]


def measure_pubsub(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    bench = shutil.which("redis-benchmark")
    cli = shutil.which("redis-cli")
    if bench is None or cli is None or not Path(REDIS_SERVER).exists():
        return {"skipped": "redis-server, redis-cli or redis-benchmark missing"}
    redis = Redis(tmp / "redis-pubsub")
    redis.start()
    out: dict[str, Any] = {}
    subs: list[subprocess.Popen[bytes]] = []
    try:
        for n_subs in (0, 10):
            while len(subs) < n_subs:
                subs.append(
                    subprocess.Popen(
                        [cli, "-p", str(redis.port), "subscribe", "room"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            if n_subs:
                _wait_subscribers(cli, redis.port, n_subs)
            text = subprocess.run(
                [bench, "-p", str(redis.port), "-q", "-n", str(args.publishes), "-c", "8", "-P", "16",
                 "PUBLISH", "room", '{"type":"message","text":"hello there, 48 bytes of json"}'],
                capture_output=True, text=True, timeout=120, check=True,
            ).stdout  # fmt: skip
            rate = float(re.findall(r"([\d.]+) requests per second", text)[-1])
            out[f"publish_per_s_{n_subs}_subscribers"] = round(rate)
            out[f"deliveries_per_s_{n_subs}_subscribers"] = round(rate * n_subs)
        # What erlen.contrib.redis_hub.RedisHub.publish costs Redis: XADD to the room's capped
        # stream (its replay history) and PUBLISH, in one script (10 subscribers still there).
        script = (
            "local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[2]) "
            "return redis.call('PUBLISH', KEYS[1], id .. ARGV[2])"
        )
        text = subprocess.run(
            [bench, "-p", str(redis.port), "-q", "-n", str(args.publishes // 2), "-c", "8",
             "-P", "16", "EVAL", script, "1", "room", "1000",
             '{"type":"message","text":"hello there, 48 bytes of json"}'],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
        out["hub_publish_per_s_10_subscribers"] = round(
            float(re.findall(r"([\d.]+) requests per second", text)[-1])
        )
        out["python_receiver_per_s"] = asyncio.run(_python_receiver(redis.url, bench, redis.port))
    finally:
        for p in subs:
            p.terminate()
            p.wait()
        redis.stop()
    return out


def _wait_subscribers(cli: str, port: int, n: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = subprocess.run([cli, "-p", str(port), "pubsub", "numsub", "room"],
                           capture_output=True, text=True)  # fmt: skip
        lines = r.stdout.split()
        if len(lines) >= 2 and int(lines[1]) >= n:
            return
        time.sleep(0.05)  # polling another process: no event to wait on
    raise RuntimeError("subscribers did not subscribe")


async def _python_receiver(url: str, bench: str, port: int) -> int:
    """Messages per second one asyncio process takes from a subscription (publisher: redis-benchmark)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe("fast")
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    pub = await asyncio.create_subprocess_exec(
        bench, "-p", str(port), "-q", "-n", "2000000", "-c", "4", "-P", "16",
        "PUBLISH", "fast", '{"type":"message","text":"hello there, 48 bytes of json"}',
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    count = 0
    start = time.monotonic()
    with suppress(Exception):
        while time.monotonic() - start < 5:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if msg is not None:
                json.loads(msg["data"])
                count += 1
    elapsed = time.monotonic() - start
    pub.terminate()
    await pub.wait()
    await pubsub.aclose()
    await client.aclose()
    return round(count / elapsed)


def measure_ws(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    folder = tmp / "wsapp"
    folder.mkdir(exist_ok=True)
    (folder / "ws_app.py").write_text(textwrap.dedent(WS_APP))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "src")])}
    out: dict[str, Any] = {}
    no_deflate = ("--ws-per-message-deflate", "false")
    for name, target, path, extra in (
        ("raw_asgi", "ws_app:raw", "/", ()),
        ("erlen", "ws_app:app", "/plain", ()),
        ("erlen_hub_room", "ws_app:app", "/hub", ()),
        ("raw_asgi_no_deflate", "ws_app:raw", "/", no_deflate),
        ("erlen_hub_room_no_deflate", "ws_app:app", "/hub", no_deflate),
    ):
        log = tmp / f"ws-{name}.log"
        with server("uvicorn", target, folder, env, log, *extra) as (port, proc):
            url = f"ws://127.0.0.1:{port}{path}"
            out[name] = asyncio.run(_hold_sockets(url, proc.pid, args.ws, path == "/hub"))
    return out


async def _hold_sockets(url: str, pid: int, n: int, room: bool) -> dict[str, Any]:
    import websockets

    socks = []
    # Warm up: the first connections import and allocate what every later one reuses.
    for _ in range(10):
        socks.append(await websockets.connect(url, ping_interval=None))
    for s in socks:
        await s.send("warm")
        await asyncio.wait_for(s.recv(), 10)
        if room:
            break
    if room:
        await asyncio.gather(*(asyncio.wait_for(s.recv(), 10) for s in socks[1:]))
    await asyncio.sleep(1)  # let the server settle before reading its RSS (not synchronisation)
    before = rss_kib(pid)
    sem = asyncio.Semaphore(50)

    async def one() -> Any:
        async with sem:
            return await websockets.connect(url, ping_interval=None, open_timeout=30)

    more = await asyncio.gather(*(one() for _ in range(n)))
    # Each socket is served: one round trip on each (in the room, one message reaches all).
    if room:
        await more[0].send("ping")
        await asyncio.gather(*(asyncio.wait_for(s.recv(), 30) for s in [*socks, *more]))
    else:
        await asyncio.gather(*(s.send("ping") for s in more))
        await asyncio.gather(*(asyncio.wait_for(s.recv(), 30) for s in more))
    await asyncio.sleep(1)
    after = rss_kib(pid)
    row: dict[str, Any] = {
        "sockets": n,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_socket": round((after - before) / n, 1),
    }
    if room:
        # Fan-out through the worker: 20 messages to everyone in the room.
        everyone = [*socks, *more]
        start = time.monotonic()
        for i in range(20):
            await more[0].send(f"m{i}")

        async def drain(s: Any) -> None:
            for _ in range(20):
                await asyncio.wait_for(s.recv(), 60)

        await asyncio.gather(*(drain(s) for s in everyone))
        elapsed = time.monotonic() - start
        row["fanout_deliveries"] = 20 * len(everyone)
        row["fanout_deliveries_per_s"] = round(20 * len(everyone) / elapsed)
    for s in [*socks, *more]:
        await s.close()
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.capacity", description=__doc__.splitlines()[0]
    )
    p.add_argument("--only", default="hello,db,pubsub,ws", help="which measurements")
    p.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    p.add_argument("--rounds", type=int, default=3, help="wrk runs per figure (the best is kept)")
    p.add_argument("--conns", type=int, default=32, help="wrk connections")
    p.add_argument("--publishes", type=int, default=500000, help="redis-benchmark PUBLISH count")
    p.add_argument("--ws", type=int, default=2000, help="idle WebSockets to hold")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "capacity.json"))
    p.add_argument("--postgres-url", default=os.environ.get("ERLEN_TEST_POSTGRES_URL"))
    args = p.parse_args(argv)
    if shutil.which("wrk") is None and {"hello", "db"} & set(args.only.split(",")):
        p.error("wrk is not installed (Debian: apt-get install -y wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="erlen-capacity-"))
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    steps = {"hello": measure_hello, "db": measure_db, "pubsub": measure_pubsub, "ws": measure_ws}
    try:
        for name in args.only.split(","):
            result[name] = steps[name](args, tmp)
            print(name, json.dumps(result[name]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
