"""Rate limiting: per-client limits on views, counted in memory or in Redis.

``limiter = Limiter(app, default_limits=["200/day"])`` and ``@limiter.limit("5/minute")``
on a view. A request over a limit ends in 429 Too Many Requests with ``Retry-After``;
responses to limited views carry ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``.

Two strategies, both with O(1) state per client and limit:

* ``"fixed-window"`` (default): a counter per clock-aligned window (each minute for
  ``/minute``). Simple and exact within a window; a client may send up to twice the limit
  across a window boundary.
* ``"sliding-window"``: the current window's counter plus the previous window's, weighted
  by how much of it still overlaps the last period. It smooths the boundary burst; the count
  is an estimate that assumes the previous window's requests were evenly spread.

The check runs in a ``before_request`` hook, the same for sync and async views through
the WSGI and the ASGI door. ``OPTIONS`` requests (CORS preflights) are not counted. For an
``async def`` view the hook's async twin runs instead (the core flattens a hook's
``__erlen_async__`` into the plans of async views): with a :class:`RedisStorage` it
awaits ``redis.asyncio``, so the check never blocks the event loop; sync views keep the
sync client on both doors.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from werkzeug.exceptions import TooManyRequests

from ..concurrency import run_in_threadpool
from ..globals import app_ctx, get_app_context, get_request_context, request_ctx

if TYPE_CHECKING:
    from ..app import Erlen
    from ..request import Request
    from ..response import Response
    from ._redis import AsyncRedisClients

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
logger = logging.getLogger("erlen.contrib.ratelimit")

# -- limits ---------------------------------------------------------------------------------------

_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_LIMIT_RE = re.compile(
    r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class RateLimit:
    """``amount`` requests per ``period`` seconds (``text`` is how it was written)."""

    amount: int
    period: int
    text: str

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=256)
def _parse_one(text: str) -> RateLimit:
    match = _LIMIT_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"Invalid rate limit {text!r}: write it as '5/minute', '100 per hour' or '10/5 seconds'."
        )
    amount, multiple, unit = match.groups()
    unit = unit.lower()
    count = int(multiple or 1)
    if count < 1:
        raise ValueError(f"Invalid rate limit {text!r}: the period must be at least one {unit}.")
    return RateLimit(int(amount), count * _UNITS[unit], f"{amount} per {count} {unit}")


def parse_limits(value: str | Iterable[str]) -> list[RateLimit]:
    """Parse ``"5/minute;100/hour"`` (or a list of such strings) into limits."""
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        for part in re.split(r"[;,]", item):
            if part.strip():
                out.append(_parse_one(part.strip()))
    return out


def remote_address() -> str:
    """Return the client's address, the default key (use ``ProxyFix`` behind a proxy)."""
    return request_ctx.request.remote_addr or "127.0.0.1"


#: Flask-Limiter's name for :func:`remote_address`.
get_remote_address = remote_address


# -- storage --------------------------------------------------------------------------------------


