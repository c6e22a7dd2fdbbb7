"""Rate limiting (erlen.contrib.ratelimit), through both doors, in memory and in Redis."""

from __future__ import annotations

import fnmatch
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from erlen import Blueprint, Erlen, request
from erlen.contrib.ratelimit import (
    Limiter,
    MemoryStorage,
    RateLimit,
    RateLimitExceeded,
    RedisStorage,
    parse_limits,
    storage_from_uri,
)

T0 = 1_200_000.0  # the start of a minute, an hour and a day


class Clock:
    """A clock tests move by hand (no sleeping)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeRedis:
    """The redis-py calls RedisStorage makes, on a dict (used when no server is running)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.data: dict[str, int] = {}
        self.expires: dict[str, float] = {}
        self.lock = threading.Lock()

    def _alive(self, key: str) -> bool:
        if key in self.data and self.expires.get(key, float("inf")) <= self.clock():
            del self.data[key]
            self.expires.pop(key, None)
        return key in self.data

    def incrby(self, key: str, amount: int) -> int:
        with self.lock:
            self._alive(key)
            self.data[key] = self.data.get(key, 0) + amount
            return self.data[key]

    def expire(self, key: str, seconds: int) -> bool:
        self.expires[key] = self.clock() + seconds
        return True

    def get(self, key: str) -> bytes | None:
        return str(self.data[key]).encode() if self._alive(key) else None

    def delete(self, *keys: str) -> int:
        return sum(1 for k in keys if self.data.pop(k, None) is not None)

    def scan_iter(self, match: str = "*") -> list[str]:
        return [k for k in list(self.data) if fnmatch.fnmatchcase(k, match)]

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def incrby(self, key: str, amount: int) -> FakePipeline:
        self.calls.append(("incrby", (key, amount)))
        return self

    def expire(self, key: str, seconds: int) -> FakePipeline:
        self.calls.append(("expire", (key, seconds)))
        return self

    def execute(self) -> list[Any]:
        with self.redis.lock:  # MULTI/EXEC: nothing runs in between
            pass
        return [getattr(self.redis, name)(*args) for name, args in self.calls]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "fake-redis"])
def storage(request: pytest.FixtureRequest, clock: Clock) -> Any:
    if request.param == "memory":
        return MemoryStorage(clock=clock)
    return RedisStorage(FakeRedis(clock))


def make_app(limiter: Limiter) -> Erlen:
    app = Erlen(__name__)
    limiter.init_app(app)

    @app.route("/free")
    def free() -> str:
        return "free"

    @app.route("/login", methods=["GET", "POST"])
    @limiter.limit("3/minute")
    def login() -> str:
        return "login"

    @app.route("/async")
    @limiter.limit("2 per minute")
    async def async_view() -> str:
        return "async"

    @app.route("/exempt")
    @limiter.exempt
    def exempt() -> str:
        return "exempt"

    return app


def client_for(app: Erlen, protocol: str) -> Any:
    return app.test_client(asgi=(protocol == "asgi"))


# -- parsing ------------------------------------------------------------------------------------------


def test_parse_limits() -> None:
    assert parse_limits("5/minute") == [RateLimit(5, 60, "5 per 1 minute")]
    assert parse_limits("5/minute;100/hour") == [
        RateLimit(5, 60, "5 per 1 minute"),
        RateLimit(100, 3600, "100 per 1 hour"),
    ]
    assert parse_limits(["10 per 5 seconds", "1/DAY", " 2 / month ", "3 per years"]) == [
        RateLimit(10, 5, "10 per 5 second"),
        RateLimit(1, 86400, "1 per 1 day"),
        RateLimit(2, 30 * 86400, "2 per 1 month"),
        RateLimit(3, 365 * 86400, "3 per 1 year"),
    ]
    assert parse_limits("1/second, 2/minute")[1].period == 60
    assert str(parse_limits("7/hour")[0]) == "7 per 1 hour"
    for bad in ("", "5", "five/minute", "5/fortnight", "-1/minute", "5/0 minutes", "5//minute"):
        if bad:
            with pytest.raises(ValueError):
                parse_limits(bad)
    assert parse_limits("") == []


# -- fixed window -------------------------------------------------------------------------------------


