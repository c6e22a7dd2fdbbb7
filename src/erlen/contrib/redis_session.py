"""Server-side sessions in Redis: a drop-in replacement for the signed-cookie session.

``app.session_interface = RedisSessionInterface(redis.Redis.from_url(...))``

The cookie holds only a random session id (32 bytes, URL-safe), signed with the
app's ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still verify); the data lives in
Redis under ``key_prefix + id`` as tagged JSON (never pickle), expiring after
``PERMANENT_SESSION_LIFETIME``. So logging out really ends a session: a replayed
cookie finds nothing. A tampered or unknown cookie gives a new, empty session with
a fresh id. ``session.regenerate()`` moves the data to a new id (call it on login,
against session fixation), and ``session.clear()`` also starts a new id. Visitors
whose session stays empty cost no Redis key and get no cookie.

The session API is synchronous (as in Flask). For a request the core serves on an
event loop (an ``async def`` view, on the ASGI door or the WSGI door's per-thread
loop), it awaits :meth:`~RedisSessionInterface.open_session_async` before the hooks
run and :meth:`~RedisSessionInterface.save_session_async` after them: ``redis.asyncio``,
one client per loop, so the loop serves other requests during the round trips. The
session is then loaded up front (when the request carries a session cookie) instead
of on first use. Sync views use the sync client, lazily, on both doors.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..concurrency import run_in_threadpool
from ..json.tag import TaggedJSONSerializer
from ..sessions import SecureCookieSession, SessionInterface, SessionMixin, add_vary

if TYPE_CHECKING:
    import redis as redis_lib
    import redis.asyncio as aioredis
    from itsdangerous import Signer

    from ..app import Erlen
    from ..request import Request
    from ..response import Response
    from ._redis import AsyncRedisClients

#: What a session id looks like (``secrets.token_urlsafe``), checked before use as a key.
_SID = re.compile(r"[A-Za-z0-9_-]{16,256}\Z")

#: A Redis command: method name, positional and keyword arguments.
_Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class RedisSession(SecureCookieSession):
    """A session whose data is kept in Redis under :attr:`sid`."""

    def __init__(
        self,
        initial: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        *,
        sid: str,
        new: bool = False,
    ) -> None:
        super().__init__(initial)
        #: The session id (the Redis key without its prefix).
        self.sid = sid
        #: True when the session was not loaded from Redis.
        self.new = new
        #: Ids whose Redis keys are deleted when the session is saved.
        self.stale_sids: list[str] = []

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old id stops working.

        Call it when the user logs in, so that an id planted before login is useless.
        """
        if not self.new:
            self.stale_sids.append(self.sid)
        self.sid = new_sid()
        self.new = True
        self.modified = True

    def clear(self) -> None:
        """Remove every key and start a new id (for logout)."""
        super().clear()
        self.regenerate()


def new_sid(nbytes: int = 32) -> str:
    """Return a new random session id."""
    return secrets.token_urlsafe(nbytes)


def _sha256(string: bytes = b"") -> Any:
    return hashlib.sha256(string)