class Storage(Protocol):
    """Where counters live; ``incr`` must be atomic.

    A storage that does network I/O may also offer ``async def aincr`` and ``aget`` (same
    arguments): async views then await them instead of calling ``incr``/``get``.
    """

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to a counter that expires ``expiry`` seconds after its last change."""
        ...

    def get(self, key: str) -> int:
        """Return a counter (0 when missing)."""
        ...

    def clear(self, key: str) -> None:
        """Remove a counter."""

    def reset(self, prefix: str = "") -> None:
        """Remove every counter whose key starts with ``prefix``."""


class MemoryStorage:
    """Counters in this process: thread-safe, at most ``max_keys`` of them.

    Expired counters are dropped when the store is full; if it is still full the least
    recently used go first. Each worker process counts on its own: use :class:`RedisStorage`
    to share limits between workers.
    """

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._data: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to a counter (created at 0) and push its expiry back."""
        now = self.clock()
        with self._lock:
            data = self._data
            entry = data.get(key)
            if entry is None or entry[1] <= now:
                entry = data[key] = [0, now + expiry]
            data.move_to_end(key)
            if len(data) > self.max_keys:
                self._evict(now)  # never the entry just used: it is the newest
            entry[0] += amount
            entry[1] = now + expiry
            return int(entry[0])

    def _evict(self, now: float) -> None:
        data = self._data
        # PERF: a full sweep for expired counters at most once a second; in between the
        # least recently used go, so a flood of new clients costs O(1) per request.
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for key in [k for k, (_, exp) in data.items() if exp <= now]:
                del data[key]
        while len(data) > self.max_keys:
            data.popitem(last=False)

    def get(self, key: str) -> int:
        """Return a counter (0 when missing or expired)."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry[1] <= self.clock():
                return 0
            return int(entry[0])

    def clear(self, key: str) -> None:
        """Remove a counter."""
        with self._lock:
            self._data.pop(key, None)

    def reset(self, prefix: str = "") -> None:
        """Remove the counters whose key starts with ``prefix`` (all by default)."""
        with self._lock:
            for key in [k for k in self._data if k.startswith(prefix)]:
                del self._data[key]

    def __len__(self) -> int:
        return len(self._data)


class RedisStorage:
    """Counters in Redis (a redis-py client), shared by every worker and server.

    ``RedisStorage(redis.Redis(...))`` or ``RedisStorage.from_url("redis://localhost:6379/0")``.
    Each hit is one ``MULTI``/``INCRBY``/``EXPIRE``/``EXEC`` round trip, so counters are
    atomic and never outlive their window. Sync views call the sync client. Async views
    await :meth:`aincr`/:meth:`aget`: ``redis.asyncio`` clients made from ``url`` (one per
    event loop; :meth:`from_url` and ``RATELIMIT_STORAGE_URI`` give it), or, for a storage
    made from a client object alone, the sync client in the worker pool, off the loop.
    """

    def __init__(self, client: Any, *, url: str | None = None, **async_options: Any) -> None:
        self.client = client
        self.url = url
        self._async_clients: AsyncRedisClients | None = None
        if url is not None:
            from ._redis import AsyncRedisClients

            self._async_clients = AsyncRedisClients(url, **async_options)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStorage:
        """Connect with ``redis.Redis.from_url`` (needs the ``redis`` package)."""
        import redis

        return cls(redis.Redis.from_url(url, **kwargs), url=url, **kwargs)

    async def aincr(self, key: str, expiry: int, amount: int = 1) -> int:
        """:meth:`incr` without blocking the event loop."""
        clients = self._async_clients
        if clients is None:
            return await run_in_threadpool(self.incr, key, expiry, amount)
        async with clients.get().pipeline(transaction=True) as pipe:
            pipe.incrby(key, amount)
            pipe.expire(key, max(1, int(expiry)))
            count, _ = await pipe.execute()
        return int(count)

    async def aget(self, key: str) -> int:
        """:meth:`get` without blocking the event loop."""
        clients = self._async_clients
        if clients is None:
            return await run_in_threadpool(self.get, key)
        value = await clients.get().get(key)
        return int(value) if value else 0

    async def aclose(self) -> None:
        """Close the ``redis.asyncio`` clients (the ASGI server's shutdown does it too)."""
        if self._async_clients is not None:
            await self._async_clients.aclose()

    def close(self) -> None:
        """Close the sync client's pool and the ``redis.asyncio`` clients of idle loops."""
        self.client.close()
        if self._async_clients is not None:
            self._async_clients.close()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """``INCRBY`` and ``EXPIRE`` in one transaction."""
        pipe = self.client.pipeline(transaction=True)
        pipe.incrby(key, amount)
        pipe.expire(key, max(1, int(expiry)))
        count, _ = pipe.execute()
        return int(count)

    def get(self, key: str) -> int:
        """``GET`` a counter (0 when missing)."""
        value = self.client.get(key)
        return int(value) if value else 0

    def clear(self, key: str) -> None:
        """``DEL`` a counter."""
        self.client.delete(key)

    def reset(self, prefix: str = "") -> None:
        """Delete the keys starting with ``prefix`` (found with ``SCAN``)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        keys = list(self.client.scan_iter(match=pattern))
        if keys:
            self.client.delete(*keys)


def storage_from_uri(uri: str | None) -> Storage:
    """Return the storage for ``memory://`` (or None) and ``redis://``/``rediss://`` URIs."""
    if not uri or uri.startswith("memory://"):
        return MemoryStorage()
    if uri.startswith(("redis://", "rediss://", "unix://")):
        return RedisStorage.from_url(uri)
    raise ValueError(f"Unknown rate limit storage {uri!r}: use memory:// or redis://.")


# -- the limiter --------------------------------------------------------------------------------------


class RateLimitExceeded(TooManyRequests):
    """429 Too Many Requests for a limit; ``Retry-After`` is set from ``retry_after``."""

    def __init__(self, limit: RateLimit, retry_after: int, message: str | None = None) -> None:
        super().__init__(message or f"Rate limit exceeded: {limit}.", retry_after=retry_after)
        self.limit = limit


@dataclass
class _Check:
    limits: list[RateLimit] | Callable[[], str]
    scope: str
    key_func: Callable[[], str] | None = None
    per_method: bool = False
    methods: frozenset[str] | None = None
    exempt_when: Callable[[], bool] | None = None
    error_message: str | None = None
    cost: int = 1
    shared: bool = False


@dataclass
class _Outcome:
    allowed: bool
    limit: RateLimit
    remaining: int
    reset: float
    retry_after: int
    key: str
    expiry: int
    cost: int


#: Config keys of :class:`Limiter`, with their defaults (set with ``setdefault``).
RATELIMIT_CONFIG_DEFAULTS: dict[str, Any] = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_DEFAULT": None,
    "RATELIMIT_APPLICATION": None,
    "RATELIMIT_STRATEGY": "fixed-window",
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_KEY_PREFIX": "erlen-rl",
    "RATELIMIT_SWALLOW_ERRORS": False,
    "RATELIMIT_STORAGE_URI": None,
}

