"""Sessions, cache and rate limits do not block the event loop on Redis in async views.

Against a real Redis behind a proxy that holds every reply back for 50 ms, 100 concurrent
requests to ``async def`` views that use the session, a cached call and a rate limit
finish in about one delay per round trip, not a hundred: their Redis calls go through
``redis.asyncio`` (the sync clients are replaced by ones that fail when used). The
control case, the blocking client called from an async view, is serialized by the delay.
Sync views keep the sync clients on both doors (the async ones fail when used there) and
behave the same through either door.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

import services
from erlen import Erlen, session, websocket
from erlen.contrib.caching import Cache, RedisCache
from erlen.contrib.ratelimit import Limiter, RedisStorage
from erlen.contrib.redis_session import RedisSessionInterface
from support import asgi_request

DELAY = 0.05
N = 100


class DelayProxy:
    """A TCP proxy to Redis, on its own thread and loop, that delays each reply by ``delay``.

    Requests go through at once; every chunk Redis sends back is delivered ``delay``
    seconds after it arrived (in order, so pipelined replies each keep their own delay).
    """

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.open_connections = 0
        self.connections_made = 0
        #: Replies being held back right now, and the most there ever were at once.
        self.delayed = 0
        self.most_delayed = 0
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="redis-delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the proxy did not start")
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self.connections_made += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, 0.0), self._pipe(up_reader, writer, self.delay)
            )
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            self.open_connections -= 1
            self._tasks.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                writer.close()
                return
            if delay:
                self.delayed += 1
                self.most_delayed = max(self.most_delayed, self.delayed)
                due = loop.time() + delay
                try:
                    await asyncio.sleep(due - loop.time())  # the injected latency, not a wait
                finally:
                    self.delayed -= 1
            writer.write(chunk)
            await writer.drain()

    def url(self, redis_url: str) -> str:
        """``redis_url`` pointed at this proxy."""
        parts = urlsplit(redis_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Wait until no client connection is open (polled, bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open_connections == 0:
                return True
            time.sleep(0.01)
        return self.open_connections == 0

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def redis_env() -> Iterator[tuple[Any, str, str]]:
    """A sync client, a unique key prefix, and the Redis URL."""
    url = services.redis_url()
    with services.redis_prefix(url) as (client, prefix):
        yield client, prefix, url


@pytest.fixture
def proxy(redis_env: tuple[Any, str, str]) -> Iterator[DelayProxy]:
    parts = urlsplit(redis_env[2])
    p = DelayProxy((parts.hostname or "127.0.0.1", parts.port or 6379), DELAY)
    try:
        yield p
    finally:
        p.stop()


class Forbidden:
    """Stands in for a client that must not be used: any use fails the request."""

    def __init__(self, what: str) -> None:
        self.what = what

    def close(self) -> None:
        """Closing at shutdown is not a use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the {self.what} was used ({name})")


