"""Sessions: a signed cookie by default, replaceable through ``app.session_interface``.

The cookie format is Flask's (itsdangerous, HMAC key derivation, SHA-1 digest,
the tagged JSON serializer), so sessions survive a port from Flask. A tampered,
expired or garbage cookie gives an empty session, never an error.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .json.tag import TaggedJSONSerializer

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

    from .app import Erlen
    from .request import Request
    from .response import Response

_missing: Any = object()


class SessionMixin(MutableMapping[str, Any]):
    """What every session offers beyond a dict: ``permanent``, ``new``, ``modified``, ``accessed``."""

    @property
    def permanent(self) -> bool:
        """Keep the cookie for ``PERMANENT_SESSION_LIFETIME`` instead of the browser session."""
        return bool(self.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    #: True for a session that was just created (Flask's cookie session is never "new").
    new = False
    #: True when the session was changed and must be saved.
    modified = True
    #: True when the session was used during the request (adds ``Vary: Cookie``);
    #: the request context sets it whenever the ``session`` proxy is used.
    accessed = False


def _touch(self: SecureCookieSession, modified: bool) -> None:
    self.accessed = True
    if modified:
        self.modified = True


class SecureCookieSession(dict, SessionMixin):  # type: ignore[type-arg]
    """A dict that records whether it was read (``accessed``) or changed (``modified``)."""

    modified = False
    accessed = False

    def __init__(
        self, initial: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None
    ) -> None:
        super().__init__(initial or ())
        self.modified = False
        self.accessed = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a value, or ``default``."""
        self.accessed = True
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return a value, setting it to ``default`` first when missing."""
        _touch(self, not super().__contains__(key))
        return super().setdefault(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        _touch(self, True)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        _touch(self, True)
        super().__delitem__(key)

    def pop(self, key: str, default: Any = _missing) -> Any:
        """Remove a key and return its value."""
        _touch(self, super().__contains__(key))
        if default is _missing:
            return super().pop(key)
        return super().pop(key, default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return an item."""
        _touch(self, True)
        return super().popitem()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Update from a mapping or pairs."""
        _touch(self, True)
        super().update(*args, **kwargs)

    def clear(self) -> None:
        """Remove every key."""
        _touch(self, True)
        super().clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"


class NullSession(SecureCookieSession):
    """The session when no secret key is set: readable, but any write fails clearly."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "The session is unavailable because no secret key was set. Set the secret_key"
            " on the application (app.secret_key or the SECRET_KEY config) to something"
            " unique and secret."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


def add_vary(response: Response, value: str) -> None:
    """Add a value to the response's ``Vary`` header unless it is there already."""
    headers = response.headers
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = value
    elif value.lower() not in (v.strip().lower() for v in current.split(",")):
        headers["Vary"] = f"{current}, {value}"


