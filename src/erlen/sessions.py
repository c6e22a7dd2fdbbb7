"""Sessions: a signed cookie by default, replaceable through ``app.session_interface``.

The cookie format is Flask's (itsdangerous's timed URL-safe format, HMAC key
derivation, SHA-1 digest, the tagged JSON serializer), so sessions survive a port
from Flask; the default interface signs it without itsdangerous, for speed. A
tampered, expired or garbage cookie gives an empty session, never an error.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
import weakref
import zlib
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .globals import _cv_request
from .json.tag import TaggedJSONSerializer
from .response import Response

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

    from .app import Erlen
    from .request import Request

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


#: dict's own methods, for SecureCookieSession (see there).
_dict_getitem = dict.__getitem__
_dict_get = dict.get
_dict_contains = dict.__contains__
_dict_setitem = dict.__setitem__


class SecureCookieSession(dict, SessionMixin):  # type: ignore[type-arg]
    """A dict that records whether it was read (``accessed``) or changed (``modified``).

    PERF: the methods store with dict's own methods rather than ``super()``'s (a
    ``session.get`` costs about 1,000 instructions less, ``session[key] = value``
    about 1,200, measured on CPython 3.11). A subclass that puts another mapping
    class between this one and ``dict`` in its MRO gets dict's storage, not that class's.
    """

    modified = False
    accessed = False

    def __init__(
        self, initial: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None
    ) -> None:
        dict.__init__(self, initial or ())
        self.modified = False
        self.accessed = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return _dict_getitem(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a value, or ``default``."""
        self.accessed = True
        return _dict_get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return _dict_contains(self, key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return a value, setting it to ``default`` first when missing."""
        _touch(self, not _dict_contains(self, key))
        return dict.setdefault(self, key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = True
        self.modified = True
        _dict_setitem(self, key, value)

    def __delitem__(self, key: str) -> None:
        _touch(self, True)
        dict.__delitem__(self, key)

    def pop(self, key: str, default: Any = _missing) -> Any:
        """Remove a key and return its value."""
        _touch(self, _dict_contains(self, key))
        if default is _missing:
            return dict.pop(self, key)
        return dict.pop(self, key, default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return an item."""
        _touch(self, True)
        return dict.popitem(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Update from a mapping or pairs."""
        _touch(self, True)
        dict.update(self, *args, **kwargs)

    def clear(self) -> None:
        """Remove every key."""
        _touch(self, True)
        dict.clear(self)

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


def get_opened_session() -> SessionMixin | None:
    """Return the request's session if it was opened already, else ``None`` (opens nothing).

    Unlike the ``session`` proxy this neither opens the session nor marks it accessed
    (which adds ``Vary: Cookie``). ``None`` outside a request context too.
    """
    ctx = _cv_request.get(None)
    return ctx._session if ctx is not None else None


def add_vary(response: Response, value: str) -> None:
    """Add a value to the response's ``Vary`` header unless it is there already."""
    headers = response.headers
    # PERF: this runs on every request that used the session, usually with no
    # Vary header yet or with exactly ``value``: look in Werkzeug's header list
    # directly instead of ``headers.get`` (which raises and catches a KeyError
    # on a miss). The first ``Vary`` value is the one considered, as ``get`` does.
    try:
        items: list[tuple[str, str]] = headers._list
    except AttributeError:
        current = headers.get("Vary")
    else:
        current = None
        for k, v in items:
            if len(k) == 4 and k.lower() == "vary":
                current = v
                break
        else:
            if type(value) is str and "\n" not in value and "\r" not in value:
                items.append(("Vary", value))  # what ``headers["Vary"] = value`` does here
                return
    if not current:
        headers["Vary"] = value
    elif current != value and value.lower() not in (v.strip().lower() for v in current.split(",")):
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

    def _may_be_permanent(self, app: Erlen, request: Request) -> bool:
        """Whether the session a request brings may be permanent (True: open it to know).

        Asked before a session the view never used is opened only to see whether its
        cookie must be refreshed. Interfaces other than the default cookie one say True.
        """
        return True

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Save the session on the response (or in a store)."""
        raise NotImplementedError

    # An interface that keeps sessions in a network store overrides these two with
    # non-blocking I/O. The core then awaits them for requests it serves on an event
    # loop (``async def`` views): the session is loaded before the before-request hooks
    # run (it cannot be loaded lazily there: ``session[...]`` is synchronous) and saved
    # after the after-request hooks. Everywhere else (sync views, the WSGI door, Flask's
    # dispatch methods) the sync pair is used, lazily, as before.

    async def open_session_async(self, app: Erlen, request: Request) -> SessionMixin | None:
        """Load the session from async code (the default calls :meth:`open_session`)."""
        return self.open_session(app, request)

    async def save_session_async(
        self, app: Erlen, session: SessionMixin, response: Response
    ) -> None:
        """Save the session from async code (the default calls :meth:`save_session`)."""
        self.save_session(app, session, response)


def has_async_session_io(interface: object) -> bool:
    """Tell whether ``interface`` overrides the async open/save hooks (its I/O does not block)."""
    cls = type(interface)
    default_open = SessionInterface.open_session_async
    default_save = SessionInterface.save_session_async
    return (
        getattr(cls, "open_session_async", default_open) is not default_open
        or getattr(cls, "save_session_async", default_save) is not default_save
    )


session_json_serializer = TaggedJSONSerializer()

#: The clock of the cookie timestamps (a module global, so tests can move it).
_now = time.time

# URL-safe base64 without padding, as itsdangerous writes it, straight on binascii.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64
_compare = hmac.compare_digest


def _b64encode(data: bytes) -> bytes:
    return _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    """Decode as itsdangerous does: padding restored, characters outside the alphabet skipped.

    Raises ``binascii.Error`` (a ``ValueError``) on a length that cannot be base64.
    """
    return _a2b(data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4))


def _want_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _hmac_template(key: bytes, digest_method: Any) -> Any:
    """An HMAC keyed with ``key`` and fed nothing yet: ``copy()``, ``update()``, ``digest()``.

    PERF: copying a keyed HMAC costs about three quarters of ``hmac.digest``,
    which sets the key up again each time. OpenSSL's HMAC object is used
    directly when it gives the same digest: ``hmac.HMAC``'s Python wrapper
    costs about a third of a copy, update and digest.
    """
    template = hmac.new(key, digestmod=digest_method)
    try:
        from _hashlib import hmac_new

        native = hmac_new(key, digestmod=template.name.removeprefix("hmac-"))
    except Exception:  # no OpenSSL, or a digest it does not know by that name
        return template
    probe = template.copy()
    probe.update(b"erlen")
    native_probe = native.copy()
    native_probe.update(b"erlen")
    return native if native_probe.digest() == probe.digest() else template


class _CookieSigner:
    """Flask's session cookie format, signed and checked without itsdangerous.

    PERF: itsdangerous spends ~150 Python calls on a load and a save (signer
    objects, ``want_bytes``, base64 helpers, datetime conversions). This does the
    same work on the C primitives. The cookie is ``payload.timestamp.signature``,
    each part URL-safe base64 without padding: the payload is the serializer's
    JSON (``"."`` + zlib-compressed JSON when that is shorter), the timestamp the
    big-endian seconds with leading zero bytes stripped, the signature the HMAC
    of ``payload.timestamp`` under the key derived (HMAC of the salt) from the
    secret key. Only the defaults use it (``key_derivation == "hmac"`` and the
    stock ``get_signing_serializer``); every other case goes through itsdangerous.
    """

    __slots__ = ("_macs", "_serializer", "_stamp", "_text")

    def __init__(
        self,
        secret_keys: list[str | bytes],
        salt: str | bytes,
        digest_method: Any,
        serializer: Any,
    ) -> None:
        """``secret_keys``: newest first; the first one signs, all of them verify."""
        salt_bytes = _want_bytes(salt)
        self._macs = [
            _hmac_template(hmac.digest(_want_bytes(key), salt_bytes, digest_method), digest_method)
            for key in secret_keys
        ]
        self._serializer = serializer
        # itsdangerous treats a serializer whose dumps gives str as text (UTF-8 on the wire).
        self._text = isinstance(serializer.dumps({}), str)
        self._stamp: tuple[int, bytes] = (-1, b"")

    def dumps(self, obj: Any) -> str:
        """Serialize, compress when worth it, timestamp and sign ``obj``."""
        data = self._serializer.dumps(obj)
        if self._text:
            data = data.encode("utf-8")
        # Readers accept both forms. Below this size zlib never wins, so skip the attempt.
        prefix = b""
        if len(data) > 128:
            compressed = zlib.compress(data)
            if len(compressed) < len(data) - 1:
                data = compressed
                prefix = b"."
        now = int(_now())
        stamp = self._stamp
        if stamp[0] != now:
            stamp = self._stamp = (now, _b64encode(now.to_bytes(8, "big").lstrip(b"\x00")))
        payload = _b2a(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")
        signed = prefix + payload + b"." + stamp[1]
        mac = self._macs[0].copy()
        mac.update(signed)
        signature = _b2a(mac.digest(), newline=False).translate(_TO_URLSAFE).rstrip(b"=")
        return (signed + b"." + signature).decode("ascii")

    def may_be_permanent(self, value: str) -> bool:
        """Whether a cookie's payload may hold ``_permanent`` (read without the signature check).

        False only when the payload, decoded, has no ``"_permanent"`` key: such a cookie,
        valid or not, opens a session that is not permanent. A compressed payload is not
        decompressed before its signature is checked (a small cookie can inflate to
        megabytes): True, as for anything that does not decode.
        """
        payload = value.split(".", 1)[0]
        if not payload or not payload.isascii():
            return True  # compressed ("." first), or not a cookie this signer made
        try:
            data = _b64decode(payload.encode("ascii"))
        except ValueError:
            return True
        return b'"_permanent"' in data

    def loads(self, value: str, max_age: int) -> Any:
        """Return what a valid cookie holds, or ``_missing`` for any bad cookie."""
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            return _missing
        signed, sep, signature = raw.rpartition(b".")
        if not sep:
            return _missing
        payload, sep, stamp = signed.rpartition(b".")
        if not sep:
            return _missing
        # PERF: _b64decode written out (three calls fewer per request).
        try:
            signature = _a2b(signature.translate(_FROM_URLSAFE) + b"=" * (-len(signature) % 4))
        except ValueError:
            return _missing
        for template in self._macs:
            mac = template.copy()
            mac.update(signed)
            if _compare(mac.digest(), signature):
                break
        else:
            return _missing
        try:
            stamp = _a2b(stamp.translate(_FROM_URLSAFE) + b"=" * (-len(stamp) % 4))
        except ValueError:
            return _missing
        if len(stamp) > 8:
            return _missing
        age = int(_now()) - int.from_bytes(stamp, "big")
        if age > max_age or age < 0:
            return _missing
        # As itsdangerous: whatever fails while decoding a signed payload makes it bad.
        try:
            if payload[:1] == b".":
                data = zlib.decompress(_b64decode(payload[1:]))
            else:
                data = _a2b(payload.translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4))
            return self._serializer.loads(data.decode("utf-8") if self._text else data)
        except Exception:
            return _missing


# The methods whose replacement (in a subclass or on the instance) makes the cookie
# interface call each of them per request, as Flask does, instead of using a plan.
_PLANNED_METHODS = (
    "get_cookie_name",
    "get_cookie_domain",
    "get_cookie_path",
    "get_cookie_httponly",
    "get_cookie_secure",
    "get_cookie_samesite",
    "get_cookie_partitioned",
    "_cookie_options",
    "get_expiration_time",
    "should_set_cookie",
    "set_session_cookie",
    "get_signing_serializer",
)


_CACHE_ATTRIBUTES = frozenset(("_plans", "_serializer_cache", "_signer_cache"))


class _CookiePlan:
    """What the default cookie session needs per request, worked out for one app's settings.

    PERF: opening and saving a session asks the interface for about ten settings, each
    a method reading the config; this asks once and keeps the answers while the app's
    config, the interface's own settings and the fallback keys stay as they were (an
    attribute set on the interface instance drops it). It is only *used* (``signer``
    set) when none of the methods the answers come from is replaced; otherwise the
    interface calls them per request, as before.
    """

    __slots__ = (
        "attrs",
        "cookie_suffix",
        "fallbacks",
        "lifetime",
        "max_age",
        "max_size",
        "name",
        "options",
        "refresh",
        "response_class",
        "signer",
        "version",
    )

    def __init__(self, interface: SecureCookieSessionInterface, app: Erlen, attrs: Any) -> None:
        config = app.config
        fallbacks = config["SECRET_KEY_FALLBACKS"]
        self.version: int = config._version
        self.attrs = attrs
        # A copy: a list changed in place (a key rotation) must show as a change.
        self.fallbacks = list(fallbacks) if isinstance(fallbacks, list) else fallbacks
        cls = type(interface)
        planned = not any(
            getattr(cls, name) is not getattr(SecureCookieSessionInterface, name)
            or name in vars(interface)
            for name in _PLANNED_METHODS
        )
        codec = interface._codec(app) if planned else None
        # None: no plan, the interface's methods are called per request.
        self.signer = codec if type(codec) is _CookieSigner else None
        if self.signer is None:
            return
        self.name: str = interface.get_cookie_name(app)
        self.lifetime = app.permanent_session_lifetime
        self.max_age = int(self.lifetime.total_seconds())
        self.refresh = bool(config["SESSION_REFRESH_EACH_REQUEST"])
        self.options = options = interface._cookie_options(app)
        # A browser-session cookie's header is the name, the value and this text: the
        # signer's values are URL-safe base64 and dots, which are never quoted, and
        # without an expiry nothing in the header depends on the value. Used for
        # responses of the app's class when it sets cookies as Erlen's Response does.
        self.response_class: type[Response] | None = None
        self.cookie_suffix = ""
        self.max_size = int(config["MAX_COOKIE_SIZE"])
        response_class = app.response_class
        if (
            response_class.set_cookie is Response.set_cookie
            and response_class.max_cookie_size is Response.max_cookie_size
        ):
            from werkzeug.http import dump_cookie

            try:
                header = dump_cookie(self.name, "v", **options)
            except ValueError:  # a bad setting: raised when the cookie is set, as in Flask
                header = ""
            if header.startswith(f"{self.name}=v"):
                self.cookie_suffix = header[len(self.name) + 2 :]
                self.response_class = response_class


class SecureCookieSessionInterface(SessionInterface):
    """Keep the session in a cookie signed with ``SECRET_KEY`` (Flask's format)."""

    salt = "cookie-session"
    # PERF: hashlib's own constructor (not a Python wrapper as in Flask) lets
    # hmac use OpenSSL's HMAC instead of its pure-Python fallback; same digest.
    digest_method = staticmethod(hashlib.sha1)
    key_derivation = "hmac"
    serializer = session_json_serializer
    session_class = SecureCookieSession

    # Built for one set of keys and settings, rebuilt when any of them changes.
    _serializer_cache: tuple[Any, URLSafeTimedSerializer] | None = None
    _signer_cache: tuple[Any, _CookieSigner] | None = None
    # One plan per app: an interface shared by several apps keeps each one's. Keyed by
    # the app's id with a weak reference to it, so that the interface keeps no app alive.
    _plans: dict[int, tuple[weakref.ref[Erlen], _CookiePlan]] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # A method or setting replaced on the instance (``interface.get_cookie_path =
        # ...``, ``mock.patch.object``) takes effect from the next request: drop the plan.
        object.__setattr__(self, name, value)
        if name not in _CACHE_ATTRIBUTES:
            object.__setattr__(self, "_plans", None)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        object.__setattr__(self, "_plans", None)

    def _plan(self, app: Erlen) -> _CookiePlan:
        """The plan for ``app``'s current settings (built again when any of them changed)."""
        config = app.config
        plans = self._plans
        entry = plans.get(id(app)) if plans is not None else None
        plan = entry[1] if entry is not None and entry[0]() is app else None
        attrs = (self.salt, self.serializer, self.digest_method, self.key_derivation)
        if (
            plan is None
            or plan.version != config._version
            or plan.attrs != attrs
            or plan.fallbacks != config["SECRET_KEY_FALLBACKS"]
        ):
            plan = _CookiePlan(self, app, attrs)
            if plans is None:
                plans = self._plans = {}
            else:
                # Forget the plans of apps that are gone (their ids may come back).
                for key in [k for k, (ref, _) in plans.items() if ref() is None]:
                    del plans[key]
            plans[id(app)] = (weakref.ref(app), plan)
        return plan

    def get_signing_serializer(self, app: Erlen) -> URLSafeTimedSerializer | None:
        """Return the itsdangerous serializer for the app's keys, or None without ``SECRET_KEY``.

        It is configured as Flask's (same salt, serializer, key derivation and
        digest; the keys are ``SECRET_KEY_FALLBACKS`` then ``SECRET_KEY``).
        Sessions are signed without it unless a subclass overrides this method
        or sets another ``key_derivation``; it makes and reads the same cookies.
        """
        secret_key = app.secret_key
        if not secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        cache_key = (
            secret_key,
            tuple(fallbacks) if fallbacks else (),
            self.salt,
            self.serializer,
            self.key_derivation,
            self.digest_method,
        )
        cached = self._serializer_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        from itsdangerous import URLSafeTimedSerializer

        keys: list[str | bytes] = list(cache_key[1])
        keys.append(secret_key)  # itsdangerous signs with the last key
        serializer = URLSafeTimedSerializer(
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

    def _codec(self, app: Erlen) -> _CookieSigner | _SerializerCodec | None:
        """What signs and reads the cookie, or None without a ``SECRET_KEY``.

        Erlen's own signer, unless a subclass overrides ``get_signing_serializer`` or
        sets another ``key_derivation``: then the serializer that method returns.
        """
        if (
            type(self).get_signing_serializer is not _default_get_signing_serializer
            or self.key_derivation != "hmac"
        ):
            serializer = self.get_signing_serializer(app)
            return None if serializer is None else _SerializerCodec(serializer)
        secret_key = app.secret_key
        if not secret_key:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        cache_key = (
            secret_key,
            tuple(fallbacks) if fallbacks else (),
            self.salt,
            self.serializer,
            self.digest_method,
        )
        cached = self._signer_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        # Newest first, then the fallbacks in the order itsdangerous tries them.
        keys: list[str | bytes] = [secret_key]
        keys.extend(reversed(cache_key[1]))
        signer = _CookieSigner(keys, self.salt, self.digest_method, self.serializer)
        self._signer_cache = (cache_key, signer)
        return signer

    def open_session(self, app: Erlen, request: Request) -> SecureCookieSession | None:
        """Load the session from the signed cookie (empty when missing or invalid)."""
        plan = self._plan(app)
        codec: _CookieSigner | _SerializerCodec | None = plan.signer
        if codec is not None:
            name = plan.name
            max_age = plan.max_age
        else:
            codec = self._codec(app)
            if codec is None:
                return None
            name = self.get_cookie_name(app)
            max_age = int(app.permanent_session_lifetime.total_seconds())
        value = request.cookies.get(name)
        if not value:
            return self.session_class()
        data = codec.loads(value, max_age)
        if not isinstance(data, dict):
            return self.session_class()
        return self.session_class(data)

    def _may_be_permanent(self, app: Erlen, request: Request) -> bool:
        # PERF: a request that carries the session cookie but never uses the session
        # (a static file, a public page) would otherwise have it verified and parsed only
        # to learn that it is not permanent (a WSGI hello carrying it: 17.5 µs, 8.3 with
        # this). The payload is peeked at when the session is stored the default way
        # (this class's open_session, Erlen's signer, the tagged JSON serializer, whose
        # JSON writes the key as "_permanent"); anything else is opened.
        if (
            type(self).open_session is not SecureCookieSessionInterface.open_session
            or self.serializer is not session_json_serializer
        ):
            return True
        plan = self._plan(app)
        signer = plan.signer
        if signer is None:
            return True
        value = request.cookies.get(plan.name)
        return not value or signer.may_be_permanent(value)

    def save_session(self, app: Erlen, session: SessionMixin, response: Response) -> None:
        """Write, refresh or delete the session cookie, only when needed."""
        plan = self._plan(app)
        signer = plan.signer
        if signer is not None and session:
            # The steps below, on the plan's answers (``Vary`` added once).
            accessed = session.accessed
            if accessed:
                add_vary(response, "Cookie")
            permanent = session.permanent
            if not (session.modified or (permanent and plan.refresh)):
                return
            value = signer.dumps(dict(session))
            header = f"{plan.name}={value}{plan.cookie_suffix}"
            if (
                not permanent
                and type(response) is plan.response_class
                and (len(header) <= plan.max_size or not plan.max_size)
            ):
                response.headers._list.append(("Set-Cookie", header))
            else:  # an expiry, another response class, or too large (which warns)
                expires = datetime.now(timezone.utc) + plan.lifetime if permanent else None
                response.set_cookie(plan.name, value, expires=expires, **plan.options)
            if not accessed:
                add_vary(response, "Cookie")
            return
        if session.accessed:
            add_vary(response, "Cookie")
        if not session:
            if session.modified:
                self.delete_session_cookie(app, response)
            return
        if not self.should_set_cookie(app, session):
            return
        codec = self._codec(app)
        assert codec is not None
        self.set_session_cookie(app, session, response, codec.dumps(dict(session)))


class _SerializerCodec:
    """An itsdangerous serializer behind the signer's interface (a bad cookie is ``_missing``)."""

    __slots__ = ("_serializer",)

    def __init__(self, serializer: URLSafeTimedSerializer) -> None:
        self._serializer = serializer

    def dumps(self, obj: Any) -> Any:
        return self._serializer.dumps(obj)

    def loads(self, value: str, max_age: int) -> Any:
        from itsdangerous import BadData

        try:
            return self._serializer.loads(value, max_age=max_age)
        except (BadData, ValueError, TypeError, KeyError, RecursionError, OverflowError):
            return _missing


_default_get_signing_serializer = SecureCookieSessionInterface.get_signing_serializer


__all__ = [
    "NullSession",
    "SecureCookieSession",
    "SecureCookieSessionInterface",
    "SessionInterface",
    "SessionMixin",
    "add_vary",
    "get_opened_session",
    "has_async_session_io",
]