class Stack:
    """An app with Redis sessions, a Redis cache and a Redis rate limit, all on ``url``."""

    def __init__(self, url: str, prefix: str, limit: str = "1000/minute") -> None:
        app = Erlen(__name__)
        app.config.update(SECRET_KEY="test secret", TESTING=True)
        self.interface = RedisSessionInterface(url, key_prefix=prefix + "session:")
        app.session_interface = self.interface
        self.cache = Cache(
            app,
            config={
                "CACHE_TYPE": "redis",
                "CACHE_REDIS_URL": url,
                "CACHE_KEY_PREFIX": prefix + "cache:",
            },
        )
        self.storage = RedisStorage.from_url(url)
        self.limiter = Limiter(app, storage=self.storage, key_prefix=prefix + "rl")
        self.app = app
        self.calls = 0
        cache, limiter = self.cache, self.limiter

        @cache.memoize(60, make_name=lambda _: "square")
        async def square(n: int) -> int:
            self.calls += 1
            await asyncio.sleep(0)
            return n * n

        @app.get("/session/<int:i>")
        async def use_session(i: int) -> Any:
            session["seen"] = session.get("seen", 0) + 1
            return {"i": i, "seen": session["seen"]}

        @app.get("/cached/<int:i>")
        @cache.cached(60)
        async def cached(i: int) -> Any:
            self.calls += 1
            return {"i": i}

        @app.get("/limited/<int:i>")
        @limiter.limit(limit)
        async def limited(i: int) -> Any:
            return {"i": i}

        @app.get("/all/<int:i>")
        @limiter.limit(limit)
        async def everything(i: int) -> Any:
            session["last"] = i
            return {"i": i, "square": await square(i % 10)}

        @app.get("/blocking/<int:i>")
        async def blocking(i: int) -> Any:
            # The documented trap: the sync API in an async view blocks the loop.
            return {"i": i, "hit": cache.get(f"k{i}")}

        @cache.memoize(60, make_name=lambda _: "square")  # one memo for both
        def sync_square(n: int) -> int:
            self.calls += 1
            return n * n

        @app.get("/sync/read")
        def sync_read() -> Any:
            return dict(session)

        @app.get("/sync/memo/<int:n>")
        def sync_memo(n: int) -> Any:
            return {"square": sync_square(n)}

    def close(self) -> None:
        """Close the clients (async ones whose loop is idle or runs elsewhere)."""
        self.interface.close()
        self.cache.close()
        self.storage.close()

    def forbid_sync_clients(self) -> None:
        self.close()  # what a warm-up opened
        self.interface._redis = Forbidden("sync session client")  # type: ignore[assignment]
        backend = self.cache.cache
        assert isinstance(backend, RedisCache)
        backend.client = Forbidden("sync cache client")  # type: ignore[assignment]
        self.storage.client = Forbidden("sync rate-limit client")


@contextlib.asynccontextmanager
async def served(app: Erlen) -> AsyncIterator[httpx.AsyncClient]:
    """The app's ASGI door in this loop: lifespan startup, an httpx client, then shutdown.

    The timed batches call the ASGI app directly (``asgi_request``), which costs less
    time of its own than httpx, so that what is measured is mostly waiting for Redis.
    """
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    app.config["WEBSOCKET_CLOSE_ON_SHUTDOWN"] = False  # no signal handlers in a test
    task = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        answer = await asyncio.wait_for(outbox.get(), 5)
        assert answer["type"] == "lifespan.shutdown.complete", answer
        await asyncio.wait_for(task, 5)


async def _concurrently(
    app: Erlen, paths: list[str], cookie: str | None = None
) -> tuple[float, list[Any]]:
    """Send GET requests for ``paths`` all at once through the ASGI door; time them."""
    headers = [(b"cookie", cookie.encode())] if cookie else []
    start = time.perf_counter()
    answers = await asyncio.gather(*(asgi_request(app, path=p, headers=headers) for p in paths))
    elapsed = time.perf_counter() - start
    bodies = []
    for status, _, body in answers:
        assert status == 200, (status, body)
        bodies.append(json.loads(body))
    return elapsed, bodies


#: Redis round trips per request once warm: a session is loaded and saved; a cache hit is
#: one GET; a fixed-window check is one transaction; ``/all`` adds a memoized call (the
#: version key and the result) to a limit and a session.
ROUND_TRIPS = {"session": 2, "cached": 1, "limited": 1, "all": 5}


@pytest.mark.parametrize("what", list(ROUND_TRIPS))
def test_concurrent_async_requests_wait_about_one_delay(
    redis_env: tuple[Any, str, str], proxy: DelayProxy, what: str
) -> None:
    _, prefix, url = redis_env
    stack = Stack(proxy.url(url), prefix)
    with stack.app.test_client() as warm:  # a session cookie, so each request loads one
        cookie = warm.get("/session/0").headers["Set-Cookie"].split(";", 1)[0]
    stack.forbid_sync_clients()

    paths = [f"/{what}/{i}" for i in range(N)]
    if what not in ("session", "all"):
        cookie = ""  # with a session cookie, async views load and refresh the session too

    async def main() -> float:
        async with served(stack.app):
            # Warm-up: the pool's connections are opened (each connect is round trips too).
            await _concurrently(stack.app, paths, cookie)
            proxy.most_delayed = 0
            elapsed, bodies = await _concurrently(stack.app, paths, cookie)
        assert [b["i"] for b in bodies] == list(range(N))
        return elapsed

    elapsed = asyncio.run(asyncio.wait_for(main(), 60))
    # In sequence, 100 requests of one round trip (>= 50 ms) each would take 5 s at least;
    # concurrent, they take about one delay per round trip, plus the harness's own time.
    sequential = N * ROUND_TRIPS[what] * DELAY
    print(f"{N} concurrent async requests ({what}): {elapsed * 1000:.0f} ms")
    assert elapsed < sequential / 5, f"{N} requests took {elapsed:.2f}s"
    assert elapsed >= ROUND_TRIPS[what] * DELAY  # the delay was really there
    # And many replies were held back at the same moment: the requests overlapped.
    assert proxy.most_delayed >= 10, proxy.most_delayed
    # Shutdown (after_serving) closed every redis.asyncio connection through the proxy.
    assert proxy.connections_made > 0
    assert proxy.wait_closed(), f"{proxy.open_connections} connections left open"