class RedisSessionInterface(SessionInterface):
    """Keep sessions in Redis: ``app.session_interface = RedisSessionInterface(client)``.

    ``redis`` is a ``redis.Redis`` client or a URL; without it the client is made
    from ``SESSION_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) on first use.
    Async views use ``redis.asyncio`` clients made from the same URL (one per event
    loop, closed when the ASGI server shuts down); with a client object and no URL,
    their Redis calls run in the worker pool instead, off the loop.
    ``use_signer`` signs the id in the cookie (it needs ``SECRET_KEY``); ``permanent``
    gives every session a cookie that lasts ``PERMANENT_SESSION_LIFETIME`` (otherwise
    only sessions with ``session.permanent = True`` get one, as with Flask's cookie
    session). The Redis key always expires after ``PERMANENT_SESSION_LIFETIME``.
    """

    session_class = RedisSession
    serializer = TaggedJSONSerializer()
    salt = "erlen-redis-session"

    def __init__(
        self,
        redis: redis_lib.Redis | str | None = None,
        key_prefix: str = "session:",
        use_signer: bool = True,
        permanent: bool = True,
        sid_length: int = 32,
    ) -> None:
        if sid_length < 32:
            raise ValueError("Session ids need at least 32 random bytes.")
        self._redis: redis_lib.Redis | None = None
        self._redis_url: str | None = None
        if isinstance(redis, str):
            self._redis_url = redis
        else:
            self._redis = redis
        #: Whether the sync client is made here (from a URL), so :meth:`close` closes it.
        self._owns_client = redis is None or isinstance(redis, str)
        self.key_prefix = key_prefix
        self.use_signer = use_signer
        self.permanent = permanent
        self.sid_length = sid_length
        self._signer_cache: tuple[Any, Signer] | None = None
        self._async_clients: AsyncRedisClients | None = None

    # -- helpers ------------------------------------------------------------------------------

    def get_redis(self, app: Erlen) -> redis_lib.Redis:
        """Return the Redis client, making it from the URL or config on first use."""
        client = self._redis
        if client is None:
            import redis

            url = self._redis_url or app.config.get("SESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
            client = self._redis = redis.Redis.from_url(url)
        return client

    def get_async_redis(self, app: Erlen) -> aioredis.Redis | None:
        """Return the running loop's ``redis.asyncio`` client (None without a URL)."""
        clients = self._async_clients
        if clients is None:
            if not self._owns_client:
                return None  # a client object: its URL (and options) are unknown
            from ._redis import AsyncRedisClients

            url = self._redis_url or app.config.get("SESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
            clients = self._async_clients = AsyncRedisClients(url)
        return clients.get(app)

    async def aclose(self) -> None:
        """Close the ``redis.asyncio`` clients (the ASGI server's shutdown does it too)."""
        if self._async_clients is not None:
            await self._async_clients.aclose()

    def close(self) -> None:
        """Close the clients this interface made (sync, and async ones whose loop can run)."""
        if self._async_clients is not None:
            self._async_clients.close()
        if self._owns_client and self._redis is not None:
            self._redis.close()
            self._redis = None

    def get_signer(self, app: Erlen) -> Signer | None:
        """Return the signer for the app's keys (None without ``SECRET_KEY``)."""
        secret_key = app.secret_key
        if not secret_key:
            return None
        fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or ()
        cache_key = (secret_key, tuple(fallbacks))
        cached = self._signer_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        from itsdangerous import Signer

        # itsdangerous signs with the last key and accepts any of them.
        keys: list[Any] = [*reversed(cache_key[1]), secret_key]
        signer = Signer(keys, salt=self.salt, key_derivation="hmac", digest_method=_sha256)
        self._signer_cache = (cache_key, signer)
        return signer

    def redis_key(self, sid: str) -> str:
        """Return the Redis key of a session id."""
        return self.key_prefix + sid

    def _new_session(self) -> RedisSession:
        return self.session_class(sid=new_sid(self.sid_length), new=True)

    def _is_permanent(self, session: SessionMixin) -> bool:
        return self.permanent or session.permanent

    def _lifetime(self, app: Erlen) -> int:
        return max(1, int(app.permanent_session_lifetime.total_seconds()))

    def _sid_from_cookie(self, app: Erlen, value: str) -> str | None:
        if self.use_signer:
            from itsdangerous import BadSignature

            signer = self.get_signer(app)
            if signer is None:
                return None
            try:
                value = signer.unsign(value).decode("ascii")
            except (BadSignature, UnicodeDecodeError):
                return None
        return value if _SID.match(value) else None

    def _cookie_value(self, app: Erlen, sid: str) -> str:
        if self.use_signer:
            signer = self.get_signer(app)
            assert signer is not None
            return signer.sign(sid).decode("ascii")
        return sid

    # -- the session interface ------------------------------------------------------------------

    def get_expiration_time(self, app: Erlen, session: SessionMixin) -> datetime | None:
        """When the cookie expires: after the lifetime for permanent sessions."""
        if self._is_permanent(session):
            return datetime.now(timezone.utc) + app.permanent_session_lifetime
        return None

    def should_set_cookie(self, app: Erlen, session: SessionMixin) -> bool:
        """Set the cookie when the session changed, or refresh a permanent one."""
        return session.modified or (
            self._is_permanent(session) and bool(app.config["SESSION_REFRESH_EACH_REQUEST"])
        )

    def _sid_of(self, app: Erlen, request: Request) -> tuple[str | None, RedisSession | None]:
        """The session id to load, or (None, the session to use without loading one)."""
        if self.use_signer and not app.secret_key:
            return None, None  # the null session: writes fail with a clear message
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return None, self._new_session()
        sid = self._sid_from_cookie(app, value)
        if sid is None:
            return None, self._new_session()
        return sid, None

    def _loaded(self, sid: str, raw: bytes | str | None) -> RedisSession:
        """The session for what Redis held under ``sid``."""
        if raw is None:
            return self._new_session()  # expired or ended: never adopt the client's id
        try:
            data = self.serializer.loads(raw)
        except (ValueError, TypeError, KeyError, RecursionError):
            return self._new_session()
        if not isinstance(data, dict):
            return self._new_session()
        return self.session_class(data, sid=sid)

    def open_session(self, app: Erlen, request: Request) -> RedisSession | None:
        """Load the session the cookie names; a new one when it is missing or invalid."""
        sid, early = self._sid_of(app, request)
        if sid is None:
            return early
        return self._loaded(sid, self.get_redis(app).get(self.redis_key(sid)))

    async def open_session_async(self, app: Erlen, request: Request) -> RedisSession | None:
        """:meth:`open_session` with ``redis.asyncio`` (the event loop is not blocked)."""
        sid, early = self._sid_of(app, request)
        if sid is None:
            return early
        client = self.get_async_redis(app)
        if client is None:
            raw = await run_in_threadpool(self.get_redis(app).get, self.redis_key(sid))
        else:
            raw = await client.get(self.redis_key(sid))
        return self._loaded(sid, raw)

    def _save_commands(
        self, app: Erlen, session: SessionMixin, response: Response
    ) -> tuple[list[_Command], bool]:
        """What saving takes: Redis commands (one transaction), and whether to set the cookie.

        Marks the response (``Vary``, a deleted cookie) on the way; the sync and async
        save run the commands, then set the cookie.
        """
        if not isinstance(session, RedisSession):
            raise TypeError("RedisSessionInterface saves only the sessions it opened.")
        if session.accessed:
            add_vary(response, "Cookie")
        stale = [self.redis_key(sid) for sid in session.stale_sids]
        session.stale_sids = []
        commands: list[_Command] = []
        if not session:
            if not session.new:
                stale.append(self.redis_key(session.sid))
            if stale:
                commands.append(("delete", tuple(stale), {}))
            if session.modified:
                self.delete_session_cookie(app, response)
            return commands, False
        lifetime = self._lifetime(app)
        key = self.redis_key(session.sid)
        if session.modified or stale:
            if stale:
                commands.append(("delete", tuple(stale), {}))
            data = self.serializer.dumps(dict(session))
            commands.append(("set", (key, data), {"ex": lifetime}))
        elif not self.should_set_cookie(app, session):
            return commands, False
        else:
            commands.append(("expire", (key, lifetime), {}))
        return commands, True

    def _set_cookie(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, RedisSession)
        self.set_session_cookie(app, session, response, self._cookie_value(app, session.sid))

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Write the data to Redis and set the cookie; delete both for an emptied session."""
        commands, set_cookie = self._save_commands(app, session, response)
        if commands:
            _run_sync(self.get_redis(app), commands)
        if set_cookie:
            self._set_cookie(app, session, response)

    async def save_session_async(
        self, app: Erlen, session: SessionMixin, response: Response
    ) -> None:
        """:meth:`save_session` with ``redis.asyncio`` (the event loop is not blocked)."""
        commands, set_cookie = self._save_commands(app, session, response)
        if commands:
            client = self.get_async_redis(app)
            if client is None:
                await run_in_threadpool(_run_sync, self.get_redis(app), commands)
            else:
                await _run_async(client, commands)
        if set_cookie:
            self._set_cookie(app, session, response)


def _run_sync(client: redis_lib.Redis, commands: list[_Command]) -> None:
    """Run the commands, several in one ``MULTI``/``EXEC`` transaction."""
    if len(commands) == 1:
        name, args, kwargs = commands[0]
        getattr(client, name)(*args, **kwargs)
        return
    pipe = client.pipeline(transaction=True)
    for name, args, kwargs in commands:
        getattr(pipe, name)(*args, **kwargs)
    pipe.execute()


async def _run_async(client: aioredis.Redis, commands: list[_Command]) -> None:
    """:func:`_run_sync` on a ``redis.asyncio`` client."""
    if len(commands) == 1:
        name, args, kwargs = commands[0]
        await getattr(client, name)(*args, **kwargs)
        return
    async with client.pipeline(transaction=True) as pipe:
        for name, args, kwargs in commands:
            getattr(pipe, name)(*args, **kwargs)
        await pipe.execute()


__all__ = ["RedisSession", "RedisSessionInterface", "new_sid"]
