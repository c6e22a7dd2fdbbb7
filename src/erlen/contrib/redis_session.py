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

The session API is synchronous (as in Flask), so an async view that touches the
session makes one short Redis round trip on the event loop to load it, and one to
save it after the view.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..json.tag import TaggedJSONSerializer
from ..sessions import SecureCookieSession, SessionInterface, SessionMixin, add_vary

if TYPE_CHECKING:
    import redis as redis_lib
    from itsdangerous import Signer

    from ..app import Erlen
    from ..request import Request
    from ..response import Response

#: What a session id looks like (``secrets.token_urlsafe``), checked before use as a key.
_SID = re.compile(r"[A-Za-z0-9_-]{16,256}\Z")


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
        self.key_prefix = key_prefix
        self.use_signer = use_signer
        self.permanent = permanent
        self.sid_length = sid_length
        self._signer_cache: tuple[Any, Signer] | None = None

    # -- helpers ------------------------------------------------------------------------------

    def get_redis(self, app: Erlen) -> redis_lib.Redis:
        """Return the Redis client, making it from the URL or config on first use."""
        client = self._redis
        if client is None:
            import redis

            url = self._redis_url or app.config.get("SESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
            client = self._redis = redis.Redis.from_url(url)
        return client

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

    def open_session(self, app: Erlen, request: Request) -> RedisSession | None:
        """Load the session the cookie names; a new one when it is missing or invalid."""
        if self.use_signer and not app.secret_key:
            return None  # the null session: writes fail with a clear message
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self._new_session()
        sid = self._sid_from_cookie(app, value)
        if sid is None:
            return self._new_session()
        raw = self.get_redis(app).get(self.redis_key(sid))
        if raw is None:
            return self._new_session()  # expired or ended: never adopt the client's id
        try:
            data = self.serializer.loads(raw)
        except (ValueError, TypeError, KeyError, RecursionError):
            return self._new_session()
        if not isinstance(data, dict):
            return self._new_session()
        return self.session_class(data, sid=sid)

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Write the data to Redis and set the cookie; delete both for an emptied session."""
        if not isinstance(session, RedisSession):
            raise TypeError("RedisSessionInterface saves only the sessions it opened.")
        if session.accessed:
            add_vary(response, "Cookie")
        client = self.get_redis(app)
        stale = [self.redis_key(sid) for sid in session.stale_sids]
        session.stale_sids = []
        if not session:
            if not session.new:
                stale.append(self.redis_key(session.sid))
            if stale:
                client.delete(*stale)
            if session.modified:
                self.delete_session_cookie(app, response)
            return
        lifetime = self._lifetime(app)
        key = self.redis_key(session.sid)
        if session.modified or stale:
            pipe = client.pipeline(transaction=True)
            if stale:
                pipe.delete(*stale)
            pipe.set(key, self.serializer.dumps(dict(session)), ex=lifetime)
            pipe.execute()
        elif not self.should_set_cookie(app, session):
            return
        else:
            client.expire(key, lifetime)
        self.set_session_cookie(app, session, response, self._cookie_value(app, session.sid))


__all__ = ["RedisSession", "RedisSessionInterface", "new_sid"]