class SessionInterface:
    """How the app loads and saves sessions; subclass it for a server-side store."""

    null_session_class: type[SecureCookieSession] = NullSession
    pickle_based = False

    def make_null_session(self, app: Erlen) -> SessionMixin:
        """Return the session used when loading failed (writes raise a clear error)."""
        return self.null_session_class()

    def is_null_session(self, obj: object) -> bool:
        """Tell whether ``obj`` is the null session."""
        return isinstance(obj, self.null_session_class)

    def get_cookie_name(self, app: Erlen) -> str:
        """``SESSION_COOKIE_NAME``."""
        return app.config["SESSION_COOKIE_NAME"]  # type: ignore[no-any-return]

    def get_cookie_domain(self, app: Erlen) -> str | None:
        """``SESSION_COOKIE_DOMAIN``."""
        return app.config["SESSION_COOKIE_DOMAIN"]  # type: ignore[no-any-return]

    def get_cookie_path(self, app: Erlen) -> str:
        """``SESSION_COOKIE_PATH``, else ``APPLICATION_ROOT``."""
        return app.config["SESSION_COOKIE_PATH"] or app.config["APPLICATION_ROOT"]  # type: ignore[no-any-return]

    def get_cookie_httponly(self, app: Erlen) -> bool:
        """``SESSION_COOKIE_HTTPONLY``."""
        return bool(app.config["SESSION_COOKIE_HTTPONLY"])

    def get_cookie_secure(self, app: Erlen) -> bool:
        """``SESSION_COOKIE_SECURE``."""
        return bool(app.config["SESSION_COOKIE_SECURE"])

    def get_cookie_samesite(self, app: Erlen) -> str | None:
        """``SESSION_COOKIE_SAMESITE``."""
        return app.config["SESSION_COOKIE_SAMESITE"]  # type: ignore[no-any-return]

    def get_cookie_partitioned(self, app: Erlen) -> bool:
        """``SESSION_COOKIE_PARTITIONED``."""
        return bool(app.config["SESSION_COOKIE_PARTITIONED"])

    def get_expiration_time(self, app: Erlen, session: SessionMixin) -> datetime | None:
        """When a permanent session's cookie expires (None for a browser session)."""
        if session.permanent:
            return datetime.now(timezone.utc) + app.permanent_session_lifetime
        return None

    def should_set_cookie(self, app: Erlen, session: SessionMixin) -> bool:
        """Set the cookie when the session changed, or is permanent and refreshed each request."""
        return session.modified or (
            session.permanent and bool(app.config["SESSION_REFRESH_EACH_REQUEST"])
        )

    def _cookie_options(self, app: Erlen) -> dict[str, Any]:
        return {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "partitioned": self.get_cookie_partitioned(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }

    def set_session_cookie(
        self, app: Erlen, session: SessionMixin, response: Response, value: str
    ) -> None:
        """Set the session cookie to ``value``, with the configured cookie settings."""
        response.set_cookie(
            self.get_cookie_name(app),
            value,
            expires=self.get_expiration_time(app, session),
            **self._cookie_options(app),
        )
        add_vary(response, "Cookie")

    def delete_session_cookie(self, app: Erlen, response: Response) -> None:
        """Tell the client to drop the session cookie."""
        response.delete_cookie(self.get_cookie_name(app), **self._cookie_options(app))
        add_vary(response, "Cookie")

    def open_session(self, app: Erlen, request: Request) -> SessionMixin | None:
        """Load the session for a request (None means: use the null session)."""
        raise NotImplementedError

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Save the session on the response (or in a store)."""
        raise NotImplementedError


session_json_serializer = TaggedJSONSerializer()

_serializer_class: Any = None


def _caching_serializer_class() -> type[URLSafeTimedSerializer]:
    """Return an itsdangerous serializer that reuses its signers and derived keys.

    PERF: itsdangerous builds a new signer for every ``dumps``/``loads`` and
    derives the key (an HMAC) on every signature; the keys and salt of a
    session serializer never change, so both are computed once. The wire format
    is unchanged.
    """
    global _serializer_class
    if _serializer_class is None:
        from itsdangerous import TimestampSigner, URLSafeTimedSerializer
        from itsdangerous.encoding import base64_encode

        class CachingSigner(TimestampSigner):
            def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
                derived: dict[Any, bytes] = self.__dict__.setdefault("_derived", {})
                key = derived.get(secret_key)
                if key is None:
                    key = derived[secret_key] = super().derive_key(secret_key)
                return key

        class CachingSerializer(URLSafeTimedSerializer):
            default_signer = CachingSigner

            def dump_payload(self, obj: Any) -> bytes:
                # PERF: itsdangerous tries zlib on every payload; below this size
                # compression never wins, so skip the attempt. Readers accept both.
                json = self.serializer.dumps(obj, **self.serializer_kwargs)
                data = json.encode("utf-8") if isinstance(json, str) else json
                if len(data) > 128:
                    compressed = zlib.compress(data)
                    if len(compressed) < len(data) - 1:
                        return b"." + base64_encode(compressed)
                return base64_encode(data)

            def make_signer(self, salt: str | bytes | None = None) -> Any:
                signers: dict[Any, Any] = self.__dict__.setdefault("_signers", {})
                signer = signers.get(salt)
                if signer is None:
                    signer = signers[salt] = super().make_signer(salt)
                return signer

        _serializer_class = CachingSerializer
    return _serializer_class  # type: ignore[no-any-return]


class SecureCookieSessionInterface(SessionInterface):
    """Keep the session in a cookie signed with ``SECRET_KEY`` (Flask's format)."""

    salt = "cookie-session"
    # PERF: hashlib's own constructor (not a Python wrapper as in Flask) lets
    # hmac use OpenSSL's HMAC instead of its pure-Python fallback; same digest.
    digest_method = staticmethod(hashlib.sha1)
    key_derivation = "hmac"
    serializer = session_json_serializer
    session_class = SecureCookieSession

    def __init__(self) -> None:
        self._serializer_cache: tuple[Any, URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Erlen) -> URLSafeTimedSerializer | None:
        """Return the signer for the app's keys, or None when no ``SECRET_KEY`` is set."""
        secret_key = app.secret_key
        if not secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        cache_key = (secret_key, tuple(fallbacks) if fallbacks else ())
        cached = self._serializer_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        keys: list[str | bytes] = list(reversed(cache_key[1]))
        keys.append(secret_key)
        serializer = _caching_serializer_class()(
            keys,  # type: ignore[arg-type]
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )
        self._serializer_cache = (cache_key, serializer)
        return serializer

    def open_session(self, app: Erlen, request: Request) -> SecureCookieSession | None:
        """Load the session from the signed cookie (empty when missing or invalid)."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        from itsdangerous import BadSignature

        try:
            data = serializer.loads(value, max_age=max_age)
        except (BadSignature, ValueError, TypeError, KeyError, RecursionError):
            return self.session_class()
        if not isinstance(data, dict):
            return self.session_class()
        return self.session_class(data)

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Write, refresh or delete the session cookie, only when needed."""
        if session.accessed:
            add_vary(response, "Cookie")
        if not session:
            if session.modified:
                self.delete_session_cookie(app, response)
            return
        if not self.should_set_cookie(app, session):
            return
        serializer = self.get_signing_serializer(app)
        assert serializer is not None
        self.set_session_cookie(app, session, response, serializer.dumps(dict(session)))


__all__ = [
    "NullSession",
    "SecureCookieSession",
    "SecureCookieSessionInterface",
    "SessionInterface",
    "SessionMixin",
]