def test_the_blocking_client_in_an_async_view_is_serialized(
    redis_env: tuple[Any, str, str], proxy: DelayProxy
) -> None:
    """The control case: the sync ``cache.get`` in an async view holds the loop per call."""
    _, prefix, url = redis_env
    stack = Stack(proxy.url(url), prefix)
    n = 10

    async def main() -> float:
        async with served(stack.app):
            await _concurrently(stack.app, ["/blocking/0"])  # the sync pool connects
            proxy.most_delayed = 0
            elapsed, _ = await _concurrently(stack.app, [f"/blocking/{i}" for i in range(n)])
        return elapsed

    elapsed = asyncio.run(asyncio.wait_for(main(), 60))
    print(f"{n} concurrent async requests calling the sync cache.get: {elapsed * 1000:.0f} ms")
    assert elapsed >= n * DELAY * 0.9, f"{n} blocking calls overlapped ({elapsed:.2f}s)"
    assert proxy.most_delayed == 1  # one reply at a time: the loop waited for each
    stack.close()


def test_values_agree_across_the_async_path(redis_env: tuple[Any, str, str]) -> None:
    """What async views store, sync views read through the WSGI door, and the other way."""
    _, prefix, url = redis_env
    stack = Stack(url, prefix, limit="3/minute")
    cookies: dict[str, str] = {}

    async def main() -> None:
        async with served(stack.app) as client:
            first = await client.get("/all/4")
            assert first.json() == {"i": 4, "square": 16}
            cookies.update(first.cookies)
            client.cookies = first.cookies
            again = await client.get("/all/14")  # the same memoized square(4)
            assert again.json() == {"i": 14, "square": 16}
            assert stack.calls == 1
            assert (await client.get("/all/1")).status_code == 200
            refused = await client.get("/all/2")
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1

    asyncio.run(asyncio.wait_for(main(), 30))
    assert stack.calls == 2  # square(4) and square(1)
    wsgi = stack.app.test_client()
    wsgi.set_cookie("session", cookies["session"])
    assert wsgi.get("/sync/read").json == {"last": 1}
    assert wsgi.get("/sync/memo/4").json == {"square": 16}
    assert stack.calls == 2  # the sync path found what the async one memoized
    stack.close()


@pytest.fixture
def sync_stack(redis_env: tuple[Any, str, str]) -> Iterator[Stack]:
    """A stack whose async clients fail when used, with sync views."""
    _, prefix, url = redis_env
    stack = Stack(url, prefix, limit="2/minute")
    app, cache, limiter = stack.app, stack.cache, stack.limiter

    @app.get("/sync/session/<value>")
    def sync_session(value: str) -> Any:
        before = session.get("value")
        session["value"] = value
        return {"before": before}

    @app.get("/sync/cached")
    @cache.cached(60)
    def sync_cached() -> Any:
        stack.calls += 1
        return {"calls": stack.calls}

    @app.get("/sync/limited")
    @limiter.limit("2/minute")
    def sync_limited() -> Any:
        return "ok"

    forbidden = Forbidden("async client")
    stack.interface.get_async_redis = lambda app: forbidden  # type: ignore[method-assign,assignment,return-value]
    backend = stack.cache.cache
    assert isinstance(backend, RedisCache)
    backend._async_clients = forbidden  # type: ignore[assignment]

    async def refuse(*args: Any) -> Any:
        raise AssertionError("the async rate-limit client was used")

    stack.storage.aincr = refuse  # type: ignore[method-assign,assignment]
    stack.storage.aget = refuse  # type: ignore[method-assign,assignment]
    yield stack
    stack.close()