_STRATEGIES = ("fixed-window", "sliding-window")
_LIMITS_ATTR = "_erlen_limits"
_OVERRIDE_ATTR = "_erlen_limits_override"
_EXEMPT_ATTR = "_erlen_limit_exempt"


class Limiter:
    """Limit how often each client may call views (Flask-Limiter's API).

    ``key_func`` names the client (its address by default). ``default_limits`` apply to each
    route that has no limit of its own; ``application_limits`` are shared by all routes.
    ``storage`` is a :class:`MemoryStorage` (default) or a :class:`RedisStorage`. Every option
    may come from ``RATELIMIT_*`` config keys instead (the app's config wins over arguments).
    """

    def __init__(
        self,
        app: Erlen | None = None,
        key_func: Callable[[], str] = remote_address,
        default_limits: str | Iterable[str] | None = None,
        storage: Storage | None = None,
        *,
        application_limits: str | Iterable[str] | None = None,
        strategy: str | None = None,
        headers_enabled: bool | None = None,
        key_prefix: str | None = None,
        enabled: bool | None = None,
        swallow_errors: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_func = key_func
        self._storage = storage
        self._storages: weakref.WeakKeyDictionary[Any, Storage] = weakref.WeakKeyDictionary()
        self.clock = clock
        self._options = {
            "RATELIMIT_DEFAULT": _joined(default_limits),
            "RATELIMIT_APPLICATION": _joined(application_limits),
            "RATELIMIT_STRATEGY": strategy,
            "RATELIMIT_HEADERS_ENABLED": headers_enabled,
            "RATELIMIT_KEY_PREFIX": key_prefix,
            "RATELIMIT_ENABLED": enabled,
            "RATELIMIT_SWALLOW_ERRORS": swallow_errors,
        }
        self._blueprint_limits: dict[str, list[_Check]] = {}
        self._blueprint_override: dict[str, bool] = {}
        self._exempt_blueprints: set[str] = set()
        self._plans: weakref.WeakKeyDictionary[Any, dict[str | None, list[_Check]]] = (
            weakref.WeakKeyDictionary()
        )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Register the check and the headers hook on ``app``; fill in its config defaults."""
        config = app.config
        for key, default in RATELIMIT_CONFIG_DEFAULTS.items():
            given = self._options.get(key)
            config.setdefault(key, default if given is None else given)
        if config["RATELIMIT_STRATEGY"] not in _STRATEGIES:
            raise ValueError(
                f"Unknown rate limit strategy {config['RATELIMIT_STRATEGY']!r}: use one of {_STRATEGIES}."
            )
        for key in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"):
            if config[key]:
                parse_limits(config[key])  # fail at start-up, not on the first request
        storage = self._storage
        if storage is None:
            # Each app gets the store its own config names (one limiter may serve several).
            uri = config["RATELIMIT_STORAGE_URI"]
            storage = storage_from_uri(uri) if uri else MemoryStorage(clock=self.clock)
            self._storages[app] = storage
        aclose = getattr(storage, "aclose", None)
        if aclose is not None:
            app.after_serving(aclose)  # its redis.asyncio clients, on the server's loop
        app.extensions["limiter"] = self
        self._plans[app] = {}
        # The same check, for async views awaiting the store's async calls (see the module).
        check = functools.partial(self._before_request)
        check.__erlen_async__ = self._before_request_async  # type: ignore[attr-defined]
        app.before_request(check)
        app.after_request(self._after_request)

    # -- decorators ----------------------------------------------------------------------------------

    def limit(
        self,
        limit_value: str | Iterable[str] | Callable[[], str],
        *,
        key_func: Callable[[], str] | None = None,
        per_method: bool = False,
        methods: Iterable[str] | None = None,
        exempt_when: Callable[[], bool] | None = None,
        error_message: str | None = None,
        cost: int = 1,
        scope: str | None = None,
        override_defaults: bool = True,
    ) -> Callable[[Any], Any]:
        """Limit a view or a blueprint: ``@limiter.limit("5/minute;100/hour")``.

        ``limit_value`` may be a callable returning such a string, read on each request.
        ``scope`` shares the counter between every view limited with the same scope.
        ``override_defaults=False`` keeps the default limits on top of this one.
        """
        limits: list[RateLimit] | Callable[[], str]
        limits = limit_value if callable(limit_value) else parse_limits(limit_value)
        check = _Check(
            limits=limits,
            scope=scope or "",
            key_func=key_func,
            per_method=per_method,
            methods=None if methods is None else frozenset(m.upper() for m in methods),
            exempt_when=exempt_when,
            error_message=error_message,
            cost=cost,
            shared=scope is not None,
        )

        def decorator(target: Any) -> Any:
            from ..blueprints import Blueprint

            if isinstance(target, Blueprint):
                self._blueprint_limits.setdefault(target.name, []).append(check)
                self._blueprint_override[target.name] = override_defaults
                return target
            checks = list(getattr(target, _LIMITS_ATTR, ()))
            checks.append(check)
            setattr(target, _LIMITS_ATTR, checks)
            setattr(target, _OVERRIDE_ATTR, override_defaults)
            return target

        return decorator

    def shared_limit(
        self, limit_value: str | Iterable[str] | Callable[[], str], scope: str, **kwargs: Any
    ) -> Callable[[Any], Any]:
        """Limit several views with one counter named ``scope``."""
        return self.limit(limit_value, scope=scope, **kwargs)

    def exempt(self, target: Any) -> Any:
        """Exempt a view (decorator) or a blueprint from every limit."""
        from ..blueprints import Blueprint

        if isinstance(target, Blueprint):
            self._exempt_blueprints.add(target.name)
        else:
            setattr(target, _EXEMPT_ATTR, True)
        return target

    @property
    def storage(self) -> Storage | None:
        """The store of the current app (or the one given to the constructor)."""
        if self._storage is not None:
            return self._storage
        ctx = get_app_context()
        if ctx is not None:
            return self._storages.get(ctx.app)
        return None

    @storage.setter
    def storage(self, value: Storage | None) -> None:
        self._storage = value

    def reset(self) -> None:
        """Forget the current app's counters (in tests, say); needs an app context."""
        ctx = get_app_context()
        if ctx is None:
            raise RuntimeError("Limiter.reset() needs an app context: with app.app_context(): ...")
        storage = self.storage
        if storage is not None:
            prefix = ctx.app.config.get("RATELIMIT_KEY_PREFIX", "erlen-rl")
            storage.reset(prefix + "/")

    # -- per request --------------------------------------------------------------------------------

    def _checks_for(self, app: Erlen, request: Request) -> list[_Check]:
        plans = self._plans.setdefault(app, {})
        endpoint = request.endpoint
        checks = plans.get(endpoint)
        if checks is None:
            checks = plans[endpoint] = self._compile(app, request)
        return checks

    def _compile(self, app: Erlen, request: Request) -> list[_Check]:
        """Gather the checks that apply to an endpoint, in order."""
        endpoint = request.endpoint
        view = app.view_functions.get(endpoint) if endpoint is not None else None
        blueprints = request.blueprints
        if getattr(view, _EXEMPT_ATTR, False) or any(
            bp in self._exempt_blueprints for bp in blueprints
        ):
            return []
        config = app.config
        scope = endpoint or request.path
        checks: list[_Check] = []
        if config["RATELIMIT_APPLICATION"]:
            checks.append(
                _Check(parse_limits(config["RATELIMIT_APPLICATION"]), "global", shared=True)
            )
        own = [_scoped(c, scope) for c in getattr(view, _LIMITS_ATTR, ())]
        override = getattr(view, _OVERRIDE_ATTR, True)
        for bp in blueprints:
            if not own and bp in self._blueprint_limits:
                own = [_scoped(c, scope) for c in self._blueprint_limits[bp]]
                override = self._blueprint_override[bp]
        checks.extend(own)
        if (not own or not override) and config["RATELIMIT_DEFAULT"]:
            checks.append(_Check(parse_limits(config["RATELIMIT_DEFAULT"]), scope))
        return checks

    def _pending_checks(self) -> tuple[Erlen, Request, list[_Check]] | None:
        """The app, request and checks of the current request (None: nothing to check)."""
        app = app_ctx.app
        if not app.config["RATELIMIT_ENABLED"]:
            return None
        request = request_ctx.request
        if request.method == "OPTIONS":
            return None
        checks = self._checks_for(app, request)
        if not checks:
            return None
        return app, request, checks

    def _before_request(self) -> None:
        pending = self._pending_checks()
        if pending is None:
            return
        app, request, checks = pending
        storage = self._storage if self._storage is not None else self._storages[app]
        try:
            _drive_sync(self._check_steps(app, request, checks), storage)
        except RateLimitExceeded:
            raise
        except Exception:
            if not app.config["RATELIMIT_SWALLOW_ERRORS"]:
                raise
            logger.exception("Rate limit storage failed; the request is let through.")

    async def _before_request_async(self) -> None:
        """:meth:`_before_request` for async views: the store's async calls are awaited."""
        pending = self._pending_checks()
        if pending is None:
            return
        app, request, checks = pending
        storage = self._storage if self._storage is not None else self._storages[app]
        try:
            steps = self._check_steps(app, request, checks)
            if hasattr(storage, "aincr"):
                await _drive_async(steps, storage)
            else:
                _drive_sync(steps, storage)  # in memory: nothing to wait for
        except RateLimitExceeded:
            raise
        except Exception:
            if not app.config["RATELIMIT_SWALLOW_ERRORS"]:
                raise
            logger.exception("Rate limit storage failed; the request is let through.")

    def _check_steps(
        self, app: Erlen, request: Request, checks: list[_Check]
    ) -> _StorageSteps[None]:
        """Count the request against each limit (written once: see :func:`_drive_sync`)."""
        config = app.config
        prefix = config["RATELIMIT_KEY_PREFIX"]
        sliding = config["RATELIMIT_STRATEGY"] == "sliding-window"
        now = self.clock()
        passed: list[_Outcome] = []
        tightest: _Outcome | None = None
        for check in checks:
            if check.methods is not None and request.method not in check.methods:
                continue
            if check.exempt_when is not None and check.exempt_when():
                continue
            limits = (
                check.limits if isinstance(check.limits, list) else parse_limits(check.limits())
            )
            client = (check.key_func or self.key_func)()
            scope = f"{check.scope}:{request.method}" if check.per_method else check.scope
            for limit in limits:
                base = f"{prefix}/{scope}/{client}/{limit.amount}/{limit.period}"
                outcome = yield from _hit(base, limit, check.cost, now, sliding)
                if not outcome.allowed:
                    for done in passed:  # the request was refused: it counts for no limit
                        yield ("incr", (done.key, done.expiry, -done.cost))
                    _store_outcome(outcome)
                    raise RateLimitExceeded(limit, outcome.retry_after, check.error_message)
                passed.append(outcome)
                if tightest is None or outcome.remaining < tightest.remaining:
                    tightest = outcome
        if tightest is not None:
            _store_outcome(tightest)

    def _after_request(self, response: Response) -> Response:
        ctx = get_app_context()
        if ctx is None or not ctx.app.config["RATELIMIT_HEADERS_ENABLED"]:
            return response
        info = _request_info(create=False)
        outcome: _Outcome | None = info.get("rate_limit") if info is not None else None
        if outcome is None:
            return response
        headers = response.headers
        headers["X-RateLimit-Limit"] = str(outcome.limit.amount)
        headers["X-RateLimit-Remaining"] = str(outcome.remaining)
        headers["X-RateLimit-Reset"] = str(math.ceil(outcome.reset))
        if response.status_code == 429 and "Retry-After" not in headers:
            headers["Retry-After"] = str(outcome.retry_after)
        return response


def _joined(value: str | Iterable[str] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ";".join(value)


def _scoped(check: _Check, scope: str) -> _Check:
    if check.shared:
        return check
    return _Check(
        check.limits,
        scope,
        check.key_func,
        check.per_method,
        check.methods,
        check.exempt_when,
        check.error_message,
        check.cost,
    )


def _request_info(create: bool = True) -> dict[str, Any] | None:
    req_ctx = get_request_context()
    if req_ctx is None:
        return None
    g = app_ctx.g
    pair = g.__dict__.get("_erlen_ratelimit")
    if pair is not None and pair[0] is req_ctx:
        return pair[1]  # type: ignore[no-any-return]
    if not create:
        return None
    info: dict[str, Any] = {}
    setattr(g, "_erlen_ratelimit", (req_ctx, info))
    return info


def _store_outcome(outcome: _Outcome) -> None:
    info = _request_info()
    if info is not None:
        info["rate_limit"] = outcome


#: Storage calls written once for sync and async drivers: the generator yields
#: ``(method, args)`` ("incr" or "get") and is sent the call's result.
_StorageSteps = Generator[tuple[str, tuple[Any, ...]], int, T]


def _drive_sync(steps: _StorageSteps[T], storage: Any) -> T:
    """Run storage steps with the store's sync methods."""
    try:
        name, args = next(steps)
        while True:
            name, args = steps.send(getattr(storage, name)(*args))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _drive_async(steps: _StorageSteps[T], storage: Any) -> T:
    """Run storage steps with the store's async methods (``aincr``, ``aget``)."""
    try:
        name, args = next(steps)
        while True:
            name, args = steps.send(await getattr(storage, "a" + name)(*args))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _hit(
    base: str, limit: RateLimit, cost: int, now: float, sliding: bool
) -> _StorageSteps[_Outcome]:
    """Count one request against ``limit``; undo the count when it is refused."""
    period = limit.period
    index = int(now // period)
    start = index * period
    reset = start + period
    key = f"{base}/{index}"
    if not sliding:
        count = yield ("incr", (key, period, cost))
        if count > limit.amount:
            yield ("incr", (key, period, -cost))
            retry = max(1, math.ceil(reset - now))
            return _Outcome(False, limit, 0, reset, retry, key, period, cost)
        return _Outcome(True, limit, limit.amount - count, reset, 0, key, period, cost)
    expiry = 2 * period
    previous = yield ("get", (f"{base}/{index - 1}",))
    weight = 1.0 - (now - start) / period
    count = yield ("incr", (key, expiry, cost))
    used = previous * weight + count
    if used > limit.amount:
        yield ("incr", (key, expiry, -cost))
        retry = _sliding_retry(previous, count - cost, limit.amount, cost, now, start, period)
        return _Outcome(False, limit, 0, reset, retry, key, expiry, cost)
    remaining = max(0, math.floor(limit.amount - used))
    return _Outcome(True, limit, remaining, reset, 0, key, expiry, cost)


def _sliding_retry(
    previous: int, current: int, amount: int, cost: int, now: float, start: float, period: int
) -> int:
    """Return the seconds until ``cost`` more requests fit, if no other request comes."""
    room = amount - current - cost
    if previous > 0 and room >= 0:
        # Within this window, the previous window's weight falls until the request fits.
        fraction = 1.0 - room / previous
        return max(1, math.ceil(start + fraction * period - now))
    if cost > amount:
        return period
    # In the next window, this window's count becomes the weighted "previous" one.
    fraction = 1.0 - (amount - cost) / current if current > 0 else 0.0
    return max(1, math.ceil(start + period + max(0.0, fraction) * period - now))


__all__ = [
    "RATELIMIT_CONFIG_DEFAULTS",
    "Limiter",
    "MemoryStorage",
    "RateLimit",
    "RateLimitExceeded",
    "RedisStorage",
    "Storage",
    "get_remote_address",
    "parse_limits",
    "remote_address",
    "storage_from_uri",
]
