"""erlen.contrib.caching: the in-memory backend and a real Redis server, cached views on both doors."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import services
from erlen import Erlen, Response, make_response, request
from erlen.concurrency import thread_loop
from erlen.contrib.caching import Cache, JSONSerializer, MemoryCache, NullCache, RedisCache
from support import free_port


class Clock:
    """A clock the test moves by hand: expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, clock: Clock) -> Iterator[dict[str, Any]]:
    """Cache config for the in-memory backend (with a fake clock) or for the real Redis."""
    if request.param == "memory":
        yield {"CACHE_TYPE": "simple", "CACHE_OPTIONS": {"clock": clock}}
        return
    with services.redis_prefix(services.redis_url()) as (_client, prefix):
        yield {
            "CACHE_TYPE": "redis",
            "CACHE_REDIS_URL": services.redis_url(),
            "CACHE_KEY_PREFIX": prefix,
        }


def make_cache(config: dict[str, Any], **extra: Any) -> tuple[Erlen, Cache]:
    app = Erlen(__name__)
    app.config.update(config, **extra)
    return app, Cache(app)


@pytest.fixture
def cache_app(backend: dict[str, Any]) -> Iterator[tuple[Erlen, Cache]]:
    app, cache = make_cache(backend)
    yield app, cache
    cache.clear()
    cache.close()


def is_redis(cache: Cache) -> bool:
    return isinstance(cache.cache, RedisCache)


# -- the key-value API -------------------------------------------------------------------------


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_key_value_api(backend: dict[str, Any], serializer: str) -> None:
    _, cache = make_cache(backend, CACHE_SERIALIZER=serializer)
    value = {"n": 1, "items": [1, "two", 3.5], "raw": b"\x00\xff", "pair": (1, 2)}
    assert cache.get("missing") is None
    assert cache.set("k", value) is True
    assert cache.get("k") == value
    assert cache.has("k") and not cache.has("missing")
    assert cache.add("k", "other") is False and cache.get("k") == value
    assert cache.add("new", "v") is True and cache.get("new") == "v"
    assert cache.delete("k") is True and cache.delete("k") is False
    assert cache.set_many({"a": 1, "b": [2], "c": "3"}) == ["a", "b", "c"]
    assert cache.get_many("a", "b", "nope", "c") == [1, [2], None, "3"]
    assert cache.get_dict("a", "c") == {"a": 1, "c": "3"}
    assert cache.delete_many("a", "nope", "c") == ["a", "c"]
    assert cache.inc("counter") == 1
    assert cache.inc("counter", 5) == 6
    assert cache.dec("counter", 2) == 4
    assert cache.get("counter") == 4
    cache.set("text", "x")
    with pytest.raises(ValueError, match="not an integer"):
        cache.inc("text")
    assert cache.clear() is True
    assert cache.get_many("b", "new", "counter") == [None, None, None]
    cache.close()


def test_async_api(backend: dict[str, Any]) -> None:
    app, cache = make_cache(backend)

    async def run() -> list[Any]:
        with app.app_context():
            return [
                await cache.aset("k", [1, 2]),
                await cache.aget("k"),
                await cache.aadd("k", 0),
                await cache.ahas("k"),
                await cache.adelete("k"),
                await cache.ahas("k"),
            ]

    assert thread_loop().run_until_complete(run()) == [True, [1, 2], False, True, True, False]
    cache.clear()
    cache.close()