def test_fixed_window(protocol: str, clock: Clock, storage: Any) -> None:
    app = make_app(Limiter(storage=storage, clock=clock))
    client = client_for(app, protocol)
    for remaining in (2, 1, 0):
        r = client.get("/login")
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["X-RateLimit-Remaining"] == str(remaining)
        assert r.headers["X-RateLimit-Reset"] == str(int(T0 + 60))
    clock.now += 15
    r = client.get("/login")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "45"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert "Rate limit exceeded: 3 per 1 minute." in r.text
    assert client.post("/login").status_code == 429  # limits count every method together
    assert client.get("/free").status_code == 200
    assert "X-RateLimit-Limit" not in client.get("/free").headers
    clock.now = T0 + 60  # the next window
    assert client.get("/login").status_code == 200


def test_async_view(protocol: str, clock: Clock, storage: Any) -> None:
    app = make_app(Limiter(storage=storage, clock=clock))
    client = client_for(app, protocol)
    assert [client.get("/async").status_code for _ in range(3)] == [200, 200, 429]


def test_clients_are_counted_apart(protocol: str, clock: Clock) -> None:
    app = make_app(Limiter(clock=clock))
    client = client_for(app, protocol)
    for _ in range(3):
        client.get("/login")
    assert client.get("/login").status_code == 429
    other = client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200


def test_refused_requests_do_not_count(protocol: str, clock: Clock) -> None:
    app = Erlen(__name__)
    limiter = Limiter(app, clock=clock)

    @app.route("/")
    @limiter.limit("2/second;3/minute")
    def index() -> str:
        return "ok"

    client = client_for(app, protocol)
    assert [client.get("/").status_code for _ in range(5)] == [200, 200, 429, 429, 429]
    clock.now += 1
    r = client.get("/")
    assert r.status_code == 200  # the refused hits did not use up the per-minute limit
    assert r.headers["X-RateLimit-Remaining"] == "0"  # the tighter of the two
    assert client.get("/").status_code == 429


# -- sliding window -------------------------------------------------------------------------------------


