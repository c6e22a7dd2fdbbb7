"""Caching: ``cache.cached`` for views, ``cache.memoize`` for functions, and a key-value API.

``cache = Cache(app)`` picks a backend from ``CACHE_TYPE``: ``"simple"`` (the
default; an in-process, thread-safe LRU dict with expiry), ``"redis"`` (shared by
every worker and server; needs ``redis``), or ``"null"`` (caches nothing). The API
mirrors Flask-Caching: ``get/set/add/delete/clear/get_many/set_many/delete_many/
has/inc/dec``, plus the same with an ``a`` in front (``await cache.aget(key)``, as
Django names them) for async code.

In async code use the ``a`` methods: with Redis they go through ``redis.asyncio`` (one
client per event loop, closed when the ASGI server shuts down), so the loop keeps
serving other requests during the round trip. ``@cache.cached`` and ``@cache.memoize``
on ``async def`` functions do so by themselves. The sync methods still work in async
code but block the loop for the round trip.

Values are serialized with pickle by default (any picklable object; only let
trusted processes write to a shared cache) or with Erlen's tagged JSON
(``CACHE_SERIALIZER = "json"``: dicts, lists, str, numbers, bytes, tuples,
datetimes, UUIDs, Markup). Integers are stored as plain numbers so that ``inc``
and ``dec`` are atomic in Redis.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import pickle
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import urlencode

from ..concurrency import run_in_threadpool
from ..globals import app_ctx, get_app_context, request_ctx

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ..app import Erlen
    from ..response import Response

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("erlen.contrib.caching")

#: ``timeout=0`` stores a value with no expiry.
NO_EXPIRY = 0


# -- serializers --------------------------------------------------------------------------------


class Serializer(Protocol):
    """Turn cached values into bytes and back."""

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` as bytes."""
        ...

    def loads(self, data: bytes) -> Any:
        """Return the value ``data`` stands for."""
        ...


class PickleSerializer:
    """Serialize any picklable value (read only what trusted processes wrote)."""

    def dumps(self, value: Any) -> bytes:
        """Pickle ``value``."""
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        """Unpickle ``data``."""
        return pickle.loads(data)