def test_sync_views_use_the_sync_clients_on_both_doors(sync_stack: Stack, client: Any) -> None:
    c = client(sync_stack.app)
    assert c.get("/sync/session/a").json == {"before": None}
    assert c.get("/sync/session/b").json == {"before": "a"}
    assert c.get("/sync/cached").json == {"calls": 1}
    assert c.get("/sync/cached").json == {"calls": 1}  # a hit
    assert c.get("/sync/limited").status_code == 200
    assert c.get("/sync/limited").status_code == 200
    refused = c.get("/sync/limited")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_async_views_behave_the_same_on_both_doors(
    redis_env: tuple[Any, str, str], client: Any
) -> None:
    _, prefix, url = redis_env
    stack = Stack(url, prefix, limit="2/minute")
    stack.forbid_sync_clients()
    c = client(stack.app)
    assert c.get("/session/1").json == {"i": 1, "seen": 1}
    assert c.get("/session/2").json == {"i": 2, "seen": 2}
    assert c.get("/cached/1").json == {"i": 1}
    assert c.get("/cached/1").json == {"i": 1}
    assert stack.calls == 1  # a hit
    assert c.get("/limited/1").status_code == 200
    assert c.get("/limited/2").status_code == 200
    assert c.get("/limited/3").status_code == 429
    stack.close()


def _asgi_client_with_a_session(stack: Stack) -> Any:
    """An ASGI test client holding a session (``seen == 1``) made through the sync clients,
    which are then forbidden."""
    with stack.app.test_client() as warm:
        warm.get("/session/1")
        cookie = warm.get_cookie("session")
        assert cookie is not None
    stack.forbid_sync_clients()
    client = stack.app.test_client(asgi=True)
    client.set_cookie("session", cookie.value)
    return client


def test_a_routing_error_under_asgi_refreshes_the_session_without_blocking(
    redis_env: tuple[Any, str, str],
) -> None:
    """A 404 (no view, so no worker thread) with a session cookie: the async client refreshes it."""
    _, prefix, url = redis_env
    stack = Stack(url, prefix)
    c = _asgi_client_with_a_session(stack)
    missing = c.get("/no/such/page")
    assert missing.status_code == 404
    assert "session=" in missing.headers["Set-Cookie"]  # SESSION_REFRESH_EACH_REQUEST
    assert c.get("/session/2").json == {"i": 2, "seen": 2}
    stack.close()


def test_a_websocket_handshake_loads_the_session_with_the_async_client(
    redis_env: tuple[Any, str, str],
) -> None:
    """An async WebSocket handler reads the session the handshake loaded through redis.asyncio."""
    _, prefix, url = redis_env
    stack = Stack(url, prefix)

    @stack.app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send_json({"seen": session.get("seen")})

    c = _asgi_client_with_a_session(stack)
    with c.websocket_connect("/ws") as conn:
        assert conn.receive_json() == {"seen": 1}
    stack.close()


def test_async_key_value_api_and_memo_invalidation(redis_env: tuple[Any, str, str]) -> None:
    """The ``a`` methods through redis.asyncio agree with the sync ones."""
    _, prefix, url = redis_env
    stack = Stack(url, prefix)
    cache = stack.cache

    async def main() -> None:
        async with served(stack.app):
            with stack.app.app_context():
                assert await cache.aset_many({"a": 1, "b": [2]}) == ["a", "b"]
                assert await cache.aget_dict("a", "b", "c") == {"a": 1, "b": [2], "c": None}
                assert await cache.ainc("a", 4) == 5
                assert await cache.adec("a") == 4
                assert await cache.adelete_many("a", "c") == ["a"]
                assert cache.get("b") == [2]  # what the async client wrote, the sync one reads

                calls: list[int] = []

                @cache.memoize(60)
                async def double(n: int) -> int:
                    calls.append(n)
                    return 2 * n

                assert [await double(3), await double(3)] == [6, 6]
                await cache.adelete_memoized(double, 3)
                assert await double(3) == 6
                assert calls == [3, 3]
                assert await cache.aclear()
                assert await cache.aget("b") is None

    asyncio.run(asyncio.wait_for(main(), 30))
    stack.close()