def test_sliding_window_smooths_the_boundary(protocol: str, clock: Clock, storage: Any) -> None:
    limiter = Limiter(storage=storage, clock=clock, strategy="sliding-window")
    app = make_app(limiter)
    client = client_for(app, protocol)
    clock.now = T0 + 50
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 200]
    clock.now = T0 + 61  # a fixed window would allow 3 more now
    r = client.get("/login")
    assert r.status_code == 429
    # 3 * (1 - 1/60) + 1 > 3 until the previous window weighs 2 or less: at T0 + 80.
    assert r.headers["Retry-After"] == "19"
    clock.now = T0 + 81
    r = client.get("/login")
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "0"
    clock.now = T0 + 180
    assert [client.get("/login").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_sliding_retry_in_next_window(clock: Clock) -> None:
    app = Erlen(__name__)
    limiter = Limiter(app, clock=clock, strategy="sliding-window")

    @app.route("/")
    @limiter.limit("2/minute")
    def index() -> str:
        return "ok"

    client = app.test_client()
    clock.now = T0 + 30
    client.get("/")
    client.get("/")
    r = client.get("/")
    # Two hits in this window: one more fits when they weigh 1, half-way through the next.
    assert r.headers["Retry-After"] == str(60 - 30 + 30)


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Limiter(Erlen(__name__), strategy="leaky-bucket")
    with pytest.raises(ValueError, match="Invalid rate limit"):
        Limiter(Erlen(__name__), default_limits="lots")


# -- where limits apply ------------------------------------------------------------------------------------


def test_default_and_application_limits(protocol: str, clock: Clock) -> None:
    limiter = Limiter(clock=clock, default_limits=["2/minute"], application_limits="5/minute")
    app = make_app(limiter)
    client = client_for(app, protocol)
    assert [client.get("/free").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/login").status_code == 200  # its own limit replaces the default
    assert client.get("/login").status_code == 200
    # The application limit is shared by all routes: 2 + 2 used, 1 left.
    assert client.get("/login").status_code == 200
    assert client.get("/login").status_code == 429
    assert client.get("/exempt").status_code == 200


def test_override_defaults_false(protocol: str, clock: Clock) -> None:
    app = Erlen(__name__)
    limiter = Limiter(app, clock=clock, default_limits="2/minute")

    @app.route("/both")
    @limiter.limit("5/minute", override_defaults=False)
    def both() -> str:
        return "ok"

    client = client_for(app, protocol)
    assert [client.get("/both").status_code for _ in range(3)] == [200, 200, 429]


def test_blueprints_shared_and_per_method(protocol: str, clock: Clock) -> None:
    app = Erlen(__name__)
    limiter = Limiter(app, clock=clock)
    api = Blueprint("api", __name__, url_prefix="/api")
    internal = Blueprint("internal", __name__, url_prefix="/internal")

    @api.route("/a")
    def a() -> str:
        return "a"

    @api.route("/b", methods=["GET", "POST"])
    @limiter.limit("1/minute", per_method=True)
    def b() -> str:
        return "b"

    @internal.route("/c")
    def c() -> str:
        return "c"

    search = limiter.shared_limit("2/minute", scope="search")

    @app.route("/s1")
    @search
    def s1() -> str:
        return "s1"

    @app.route("/s2")
    @search
    def s2() -> str:
        return "s2"

    limiter.limit("2/minute")(api)
    limiter.exempt(internal)
    limiter.limit("1/minute")(internal)
    app.register_blueprint(api)
    app.register_blueprint(internal)
    client = client_for(app, protocol)
    assert [client.get("/api/a").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/b").status_code == 200  # its own limit
    assert client.get("/api/b").status_code == 429
    assert client.post("/api/b").status_code == 200  # counted per method
    assert [client.get("/internal/c").status_code for _ in range(3)] == [200] * 3
    assert [client.get(p).status_code for p in ("/s1", "/s2", "/s1")] == [200, 200, 429]


def test_options(protocol: str, clock: Clock) -> None:
    app = Erlen(__name__)
    limiter = Limiter(app, clock=clock)
    trusted = {"on": False}

    @app.route("/costly", methods=["GET", "POST"])
    @limiter.limit("4/minute", cost=2, methods=["POST"], error_message="Slow down.")
    def costly() -> str:
        return "ok"

    @app.route("/keyed")
    @limiter.limit("1/minute", key_func=lambda: request.headers.get("X-Api-Key", "anon"))
    def keyed() -> str:
        return "ok"

    @app.route("/maybe")
    @limiter.limit(lambda: "1/minute", exempt_when=lambda: trusted["on"])
    def maybe() -> str:
        return "ok"

    client = client_for(app, protocol)
    assert [client.get("/costly").status_code for _ in range(5)] == [200] * 5
    assert [client.post("/costly").status_code for _ in range(3)] == [200, 200, 429]
    assert "Slow down." in client.post("/costly").text
    assert client.get("/keyed", headers={"X-Api-Key": "a"}).status_code == 200
    assert client.get("/keyed", headers={"X-Api-Key": "a"}).status_code == 429
    assert client.get("/keyed", headers={"X-Api-Key": "b"}).status_code == 200
    assert [client.get("/maybe").status_code for _ in range(2)] == [200, 429]
    trusted["on"] = True
    assert client.get("/maybe").status_code == 200
    assert client.options("/maybe").status_code == 200  # preflights are not counted


def test_config(protocol: str, clock: Clock) -> None:
    limiter = Limiter(clock=clock, default_limits="1/minute", headers_enabled=True)
    app = Erlen(__name__)
    app.config["RATELIMIT_HEADERS_ENABLED"] = False  # the app's config wins
    app.config["RATELIMIT_DEFAULT"] = "2/minute"
    limiter.init_app(app)
    app.route("/")(lambda: "ok")
    client = client_for(app, protocol)
    r = client.get("/")
    assert "X-RateLimit-Limit" not in r.headers
    assert client.get("/").status_code == 200
    r = client.get("/")
    assert r.status_code == 429 and r.headers["Retry-After"]
    app.config["RATELIMIT_ENABLED"] = False
    assert client.get("/").status_code == 200


def test_custom_429_handler_keeps_headers(protocol: str, clock: Clock) -> None:
    app = make_app(Limiter(clock=clock))

    @app.errorhandler(429)
    def too_many(e: RateLimitExceeded) -> Any:
        return {"error": "slow down", "limit": str(e.limit)}, 429

    client = client_for(app, protocol)
    for _ in range(3):
        client.get("/login")
    r = client.get("/login")
    assert r.json == {"error": "slow down", "limit": "3 per 1 minute"}
    assert r.headers["Retry-After"] == "60"
    assert r.headers["X-RateLimit-Limit"] == "3"


def test_storage_errors(protocol: str, clock: Clock) -> None:
    class Broken(MemoryStorage):
        def incr(self, key: str, expiry: int, amount: int = 1) -> int:
            raise ConnectionError("redis is down")

    app = make_app(Limiter(storage=Broken(), clock=clock))
    client = client_for(app, protocol)
    assert client.get("/login").status_code == 500
    assert client.get("/free").status_code == 200
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    assert client.get("/login").status_code == 200


def test_reset(clock: Clock) -> None:
    limiter = Limiter(clock=clock)
    app = make_app(limiter)
    client = app.test_client()
    for _ in range(3):
        client.get("/login")
    assert client.get("/login").status_code == 429
    with app.app_context():
        limiter.reset()
    assert client.get("/login").status_code == 200
    with pytest.raises(RuntimeError, match="app context"):
        limiter.reset()


def test_one_limiter_many_apps(clock: Clock) -> None:
    # The factory pattern: each app gets the store its config names.
    limiter = Limiter(clock=clock)
    first, second = make_app(limiter), Erlen(__name__)
    second.config["RATELIMIT_STORAGE_URI"] = "memory://"
    limiter.init_app(second)
    with first.app_context():
        store = limiter.storage
    with second.app_context():
        assert limiter.storage is not store and isinstance(limiter.storage, MemoryStorage)
    assert limiter.storage is None  # no app context
    for _ in range(3):
        first.test_client().get("/login")
    assert first.test_client().get("/login").status_code == 429
    shared = MemoryStorage()
    limiter.storage = shared
    assert limiter.storage is shared


# -- storage -------------------------------------------------------------------------------------------------


def test_memory_storage_is_thread_safe() -> None:
    store = MemoryStorage()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            store.incr("k", 60)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("k") == 4000


def test_memory_storage_is_bounded_and_expires(clock: Clock) -> None:
    store = MemoryStorage(max_keys=10, clock=clock)
    for i in range(100):
        store.incr(f"k{i}", 60)
    assert len(store) <= 10
    assert store.get("k99") == 1 and store.get("k0") == 0
    clock.now += 61
    assert store.get("k99") == 0
    assert store.incr("k99", 60) == 1  # an expired counter starts again
    store.clear("k99")
    assert store.get("k99") == 0
    store.incr("a/1", 60)
    store.incr("b/1", 60)
    store.reset("a/")
    assert store.get("a/1") == 0 and store.get("b/1") == 1


def test_redis_storage_with_a_fake(clock: Clock) -> None:
    fake = FakeRedis(clock)
    store = RedisStorage(fake)
    assert store.incr("rl/a", 60) == 1
    assert store.incr("rl/a", 60, 2) == 3
    assert fake.expires["rl/a"] == clock.now + 60
    assert store.get("rl/a") == 3 and store.get("missing") == 0
    store.incr("other", 60)
    store.reset("rl/")
    assert store.get("rl/a") == 0 and store.get("other") == 1
    store.clear("other")
    assert store.get("other") == 0


def test_storage_from_uri() -> None:
    assert isinstance(storage_from_uri(None), MemoryStorage)
    assert isinstance(storage_from_uri("memory://"), MemoryStorage)
    with pytest.raises(ValueError):
        storage_from_uri("memcached://localhost")
    pytest.importorskip("redis")
    assert isinstance(storage_from_uri("redis://127.0.0.1:1/0"), RedisStorage)  # lazy connect


REDIS_URL = os.environ.get("ERLEN_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="ERLEN_TEST_REDIS_URL unset")


@pytest.fixture
def redis_storage() -> Any:
    pytest.importorskip("redis")
    import redis

    client = redis.Redis.from_url(REDIS_URL)  # type: ignore[arg-type]
    yield RedisStorage(client)
    client.close()


@needs_redis
def test_real_redis_storage(redis_storage: RedisStorage) -> None:
    key = f"erlen-test/{uuid.uuid4()}"
    assert redis_storage.incr(key, 30) == 1
    assert redis_storage.incr(key, 30, 4) == 5
    assert 0 < redis_storage.client.ttl(key) <= 30
    assert redis_storage.get(key) == 5
    redis_storage.reset(key)
    assert redis_storage.get(key) == 0


@needs_redis
@pytest.mark.parametrize("strategy", ["fixed-window", "sliding-window"])
def test_real_redis_limiter(protocol: str, redis_storage: RedisStorage, strategy: str) -> None:
    prefix = f"erlen-test-{uuid.uuid4()}"
    clock = Clock()
    limiter = Limiter(storage=redis_storage, clock=clock, strategy=strategy, key_prefix=prefix)
    app = make_app(limiter)
    client = client_for(app, protocol)
    try:
        assert [client.get("/login").status_code for _ in range(4)] == [200, 200, 200, 429]
        # A second app (another worker) shares the counters.
        other = client_for(
            make_app(Limiter(storage=redis_storage, clock=clock, key_prefix=prefix)), protocol
        )
        assert other.get("/login").status_code == 429
    finally:
        redis_storage.reset(prefix + "/")