class JSONSerializer:
    """Serialize with Erlen's tagged JSON (the session format): no code runs on load."""

    def __init__(self) -> None:
        from ..json.tag import TaggedJSONSerializer

        self._tagged = TaggedJSONSerializer()

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` as tagged JSON."""
        return self._tagged.dumps(value).encode()

    def loads(self, data: bytes) -> Any:
        """Parse tagged JSON."""
        return self._tagged.loads(data)


def make_serializer(name: str | Serializer) -> Serializer:
    """Return the serializer ``CACHE_SERIALIZER`` names (``"pickle"`` or ``"json"``)."""
    if not isinstance(name, str):
        return name
    if name == "pickle":
        return PickleSerializer()
    if name == "json":
        return JSONSerializer()
    raise ValueError(f"Unknown CACHE_SERIALIZER {name!r}; use 'pickle' or 'json'.")


# -- backends -----------------------------------------------------------------------------------


class BaseCache:
    """The backend interface; subclasses store the values.

    ``timeout`` is in seconds: None means the default timeout, 0 means no expiry, and
    a negative timeout removes the key. The async methods call the sync ones unless a
    backend has real async I/O.
    """

    def __init__(self, default_timeout: int = 300) -> None:
        self.default_timeout = default_timeout

    def _timeout(self, timeout: int | None) -> int:
        return self.default_timeout if timeout is None else int(timeout)

    def get(self, key: str) -> Any:
        """Return the value for ``key``, or None when it is missing or expired."""
        return None

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` under ``key``."""
        return True

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` only if ``key`` is missing; tell whether it was stored."""
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; tell whether it existed."""
        return False

    def has(self, key: str) -> bool:
        """Tell whether ``key`` holds an unexpired value."""
        return False

    def clear(self) -> bool:
        """Remove every key of this cache."""
        return True

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values for ``keys`` (None for each missing one)."""
        return [self.get(key) for key in keys]

    def set_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """Store several values; return the keys that were stored."""
        return [key for key, value in mapping.items() if self.set(key, value, timeout)]

    def delete_many(self, *keys: str) -> list[str]:
        """Remove several keys; return those that existed."""
        return [key for key in keys if self.delete(key)]

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to an integer (a missing key counts as 0); return the new value."""
        return None

    def dec(self, key: str, delta: int = 1) -> int | None:
        """Subtract ``delta`` from an integer; return the new value."""
        return self.inc(key, -delta)

    async def aget(self, key: str) -> Any:
        """Async :meth:`get`."""
        return self.get(key)

    async def aset(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Async :meth:`set`."""
        return self.set(key, value, timeout)

    async def aadd(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Async :meth:`add`."""
        return self.add(key, value, timeout)

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        return self.delete(key)

    async def ahas(self, key: str) -> bool:
        """Async :meth:`has`."""
        return self.has(key)

    async def aclear(self) -> bool:
        """Async :meth:`clear`."""
        return self.clear()

    async def aget_many(self, *keys: str) -> list[Any]:
        """Async :meth:`get_many`."""
        return self.get_many(*keys)

    async def aset_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """Async :meth:`set_many`."""
        return self.set_many(mapping, timeout)

    async def adelete_many(self, *keys: str) -> list[str]:
        """Async :meth:`delete_many`."""
        return self.delete_many(*keys)

    async def ainc(self, key: str, delta: int = 1) -> int | None:
        """Async :meth:`inc`."""
        return self.inc(key, delta)

    async def adec(self, key: str, delta: int = 1) -> int | None:
        """Async :meth:`dec`."""
        return await self.ainc(key, -delta)

    def close(self) -> None:
        """Release connections (nothing to do for in-process backends)."""

    async def aclose(self) -> None:
        """Release connections from async code (the ASGI server's shutdown calls it)."""
        self.close()


class NullCache(BaseCache):
    """Cache nothing: every read misses (for tests and for turning caching off)."""

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store nothing; report success as a fresh key would."""
        return True


class MemoryCache(BaseCache):
    """An in-process cache: a thread-safe LRU dict of at most ``threshold`` keys.

    Each worker process has its own; use Redis to share a cache between workers.
    Values are stored serialized, so callers never share mutable objects with the
    cache. ``clock`` returns seconds (``time.monotonic``); tests pass a fake one.
    """

    def __init__(
        self,
        default_timeout: int = 300,
        threshold: int = 500,
        serializer: str | Serializer = "pickle",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(default_timeout)
        self.threshold = threshold
        self.serializer = make_serializer(serializer)
        self.clock = clock
        self._items: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _expires(self, timeout: int | None) -> float | None:
        t = self._timeout(timeout)
        return None if t == NO_EXPIRY else self.clock() + t

    def _live(self, key: str) -> bytes | None:
        """Return the stored bytes for ``key``, dropping it when expired (lock held)."""
        item = self._items.get(key)
        if item is None:
            return None
        expires, data = item
        if expires is not None and expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return data

    def _store(self, key: str, data: bytes, timeout: int | None) -> None:
        """Store bytes (lock held), evicting the least recently used keys past the limit."""
        if timeout is not None and timeout < 0:
            self._items.pop(key, None)
            return
        self._items[key] = (self._expires(timeout), data)
        self._items.move_to_end(key)
        while len(self._items) > self.threshold:
            self._items.popitem(last=False)

    def get(self, key: str) -> Any:
        """Return the value for ``key``, or None."""
        with self._lock:
            data = self._live(key)
        return None if data is None else self.serializer.loads(data)

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` under ``key``."""
        data = self.serializer.dumps(value)
        with self._lock:
            self._store(key, data, timeout)
        return True

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` unless ``key`` holds a value already."""
        data = self.serializer.dumps(value)
        with self._lock:
            if self._live(key) is not None:
                return False
            self._store(key, data, timeout)
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``."""
        with self._lock:
            existed = self._live(key) is not None
            self._items.pop(key, None)
        return existed

    def has(self, key: str) -> bool:
        """Tell whether ``key`` holds an unexpired value."""
        with self._lock:
            return self._live(key) is not None

    def clear(self) -> bool:
        """Remove every key."""
        with self._lock:
            self._items.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` atomically; a missing key starts at 0 with the default timeout."""
        with self._lock:
            data = self._live(key)
            if data is None:
                value, expires = delta, self._expires(None)
            else:
                current = self.serializer.loads(data)
                if not isinstance(current, int) or isinstance(current, bool):
                    raise ValueError(f"The value of {key!r} is not an integer.")
                value, expires = current + delta, self._items[key][0]
            self._items[key] = (expires, self.serializer.dumps(value))
            return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


#: Cached values that are not integers start with this byte in Redis.
_SERIALIZED = b"~"


class RedisCache(BaseCache):
    """A cache in Redis, shared by every worker process and server.

    Keys get ``key_prefix``; :meth:`clear` deletes only keys with the prefix (it
    flushes the whole database when the prefix is empty). The async methods use
    ``redis.asyncio`` with one client per event loop, made from ``url``; a cache made
    from a ``client`` alone runs them on the sync client in the worker pool (off the loop).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        default_timeout: int = 300,
        key_prefix: str = "",
        serializer: str | Serializer = "pickle",
        **client_options: Any,
    ) -> None:
        super().__init__(default_timeout)
        import redis

        from ._redis import AsyncRedisClients

        if client is None and url is None:
            raise ValueError("RedisCache needs a URL or a client.")
        self.url = url
        self.key_prefix = key_prefix
        self.serializer = make_serializer(serializer)
        self._client_options = client_options
        #: The sync client (thread-safe, with a connection pool).
        self.client: redis.Redis = client or redis.Redis.from_url(cast(str, url), **client_options)
        self._async_clients = None if url is None else AsyncRedisClients(url, **client_options)

    def _async_client(self) -> redis.asyncio.Redis:
        assert self._async_clients is not None
        return self._async_clients.get()

    def _k(self, key: str) -> str:
        return self.key_prefix + key

    def _dump(self, value: Any) -> bytes:
        if type(value) is int:
            return str(value).encode()
        return _SERIALIZED + self.serializer.dumps(value)

    def _load(self, data: bytes | str | None) -> Any:
        if data is None:
            return None
        if isinstance(data, str):  # pragma: no cover - refused in __init__
            data = data.encode()
        if data[:1] == _SERIALIZED:
            return self.serializer.loads(data[1:])
        return int(data)

    def _set_args(self, timeout: int | None) -> dict[str, Any]:
        t = self._timeout(timeout)
        return {} if t == NO_EXPIRY else {"ex": t}

    def get(self, key: str) -> Any:
        """Return the value for ``key``, or None."""
        return self._load(self.client.get(self._k(key)))

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` under ``key``."""
        if timeout is not None and timeout < 0:
            self.client.delete(self._k(key))
            return True
        return bool(self.client.set(self._k(key), self._dump(value), **self._set_args(timeout)))

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` unless ``key`` exists (``SET NX``)."""
        args = self._set_args(timeout)
        return bool(self.client.set(self._k(key), self._dump(value), nx=True, **args))

    def delete(self, key: str) -> bool:
        """Remove ``key``."""
        return bool(self.client.delete(self._k(key)))

    def has(self, key: str) -> bool:
        """Tell whether ``key`` exists."""
        return bool(self.client.exists(self._k(key)))

    def clear(self) -> bool:
        """Remove this cache's keys (``SCAN`` by prefix; ``FLUSHDB`` without a prefix)."""
        if not self.key_prefix:
            return bool(self.client.flushdb())
        batch: list[bytes] = []
        for name in self.client.scan_iter(match=_glob_escape(self.key_prefix) + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                self.client.delete(*batch)
                batch = []
        if batch:
            self.client.delete(*batch)
        return True

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values for ``keys`` in one round trip (``MGET``)."""
        if not keys:
            return []
        return [self._load(v) for v in self.client.mget([self._k(k) for k in keys])]

    def set_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """Store several values in one round trip."""
        args = self._set_args(timeout)
        pipe = self.client.pipeline(transaction=False)
        for key, value in mapping.items():
            pipe.set(self._k(key), self._dump(value), **args)
        results = pipe.execute()
        return [key for key, ok in zip(mapping, results, strict=True) if ok]

    def delete_many(self, *keys: str) -> list[str]:
        """Remove several keys in one round trip; return those that existed."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(self._k(key))
        return [key for key, n in zip(keys, pipe.execute(), strict=True) if n]

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` atomically (``INCRBY``); a new key gets the default timeout."""
        import redis

        name = self._k(key)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(name, b"0", nx=True, **self._set_args(None))
        pipe.incrby(name, delta)
        try:
            _, value = pipe.execute()
        except redis.ResponseError as e:
            raise ValueError(f"The value of {key!r} is not an integer.") from e
        return int(value)

    async def aget(self, key: str) -> Any:
        """Return the value for ``key`` without blocking the loop."""
        if self._async_clients is None:
            return await _in_thread(self.get, key)
        return self._load(await self._async_client().get(self._k(key)))

    async def aset(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` without blocking the loop."""
        if self._async_clients is None:
            return bool(await _in_thread(self.set, key, value, timeout))
        client = self._async_client()
        if timeout is not None and timeout < 0:
            await client.delete(self._k(key))
            return True
        return bool(await client.set(self._k(key), self._dump(value), **self._set_args(timeout)))

    async def aadd(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` unless ``key`` exists, without blocking the loop."""
        if self._async_clients is None:
            return bool(await _in_thread(self.add, key, value, timeout))
        args = self._set_args(timeout)
        return bool(
            await self._async_client().set(self._k(key), self._dump(value), nx=True, **args)
        )

    async def adelete(self, key: str) -> bool:
        """Remove ``key`` without blocking the loop."""
        if self._async_clients is None:
            return bool(await _in_thread(self.delete, key))
        return bool(await self._async_client().delete(self._k(key)))

    async def ahas(self, key: str) -> bool:
        """Tell whether ``key`` exists, without blocking the loop."""
        if self._async_clients is None:
            return bool(await _in_thread(self.has, key))
        return bool(await self._async_client().exists(self._k(key)))

    async def aclear(self) -> bool:
        """:meth:`clear` without blocking the loop."""
        if self._async_clients is None or not self.key_prefix:
            return bool(await _in_thread(self.clear))
        client = self._async_client()
        batch: list[bytes] = []
        async for name in client.scan_iter(match=_glob_escape(self.key_prefix) + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                await client.delete(*batch)
                batch = []
        if batch:
            await client.delete(*batch)
        return True

    async def aget_many(self, *keys: str) -> list[Any]:
        """:meth:`get_many` without blocking the loop (one ``MGET``)."""
        if self._async_clients is None or not keys:
            return list(await _in_thread(self.get_many, *keys)) if keys else []
        values = await self._async_client().mget([self._k(k) for k in keys])
        return [self._load(v) for v in values]

    async def aset_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """:meth:`set_many` without blocking the loop (one round trip)."""
        if self._async_clients is None:
            return list(await _in_thread(self.set_many, mapping, timeout))
        args = self._set_args(timeout)
        async with self._async_client().pipeline(transaction=False) as pipe:
            for key, value in mapping.items():
                pipe.set(self._k(key), self._dump(value), **args)
            results = await pipe.execute()
        return [key for key, ok in zip(mapping, results, strict=True) if ok]

    async def adelete_many(self, *keys: str) -> list[str]:
        """:meth:`delete_many` without blocking the loop (one round trip)."""
        if not keys:
            return []
        if self._async_clients is None:
            return list(await _in_thread(self.delete_many, *keys))
        async with self._async_client().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(self._k(key))
            results = await pipe.execute()
        return [key for key, n in zip(keys, results, strict=True) if n]

    async def ainc(self, key: str, delta: int = 1) -> int | None:
        """:meth:`inc` without blocking the loop."""
        if self._async_clients is None:
            return await _in_thread(self.inc, key, delta)  # type: ignore[no-any-return]
        import redis

        name = self._k(key)
        async with self._async_client().pipeline(transaction=True) as pipe:
            pipe.set(name, b"0", nx=True, **self._set_args(None))
            pipe.incrby(name, delta)
            try:
                _, value = await pipe.execute()
            except redis.ResponseError as e:
                raise ValueError(f"The value of {key!r} is not an integer.") from e
        return int(value)

    def close(self) -> None:
        """Close the connection pools (sync, and async ones whose loop is idle)."""
        self.client.close()
        if self._async_clients is not None:
            self._async_clients.close()

    async def aclose(self) -> None:
        """Close the running loop's ``redis.asyncio`` client now, and the other pools."""
        if self._async_clients is not None:
            await self._async_clients.aclose()
        self.client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(func, *args)


#: The ``CACHE_TYPE`` names, Flask-Caching's class names included.
_BACKENDS = {
    "simple": "simple",
    "simplecache": "simple",
    "memory": "simple",
    "memorycache": "simple",
    "redis": "redis",
    "rediscache": "redis",
    "null": "null",
    "nullcache": "null",
}


def _make_backend(config: Mapping[str, Any]) -> BaseCache:
    kind = config.get("CACHE_TYPE") or "simple"
    if isinstance(kind, BaseCache):
        return kind
    if callable(kind):
        return cast(BaseCache, kind(config))
    name = _BACKENDS.get(str(kind).lower().rpartition(".")[2])
    if name is None:
        raise ValueError(f"Unknown CACHE_TYPE {kind!r}; use 'simple', 'redis' or 'null'.")
    timeout = int(config.get("CACHE_DEFAULT_TIMEOUT", 300))
    options = dict(config.get("CACHE_OPTIONS") or {})
    serializer = config.get("CACHE_SERIALIZER") or "pickle"
    if name == "null":
        return NullCache(timeout)
    if name == "simple":
        options.setdefault("threshold", int(config.get("CACHE_THRESHOLD", 500)))
        return MemoryCache(timeout, serializer=serializer, **options)
    url = config.get("CACHE_REDIS_URL")
    if not url:
        password = config.get("CACHE_REDIS_PASSWORD")
        auth = f":{password}@" if password else ""
        host = config.get("CACHE_REDIS_HOST", "localhost")
        port = config.get("CACHE_REDIS_PORT", 6379)
        url = f"redis://{auth}{host}:{port}/{config.get('CACHE_REDIS_DB', 0)}"
    return RedisCache(
        url,
        default_timeout=timeout,
        key_prefix=config.get("CACHE_KEY_PREFIX", "erlen_cache:"),
        serializer=serializer,
        **options,
    )


# -- the extension ------------------------------------------------------------------------------

_DEFAULTS: dict[str, Any] = {
    "CACHE_TYPE": "simple",
    "CACHE_DEFAULT_TIMEOUT": 300,
    "CACHE_KEY_PREFIX": "erlen_cache:",
    "CACHE_THRESHOLD": 500,
    "CACHE_SERIALIZER": "pickle",
}

#: A cached view is stored as its body, status code and headers.
CachedResponse = tuple[bytes, int, list[tuple[str, str]]]


def _is_async(f: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(f)


class Cache:
    """Cache values, views and function results for an app: ``cache = Cache(app)``.

    ``config`` overrides the app's ``CACHE_*`` settings for this cache, so one app can
    have several caches (for example one in memory and one in Redis).
    """

    def __init__(self, app: Erlen | None = None, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        self.app = app
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen, config: Mapping[str, Any] | None = None) -> None:
        """Make the backend for ``app`` from its config (then this cache's, then ``config``)."""
        merged = {**_DEFAULTS, **app.config, **self.config, **(config or {})}
        backend = _make_backend(merged)
        app.extensions.setdefault("cache", {})[self] = backend
        app.after_serving(backend.aclose)  # async clients close on the server's loop

    @property
    def cache(self) -> BaseCache:
        """The backend for the current app (or the app given to the constructor)."""
        ctx = get_app_context()
        app = ctx.app if ctx is not None else self.app
        if app is None:
            raise RuntimeError(
                "No app: use the cache in an app context or pass the app to Cache(app)."
            )
        try:
            return cast(BaseCache, app.extensions["cache"][self])
        except KeyError:
            raise RuntimeError(
                "This cache is not set up for the current app; call cache.init_app(app)."
            ) from None

    # -- the key-value API ------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """Return the value for ``key``, or None when it is missing or expired."""
        return self.cache.get(key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` (``timeout`` seconds; None: the default; 0: no expiry)."""
        return self.cache.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Store ``value`` only if ``key`` is missing; tell whether it was stored."""
        return self.cache.add(key, value, timeout)

    def delete(self, key: str) -> bool:
        """Remove ``key``; tell whether it existed."""
        return self.cache.delete(key)

    def has(self, key: str) -> bool:
        """Tell whether ``key`` holds an unexpired value."""
        return self.cache.has(key)

    def clear(self) -> bool:
        """Remove every key of this cache."""
        return self.cache.clear()

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values for ``keys`` (None for each missing one)."""
        return self.cache.get_many(*keys)

    def get_dict(self, *keys: str) -> dict[str, Any]:
        """Return ``{key: value}`` for ``keys``."""
        return dict(zip(keys, self.cache.get_many(*keys), strict=True))

    def set_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """Store several values; return the keys that were stored."""
        return self.cache.set_many(mapping, timeout)

    def delete_many(self, *keys: str) -> list[str]:
        """Remove several keys; return those that existed."""
        return self.cache.delete_many(*keys)

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to an integer atomically; return the new value."""
        return self.cache.inc(key, delta)

    def dec(self, key: str, delta: int = 1) -> int | None:
        """Subtract ``delta`` from an integer atomically; return the new value."""
        return self.cache.dec(key, delta)

    async def aget(self, key: str) -> Any:
        """Async :meth:`get` (no blocking I/O on the loop with Redis)."""
        return await self.cache.aget(key)

    async def aset(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Async :meth:`set`."""
        return await self.cache.aset(key, value, timeout)

    async def aadd(self, key: str, value: Any, timeout: int | None = None) -> bool:
        """Async :meth:`add`."""
        return await self.cache.aadd(key, value, timeout)

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        return await self.cache.adelete(key)

    async def ahas(self, key: str) -> bool:
        """Async :meth:`has`."""
        return await self.cache.ahas(key)

    async def aclear(self) -> bool:
        """Async :meth:`clear`."""
        return await self.cache.aclear()

    async def aget_many(self, *keys: str) -> list[Any]:
        """Async :meth:`get_many`."""
        return await self.cache.aget_many(*keys)

    async def aget_dict(self, *keys: str) -> dict[str, Any]:
        """Async :meth:`get_dict`."""
        return dict(zip(keys, await self.cache.aget_many(*keys), strict=True))

    async def aset_many(self, mapping: Mapping[str, Any], timeout: int | None = None) -> list[str]:
        """Async :meth:`set_many`."""
        return await self.cache.aset_many(mapping, timeout)

    async def adelete_many(self, *keys: str) -> list[str]:
        """Async :meth:`delete_many`."""
        return await self.cache.adelete_many(*keys)

    async def ainc(self, key: str, delta: int = 1) -> int | None:
        """Async :meth:`inc`."""
        return await self.cache.ainc(key, delta)

    async def adec(self, key: str, delta: int = 1) -> int | None:
        """Async :meth:`dec`."""
        return await self.cache.adec(key, delta)

    def close(self) -> None:
        """Release the backend's connections."""
        self.cache.close()

    async def aclose(self) -> None:
        """Release the backend's connections from async code (closes ``redis.asyncio`` clients)."""
        await self.cache.aclose()

    # -- views ------------------------------------------------------------------------------

    def cached(
        self,
        timeout: int | None = None,
        key_prefix: str | Callable[[], str] = "view/%s",
        query_string: bool = True,
        unless: Callable[[], bool] | None = None,
        forced_update: Callable[[], bool] | None = None,
        response_filter: Callable[[Response], bool] | None = None,
    ) -> Callable[[F], F]:
        """Cache a view's response, keyed by the request path and query string.

        Only GET and HEAD requests use the cache. The key is ``key_prefix % path``
        (``key_prefix()`` when callable), plus a hash of the sorted query arguments when
        ``query_string`` is on and there are any, so ``cache.delete("view//page")``
        drops the argument-less entry. The body, status and headers are stored, for
        200 responses unless ``response_filter(response)`` decides otherwise; streamed
        responses and responses that set cookies are never stored. ``unless()`` true
        skips the cache; ``forced_update()`` true recomputes and stores. Works on sync
        and async views. Backend errors are logged and the view runs uncached.
        """

        def decorator(f: F) -> F:
            def make_cache_key(*args: Any, **kwargs: Any) -> str:
                request = request_ctx.request
                if callable(key_prefix):
                    key = key_prefix()
                elif "%s" in key_prefix:
                    key = key_prefix % request.path
                else:
                    key = key_prefix
                if query_string and request.args:
                    pairs = sorted(request.args.items(multi=True))
                    key += (
                        "?"
                        + hashlib.md5(urlencode(pairs).encode(), usedforsecurity=False).hexdigest()
                    )
                return key

            def bypass() -> bool:
                method = request_ctx.request.method
                return method not in ("GET", "HEAD") or bool(unless is not None and unless())

            def forced() -> bool:
                return bool(forced_update is not None and forced_update())

            if _is_async(f):

                @functools.wraps(f)
                async def async_view(*args: Any, **kwargs: Any) -> Any:
                    if bypass():
                        return await f(*args, **kwargs)
                    backend = self.cache
                    key = make_cache_key(*args, **kwargs)
                    if not forced():
                        hit = await _guard(backend.aget(key))
                        if hit is not None:
                            return _rebuild(hit)
                    response, value = _cacheable(await f(*args, **kwargs), response_filter)
                    if value is not None:
                        await _guard(backend.aset(key, value, timeout))
                    return response

                wrapper: Any = async_view
            else:

                @functools.wraps(f)
                def sync_view(*args: Any, **kwargs: Any) -> Any:
                    if bypass():
                        return f(*args, **kwargs)
                    backend = self.cache
                    key = make_cache_key(*args, **kwargs)
                    if not forced():
                        hit = _guard_sync(backend.get, key)
                        if hit is not None:
                            return _rebuild(hit)
                    response, value = _cacheable(f(*args, **kwargs), response_filter)
                    if value is not None:
                        _guard_sync(backend.set, key, value, timeout)
                    return response

                wrapper = sync_view
            wrapper.uncached = f
            wrapper.cache_timeout = timeout
            wrapper.make_cache_key = make_cache_key
            return cast(F, wrapper)

        return decorator

    # -- functions --------------------------------------------------------------------------

    def memoize(
        self,
        timeout: int | None = None,
        make_name: Callable[[str], str] | None = None,
        unless: Callable[[], bool] | None = None,
        forced_update: Callable[[], bool] | None = None,
        cache_none: bool = False,
    ) -> Callable[[F], F]:
        """Cache a function's results per arguments (sync or async functions).

        Arguments are matched after binding to the signature (``f(1)`` and ``f(a=1)``
        share a result) and keyed by their ``repr``. Results of None are not stored
        unless ``cache_none``. :meth:`delete_memoized` drops one result or all of them.
        """

        def decorator(f: F) -> F:
            base = f"{f.__module__}.{f.__qualname__}"
            name = make_name(base) if make_name is not None else base
            signature = inspect.signature(f)
            version_key = f"memoize-version:{name}"

            def args_hash(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                parts = []
                for param, value in bound.arguments.items():
                    if signature.parameters[param].kind is inspect.Parameter.VAR_KEYWORD:
                        value = sorted(value.items())
                    parts.append((param, value))
                return hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()

            def key_for(version: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                return f"memoize:{name}:{version}:{args_hash(args, kwargs)}"

            def version(backend: BaseCache) -> str:
                current = backend.get(version_key)
                if current is None:
                    current = secrets.token_hex(8)
                    if not backend.add(version_key, current, NO_EXPIRY):
                        current = backend.get(version_key) or current
                return str(current)

            async def aversion(backend: BaseCache) -> str:
                current = await backend.aget(version_key)
                if current is None:
                    current = secrets.token_hex(8)
                    if not await backend.aadd(version_key, current, NO_EXPIRY):
                        current = (await backend.aget(version_key)) or current
                return str(current)

            def skip() -> bool:
                return bool(unless is not None and unless())

            def forced() -> bool:
                return bool(forced_update is not None and forced_update())

            if _is_async(f):

                @functools.wraps(f)
                async def async_memo(*args: Any, **kwargs: Any) -> Any:
                    if skip():
                        return await f(*args, **kwargs)
                    backend = self.cache
                    try:
                        key = key_for(await aversion(backend), args, kwargs)
                        hit = None if forced() else await backend.aget(key)
                    except Exception:
                        logger.exception("Cache read failed; calling the function uncached.")
                        return await f(*args, **kwargs)
                    if hit is not None:
                        return hit[0]
                    rv = await f(*args, **kwargs)
                    if rv is not None or cache_none:
                        await _guard(backend.aset(key, (rv,), timeout))
                    return rv

                wrapper: Any = async_memo
            else:

                @functools.wraps(f)
                def memo(*args: Any, **kwargs: Any) -> Any:
                    if skip():
                        return f(*args, **kwargs)
                    backend = self.cache
                    try:
                        key = key_for(version(backend), args, kwargs)
                        hit = None if forced() else backend.get(key)
                    except Exception:
                        logger.exception("Cache read failed; calling the function uncached.")
                        return f(*args, **kwargs)
                    if hit is not None:
                        return hit[0]
                    rv = f(*args, **kwargs)
                    if rv is not None or cache_none:
                        _guard_sync(backend.set, key, (rv,), timeout)
                    return rv

                wrapper = memo

            def make_cache_key(*args: Any, **kwargs: Any) -> str:
                return key_for(version(self.cache), args, kwargs)

            def delete(*args: Any, **kwargs: Any) -> None:
                backend = self.cache
                if not args and not kwargs:
                    # A new version orphans every stored result; they expire in time.
                    backend.set(version_key, secrets.token_hex(8), NO_EXPIRY)
                else:
                    backend.delete(key_for(version(backend), args, kwargs))

            async def adelete(*args: Any, **kwargs: Any) -> None:
                backend = self.cache
                if not args and not kwargs:
                    await backend.aset(version_key, secrets.token_hex(8), NO_EXPIRY)
                else:
                    await backend.adelete(key_for(await aversion(backend), args, kwargs))

            wrapper.uncached = f
            wrapper.cache_timeout = timeout
            wrapper.make_cache_key = make_cache_key
            wrapper._erlen_delete_memoized = delete
            wrapper._erlen_adelete_memoized = adelete
            return cast(F, wrapper)

        return decorator

    def delete_memoized(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Drop ``f``'s stored result for these arguments, or all its results without any."""
        delete = getattr(f, "_erlen_delete_memoized", None)
        if delete is None:
            raise TypeError(f"{f!r} is not a function decorated with @cache.memoize().")
        delete(*args, **kwargs)

    async def adelete_memoized(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Async :meth:`delete_memoized`."""
        adelete = getattr(f, "_erlen_adelete_memoized", None)
        if adelete is None:
            raise TypeError(f"{f!r} is not a function decorated with @cache.memoize().")
        await adelete(*args, **kwargs)


# -- helpers for cached views --------------------------------------------------------------------


def _cacheable(
    rv: Any, response_filter: Callable[[Response], bool] | None
) -> tuple[Response, CachedResponse | None]:
    """Make a response from a view's return value and tell what to store, if anything."""
    app = app_ctx.app
    response = app.make_response(rv)
    if response_filter is not None:
        keep = response_filter(response)
    else:
        keep = response.status_code == 200
    if not keep or not response.is_sequence or "Set-Cookie" in response.headers:
        return response, None
    body = response.get_data()
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return response, (body, response.status_code, headers)


def _rebuild(value: Iterable[Any]) -> Response:
    body, status, headers = value
    app = app_ctx.app
    return app.response_class(body, status=status, headers=[tuple(h) for h in headers])


def _guard_sync(func: Callable[..., Any], *args: Any) -> Any:
    try:
        return func(*args)
    except Exception:
        logger.exception("Cache backend failed; serving the view uncached.")
        return None


async def _guard(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except Exception:
        logger.exception("Cache backend failed; serving the view uncached.")
        return None


__all__ = [
    "BaseCache",
    "Cache",
    "JSONSerializer",
    "MemoryCache",
    "NullCache",
    "PickleSerializer",
    "RedisCache",
    "make_serializer",
]