def test_redis_clear_keeps_other_prefixes() -> None:
    url = services.redis_url()
    with services.redis_prefix(url) as (client, prefix):
        client.set(prefix + "unrelated", b"stays")
        _, cache = make_cache(
            {"CACHE_TYPE": "redis", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": prefix + "c:"}
        )
        cache.set_many({f"k{i}": i for i in range(1200)})  # more than one SCAN batch
        cache.clear()
        assert cache.get("k5") is None
        assert client.get(prefix + "unrelated") == b"stays"
        assert not list(client.scan_iter(match=prefix + "c:*"))
        cache.close()


def test_redis_timeouts_are_ttls() -> None:
    url = services.redis_url()
    with services.redis_prefix(url) as (client, prefix):
        _, cache = make_cache(
            {
                "CACHE_TYPE": "RedisCache",
                "CACHE_REDIS_URL": url,
                "CACHE_KEY_PREFIX": prefix,
                "CACHE_DEFAULT_TIMEOUT": 120,
            }
        )
        cache.set("short", 1, timeout=30)
        cache.set("default", "x")
        cache.set("forever", "x", timeout=0)
        cache.inc("hits")
        assert 0 < client.ttl(prefix + "short") <= 30
        assert 30 < client.ttl(prefix + "default") <= 120
        assert client.ttl(prefix + "forever") == -1
        assert 30 < client.ttl(prefix + "hits") <= 120  # a new counter expires too
        assert client.get(prefix + "hits") == b"1"  # stored as a number: INCRBY works
        cache.set("short", 1, timeout=-1)
        assert not cache.has("short")
        cache.close()


def test_memory_expiry(clock: Clock) -> None:
    mem = MemoryCache(default_timeout=60, clock=clock)
    mem.set("ten", 1, timeout=10)
    mem.set("default", 2)
    mem.set("forever", 3, timeout=0)
    clock.advance(9.5)
    assert mem.get("ten") == 1 and mem.has("ten")
    clock.advance(1)
    assert mem.get("ten") is None and not mem.has("ten")
    assert mem.add("ten", "again") is True  # an expired key counts as missing
    assert mem.get("default") == 2
    clock.advance(60)
    assert mem.get("default") is None
    clock.advance(10**9)
    assert mem.get("forever") == 3
    mem.set("forever", 3, timeout=-1)
    assert mem.get("forever") is None


def test_memory_lru_bound_and_copies() -> None:
    mem = MemoryCache(threshold=3)
    for key in "abc":
        mem.set(key, [key])
    assert mem.get("a") == ["a"]  # a is now the most recently used
    mem.set("d", ["d"])
    assert len(mem) == 3
    assert mem.get("b") is None  # the least recently used went
    assert mem.get_many("a", "c", "d") == [["a"], ["c"], ["d"]]
    got = mem.get("a")
    got.append("mutated")
    assert mem.get("a") == ["a"]  # stored serialized: callers never share the object


def test_memory_is_thread_safe() -> None:
    mem = MemoryCache()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(500):
            mem.inc("n")
            mem.set("k", "v")
            mem.get("k")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mem.get("n") == 4000


def test_null_cache_and_config() -> None:
    app, cache = make_cache({"CACHE_TYPE": "null"})
    assert isinstance(cache.cache, NullCache)
    cache.set("k", 1)
    assert cache.get("k") is None and not cache.has("k")
    app, cache = make_cache({})
    assert isinstance(cache.cache, MemoryCache)
    with pytest.raises(ValueError, match="CACHE_TYPE"):
        make_cache({"CACHE_TYPE": "memcached"})
    with pytest.raises(ValueError, match="CACHE_SERIALIZER"):
        make_cache({"CACHE_SERIALIZER": "marshal"})
    # Two caches on one app; a cache's own config wins over the app's.
    app = Erlen(__name__)
    app.config["CACHE_DEFAULT_TIMEOUT"] = 5
    small = Cache(app, config={"CACHE_THRESHOLD": 1})
    json_cache = Cache(config={"CACHE_SERIALIZER": "json"})
    json_cache.init_app(app)
    with app.app_context():
        assert small.cache.default_timeout == 5
        assert isinstance(json_cache.cache, MemoryCache)
        assert isinstance(json_cache.cache.serializer, JSONSerializer)
        assert small.cache is not json_cache.cache
    with pytest.raises(RuntimeError, match="No app"):
        json_cache.get("k")
    with Erlen(__name__).app_context(), pytest.raises(RuntimeError, match="init_app"):
        json_cache.get("k")


# -- cached views ------------------------------------------------------------------------------


def view_app(cache_app: tuple[Erlen, Cache]) -> tuple[Erlen, Cache, dict[str, int]]:
    app, cache = cache_app
    calls: dict[str, int] = {}
    skip = {"on": False}
    force = {"on": False}

    def count(name: str) -> int:
        calls[name] = calls.get(name, 0) + 1
        return calls[name]

    @app.route("/page", methods=["GET", "POST"])
    @cache.cached(timeout=30)
    def page() -> Any:
        n = count("page")
        return {"n": n, "args": request.args.to_dict()}, 200, {"X-Made": str(n)}

    @app.get("/async-page")
    @cache.cached(timeout=30)
    async def async_page() -> Any:
        n = count("async")
        return f"async {n}", {"X-Made": str(n)}

    @app.get("/missing")
    @cache.cached()
    def missing() -> Any:
        return f"nope {count('missing')}", 404

    @app.get("/cached-404")
    @cache.cached(response_filter=lambda r: r.status_code in (200, 404))
    def cached_404() -> Any:
        return f"gone {count('c404')}", 404

    @app.get("/unless")
    @cache.cached(unless=lambda: skip["on"], forced_update=lambda: force["on"])
    def unless() -> Any:
        return f"u {count('unless')}"

    @app.get("/cookie")
    @cache.cached()
    def cookie() -> Any:
        response = make_response(f"c {count('cookie')}")
        response.set_cookie("who", "me")
        return response

    @app.get("/stream")
    @cache.cached()
    def stream() -> Any:
        n = count("stream")
        return Response(iter([b"s ", str(n).encode()]))

    @app.get("/fixed")
    @cache.cached(key_prefix="fixed-key")
    def fixed() -> Any:
        return f"f {count('fixed')}"

    app.extensions["test_flags"] = (skip, force)
    return app, cache, calls


def test_cached_views(cache_app: tuple[Erlen, Cache], client: Any) -> None:
    app, cache, calls = view_app(cache_app)
    c = client(app)
    first = c.get("/page")
    again = c.get("/page")
    assert first.json == again.json == {"n": 1, "args": {}}
    assert again.headers["X-Made"] == "1" and again.headers["Content-Type"] == "application/json"
    assert again.headers["Content-Length"] == str(len(again.data))
    assert c.head("/page").status_code == 200 and calls["page"] == 1
    # Keyed by the query string; the order of its arguments does not matter.
    assert c.get("/page?a=1&b=2").json["n"] == 2
    assert c.get("/page?b=2&a=1").json["n"] == 2
    assert c.get("/page?a=1&b=3").json["n"] == 3
    # Only GET and HEAD use the cache.
    assert c.post("/page").json["n"] == 4
    assert c.get("/page").json["n"] == 1
    # Async views too.
    assert c.get("/async-page").data == c.get("/async-page").data == b"async 1"
    assert calls["async"] == 1
    # Invalidation by key: the argument-less entry is "view/" + path.
    assert cache.delete("view//page") is True
    assert c.get("/page").json["n"] == 5
    assert cache.delete("view//async-page") is True
    assert c.get("/async-page").data == b"async 2"
    assert c.get("/fixed").data == c.get("/fixed").data == b"f 1"
    assert cache.has("fixed-key")


def test_cached_views_store_data_not_responses(cache_app: tuple[Erlen, Cache]) -> None:
    app, cache, _ = view_app(cache_app)
    c = app.test_client()
    c.get("/page")
    with app.app_context():
        body, status, headers = cache.get("view//page")
    assert isinstance(body, bytes) and b'"n":1' in body.replace(b" ", b"")
    assert status == 200
    assert ("X-Made", "1") in [tuple(h) for h in headers]
    assert not any(k.lower() == "content-length" for k, _ in headers)


def test_what_is_not_cached(cache_app: tuple[Erlen, Cache], client: Any) -> None:
    app, _, _ = view_app(cache_app)
    c = client(app)
    assert c.get("/missing").data == b"nope 1"
    assert c.get("/missing").data == b"nope 2"  # only 200s by default
    assert c.get("/cached-404").data == c.get("/cached-404").data == b"gone 1"
    assert c.get("/cookie").data == b"c 1"
    assert c.get("/cookie").data == b"c 2"  # one visitor's cookie is never replayed to others
    assert c.get("/stream").data == b"s 1"
    assert c.get("/stream").data == b"s 2"
    skip, force = app.extensions["test_flags"]
    assert c.get("/unless").data == c.get("/unless").data == b"u 1"
    skip["on"] = True
    assert c.get("/unless").data == b"u 2"  # bypassed, and not stored
    skip["on"] = False
    assert c.get("/unless").data == b"u 1"
    force["on"] = True
    assert c.get("/unless").data == b"u 3"  # recomputed and stored
    force["on"] = False
    assert c.get("/unless").data == b"u 3"


def test_cached_view_expiry(clock: Clock, client: Any) -> None:
    app, cache = make_cache({"CACHE_OPTIONS": {"clock": clock}})
    _, _, calls = view_app((app, cache))
    c = client(app)
    assert c.get("/page").json["n"] == 1
    clock.advance(29)
    assert c.get("/page").json["n"] == 1
    clock.advance(2)
    assert c.get("/page").json["n"] == 2
    assert calls["page"] == 2


def test_redis_cached_view_has_ttl(client: Any) -> None:
    url = services.redis_url()
    with services.redis_prefix(url) as (redis_client, prefix):
        app, cache = make_cache(
            {"CACHE_TYPE": "redis", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": prefix}
        )
        view_app((app, cache))
        c = client(app)
        c.get("/page")
        c.get("/async-page")
        assert 0 < redis_client.ttl(prefix + "view//page") <= 30
        assert 0 < redis_client.ttl(prefix + "view//async-page") <= 30
        cache.close()


def test_backend_failure_serves_uncached(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app, cache = make_cache(
        {"CACHE_TYPE": "redis", "CACHE_REDIS_URL": dead, "CACHE_OPTIONS": {"retry": None}}
    )
    view_app((app, cache))
    c = client(app)
    assert c.get("/page").json["n"] == 1
    assert c.get("/async-page").data == b"async 1"
    assert c.get("/page").json["n"] == 2
    assert "Cache backend failed" in caplog.text
    cache.close()


# -- memoize -----------------------------------------------------------------------------------


def test_memoize(cache_app: tuple[Erlen, Cache]) -> None:
    app, cache = cache_app
    calls: list[tuple[Any, ...]] = []

    @cache.memoize(timeout=60)
    def add(a: int, b: int = 10, **extra: Any) -> int:
        calls.append((a, b, extra))
        return a + b

    @cache.memoize()
    def nothing(x: int) -> None:
        calls.append(("nothing", x))

    @cache.memoize(cache_none=True)
    def none_ok(x: int) -> None:
        calls.append(("none_ok", x))

    with app.app_context():
        assert add(1) == add(1, 10) == add(a=1) == add(b=10, a=1) == 11
        assert len(calls) == 1
        assert add(1, 2) == 3 and add(1, y=1, z=2) == add(1, z=2, y=1) == 11
        assert len(calls) == 3
        cache.delete_memoized(add, 1)
        assert add(1) == 11 and len(calls) == 4
        assert add(1, 2) == 3 and len(calls) == 4
        cache.delete_memoized(add)  # every stored result
        add(1)
        add(1, 2)
        assert len(calls) == 6
        nothing(1)
        nothing(1)
        none_ok(1)
        none_ok(1)
        assert calls.count(("nothing", 1)) == 2 and calls.count(("none_ok", 1)) == 1
        before = len(calls)
        assert add.uncached(1) == 11 and len(calls) == before + 1  # type: ignore[attr-defined]
        assert add.make_cache_key(1).startswith("memoize:")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="memoize"):
        cache.delete_memoized(len)


def test_memoize_async_and_unless(cache_app: tuple[Erlen, Cache]) -> None:
    app, cache = cache_app
    calls: list[str] = []
    skip = {"on": False}

    @cache.memoize(unless=lambda: skip["on"])
    async def fetch(name: str) -> dict[str, str]:
        calls.append(name)
        return {"name": name}

    async def run() -> None:
        with app.app_context():
            assert await fetch("a") == await fetch("a") == {"name": "a"}
            skip["on"] = True
            await fetch("a")
            skip["on"] = False
            cache.delete_memoized(fetch, "a")
            await fetch("a")
            await fetch("a")

    thread_loop().run_until_complete(run())
    assert calls == ["a", "a", "a"]


def test_memoize_expiry(clock: Clock) -> None:
    app, cache = make_cache({"CACHE_OPTIONS": {"clock": clock}})
    calls: list[int] = []

    @cache.memoize(timeout=5)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    with app.app_context():
        square(3)
        clock.advance(4)
        square(3)
        clock.advance(2)
        square(3)
    assert calls == [3, 3]


def test_memoize_invalidation_reaches_every_worker() -> None:
    """Two apps (as two worker processes) share Redis: deleting in one clears both."""
    url = services.redis_url()
    with services.redis_prefix(url) as (_client, prefix):
        config = {"CACHE_TYPE": "redis", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": prefix}
        workers = [make_cache(config) for _ in range(2)]
        calls: list[str] = []

        def price(item: str) -> int:
            calls.append(item)
            return len(calls)

        memoized = [cache.memoize()(price) for _, cache in workers]
        with workers[0][0].app_context():
            assert memoized[0]("tea") == 1
        with workers[1][0].app_context():
            assert memoized[1]("tea") == 1  # computed by the other worker
            workers[1][1].delete_memoized(memoized[1])
        with workers[0][0].app_context():
            assert memoized[0]("tea") == 2
        for _, cache in workers:
            cache.close()


# -- docs/caching.md runs as written ----------------------------------------------------------

DOC = Path(__file__).resolve().parents[3] / "docs" / "caching.md"


def doc_block(name: str) -> str:
    """Return the python block of docs/caching.md whose first line is ``# name``."""
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        if block.startswith(f"# {name}\n"):
            return str(block)
    raise LookupError(f"docs/caching.md has no block starting with '# {name}'")


def load_module(tmp_path: Path, name: str, source: str) -> Any:
    """Import ``source`` as a module from a file in ``tmp_path``."""
    module_name = f"docs_{name}_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["memory", "redis"])
def shop_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment for the docs' app: its own settings, or the real Redis under a prefix."""
    if request.param == "memory":
        yield {}
        return
    url = services.redis_url()
    with services.redis_prefix(url) as (_client, prefix):
        yield {"CACHE_TYPE": "redis", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": prefix}


def test_docs_shop_example(
    shop_env: dict[str, str], tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in shop_env.items():
        monkeypatch.setenv(f"ERLEN_{key}", json.dumps(value))
    shop = load_module(tmp_path, "shop", doc_block("shop.py"))
    c = client(shop.app)
    try:
        first = c.get("/products").json
        assert first == {"items": ["coffee", "tea"], "render": 1}
        assert c.get("/products").json == first
        by_price = c.get("/products?order=price").json
        assert by_price == {"items": ["tea", "coffee"], "render": 2}
        assert c.get("/products?order=price").json == by_price
        tea = c.get("/products/tea").json
        assert tea == {"item": "tea", "price": 3, "render": 3}
        assert c.get("/products/tea").json == tea
        assert c.get("/products/milk").status_code == 404
        assert c.get("/products/milk").status_code == 404
        assert shop.lookups == ["tea", "milk", "milk"]  # None is not memoized, 404 not cached
        assert c.post("/products/tea", data={"price": "5"}).status_code == 204
        assert c.get("/products/tea").json == {"item": "tea", "price": 5, "render": 4}
        assert shop.lookups[-1] == "tea"
        assert c.get("/products").json["render"] == 5
        stats = c.get("/stats").json
        assert stats == {"total": 9, "render": 6}
        assert c.get("/stats").json == stats
        assert c.get("/stats?fresh").json["render"] == 7
        assert c.get("/stats?fresh").json["render"] == 8
        assert isinstance(shop.cache.cache, RedisCache if shop_env else MemoryCache)
    finally:
        with shop.app.app_context():
            shop.cache.clear()
            shop.cache.close()


def test_docs_redis_production_settings(
    tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = services.redis_url()
    (tmp_path / "production.py").write_text(doc_block("production.py"), encoding="utf-8")
    monkeypatch.setenv("REDIS_URL", url)
    with services.redis_prefix(url) as (redis_client, prefix):
        app = Erlen(__name__, root_path=str(tmp_path))
        assert app.config.from_pyfile("production.py")
        assert app.config["SESSION_REDIS_URL"] == url
        app.config["CACHE_KEY_PREFIX"] = prefix  # this test's own keys
        cache = Cache(app)
        renders: list[int] = []

        @app.get("/")
        @cache.cached(timeout=60)
        async def index() -> Any:
            renders.append(1)
            return str(len(renders))

        c = client(app)
        assert c.get("/").data == c.get("/").data == b"1"
        assert 0 < redis_client.ttl(prefix + "view//") <= 60
        with app.app_context():
            backend = cache.cache
            assert isinstance(backend, RedisCache)
            assert backend.client.connection_pool.max_connections == 20
            cache.close()
