"""Authentication: login sessions, remember-me cookies, and bearer/basic tokens for APIs.

The login API is Flask-Login's (``LoginManager``, ``login_user``, ``current_user``,
``login_required`` ...), so code written for it ports by changing the imports. On top of it:

* **Fixation:** :func:`login_user` clears the whole session and stores a new random session
  id (``_sid``), so nothing from before the login survives and an old cookie carries no login.
* **Replay after logout:** :func:`logout_user` revokes that session id in
  ``login_manager.revocation_store``; a session or remember-me cookie carrying a revoked id is
  anonymous. Users that provide ``get_session_token()`` are also checked against it on each
  request, so changing the stored token (a password change) ends every session of that user.
* **APIs:** ``login_required`` answers 401 JSON instead of a redirect for JSON/API requests;
  :class:`TokenAuth` issues signed, expiring bearer tokens and guards API views with
  :meth:`TokenAuth.auth_required` (Bearer and/or Basic, 401 with ``WWW-Authenticate``).

Everything works for sync and async views, through the WSGI and the ASGI door; user loaders
and callbacks may be ``async def``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import inspect
import ipaddress
import json
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator, Iterable
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

from blinker import Namespace
from werkzeug.exceptions import Unauthorized

from ..concurrency import drive_async, drive_sync
from ..globals import (
    ContextProxy,
    app_ctx,
    current_app,
    g,
    get_request_context,
    request_ctx,
)
from ..sessions import get_opened_session

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

    from ..app import Erlen
    from ..response import Response
    from ..sessions import SessionMixin

F = TypeVar("F", bound=Callable[..., Any])
Steps = Generator[Awaitable[Any], Any, Any]


def _now() -> float:
    """Return the current time (a seam for tests of expiry)."""
    return time.time()


# -- signals ------------------------------------------------------------------------------------

_signals = Namespace()
#: Sent with ``user`` after :func:`login_user`.
user_logged_in = _signals.signal("user-logged-in")
#: Sent with ``user`` after :func:`logout_user`.
user_logged_out = _signals.signal("user-logged-out")
#: Sent with ``user`` when a remember-me cookie logged the user in again.
user_loaded_from_cookie = _signals.signal("user-loaded-from-cookie")
#: Sent when ``login_required`` refused a request.
user_unauthorized = _signals.signal("user-unauthorized")
#: Sent when ``fresh_login_required`` asked for a new login.
user_needs_refresh = _signals.signal("user-needs-refresh")
#: Sent when session protection found a session used from another client.
session_protected = _signals.signal("session-protected")


def _send(signal: Any, **kwargs: Any) -> None:
    if signal.receivers:
        app = app_ctx.app
        signal.send(app, _async_wrapper=app.ensure_sync, **kwargs)


# -- users --------------------------------------------------------------------------------------


class UserMixin:
    """Give a user class what the login manager needs.

    ``get_id()`` returns ``str(self.id)``. ``get_session_token()`` returns the
    ``session_token`` attribute when the class has one: store a random value there and
    change it to end every session of the user (after a password change, say).
    """

    __hash__ = object.__hash__

    @property
    def is_active(self) -> bool:
        """True: the account may log in."""
        return True

    @property
    def is_authenticated(self) -> bool:
        """True: this is a logged-in user."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """False: this is not the anonymous user."""
        return False

    def get_id(self) -> str:
        """Return the id that the ``user_loader`` will receive."""
        try:
            return str(self.id)  # type: ignore[attr-defined]
        except AttributeError:
            raise NotImplementedError("No `id` attribute - override `get_id`") from None

    def get_session_token(self) -> str | None:
        """Return the per-user session token (``self.session_token``), or None."""
        token = getattr(self, "session_token", None)
        return None if token is None else str(token)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UserMixin):
            return self.get_id() == other.get_id()
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal


class AnonymousUserMixin:
    """The user object for a client that is not logged in."""

    @property
    def is_authenticated(self) -> bool:
        """False."""
        return False

    @property
    def is_active(self) -> bool:
        """False."""
        return False

    @property
    def is_anonymous(self) -> bool:
        """True."""
        return True

    def get_id(self) -> None:
        """Return None."""
        return None

    def get_session_token(self) -> None:
        """Return None."""
        return None


def _session_token(user: Any) -> str | None:
    getter = getattr(user, "get_session_token", None)
    token = getter() if callable(getter) else None
    return None if token is None else str(token)


# -- revocation ---------------------------------------------------------------------------------


class RevocationStore(Protocol):
    """Where logged-out session ids are kept until their cookies would have expired."""

    def revoke(self, sid: str, ttl: float) -> None:
        """Remember ``sid`` as revoked for ``ttl`` seconds."""

    def is_revoked(self, sid: str) -> bool:
        """Tell whether ``sid`` was revoked."""
        ...


class MemoryRevocationStore:
    """Keep revoked session ids in this process (the default).

    Thread-safe and bounded: past ``max_entries`` the oldest entries are dropped. Under
    several worker processes use :class:`RedisRevocationStore` (or per-user session tokens),
    since a replayed cookie may reach a worker that did not see the logout.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = _now) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def revoke(self, sid: str, ttl: float) -> None:
        """Remember ``sid`` as revoked for ``ttl`` seconds."""
        now = self.clock()
        with self._lock:
            entries = self._entries
            entries[sid] = now + ttl
            entries.move_to_end(sid)
            if len(entries) > self.max_entries:
                # PERF: sweep expired ids at most once a second; otherwise drop the oldest.
                if now >= self._next_sweep:
                    self._next_sweep = now + 1.0
                    for key in [k for k, exp in entries.items() if exp <= now]:
                        del entries[key]
                while len(entries) > self.max_entries:
                    entries.popitem(last=False)

    def is_revoked(self, sid: str) -> bool:
        """Tell whether ``sid`` was revoked (and has not expired from the store)."""
        with self._lock:
            expires = self._entries.get(sid)
            if expires is None:
                return False
            if expires <= self.clock():
                del self._entries[sid]
                return False
            return True


class RedisRevocationStore:
    """Keep revoked session ids in Redis, shared by every worker (a redis-py client)."""

    def __init__(self, client: Any, prefix: str = "erlen:revoked:") -> None:
        self.client = client
        self.prefix = prefix

    def revoke(self, sid: str, ttl: float) -> None:
        """Store ``sid`` with an expiry of ``ttl`` seconds."""
        self.client.set(self.prefix + sid, b"1", ex=max(1, math.ceil(ttl)))

    def is_revoked(self, sid: str) -> bool:
        """Tell whether ``sid`` is stored."""
        return bool(self.client.exists(self.prefix + sid))


# -- per-request state --------------------------------------------------------------------------


def _request_state(create: bool = True) -> dict[str, Any] | None:
    """Return this request's auth state (kept on ``g``, tied to the request context)."""
    req_ctx = get_request_context()
    if req_ctx is None:
        return None
    g = app_ctx.g
    pair = g.__dict__.get("_erlen_auth")
    if pair is not None and pair[0] is req_ctx:
        return pair[1]  # type: ignore[no-any-return]
    if not create:
        return None
    state: dict[str, Any] = {}
    setattr(g, "_erlen_auth", (req_ctx, state))
    return state


def _call(func: Callable[..., Any], *args: Any) -> Steps:
    """Call a sync or async callback from dispatch steps."""
    rv = func(*args)
    if inspect.isawaitable(rv):
        rv = yield rv
    return rv


def _regenerate(sess: Any) -> None:
    # A server-side session interface can give the session a new id here.
    regenerate = getattr(sess, "regenerate", None)
    if callable(regenerate):
        regenerate()


def _seconds(value: timedelta | float | int) -> int:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return int(value)


def _serializer_for(
    secret_key: str | bytes, fallbacks: Iterable[str | bytes] | None, salt: str
) -> URLSafeTimedSerializer:
    from itsdangerous import URLSafeTimedSerializer

    # itsdangerous signs with the last key and accepts every key in the list.
    keys: list[str | bytes] = list(reversed(list(fallbacks or ())))
    keys.append(secret_key)
    return URLSafeTimedSerializer(keys, salt=salt)  # type: ignore[arg-type]


def _app_serializer(app: Erlen, salt: str) -> URLSafeTimedSerializer:
    secret_key = app.config.get("SECRET_KEY")
    if not secret_key:
        raise RuntimeError("Logins and tokens need a SECRET_KEY in the app's config.")
    return _serializer_for(secret_key, app.config.get("SECRET_KEY_FALLBACKS"), salt)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AuthenticationRequired(Unauthorized):
    """401 with a JSON body and the given ``WWW-Authenticate`` challenges."""

    def __init__(self, description: str | None = None, challenges: Iterable[str] = ()) -> None:
        super().__init__(description)
        self.challenges = list(challenges)

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        """Return ``{"error": "unauthorized", "message": ...}``."""
        return json.dumps({"error": "unauthorized", "message": self.description})

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        """Return the JSON content type and the challenges."""
        headers = [("Content-Type", "application/json")]
        headers.extend(("WWW-Authenticate", c) for c in self.challenges)
        return headers


# -- the login manager --------------------------------------------------------------------------

#: Config keys of the login manager, with their defaults (set with ``setdefault``).
LOGIN_CONFIG_DEFAULTS: dict[str, Any] = {
    "REMEMBER_COOKIE_NAME": "remember_token",
    "REMEMBER_COOKIE_DURATION": timedelta(days=365),
    "REMEMBER_COOKIE_DOMAIN": None,
    "REMEMBER_COOKIE_PATH": "/",
    "REMEMBER_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_REFRESH_EACH_REQUEST": False,
    "LOGIN_DISABLED": False,
}

#: Methods ``login_required`` lets through (CORS preflights carry no credentials).
EXEMPT_METHODS = {"OPTIONS"}

_REMEMBER_SALT = "erlen.remember-me"


def _identifier() -> str:
    request = request_ctx.request
    raw = f"{request.remote_addr or ''}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


class LoginManager:
    """Keep track of the logged-in user through the session (Flask-Login's API).

    Set ``login_view`` (an endpoint) for page redirects, register a ``user_loader``
    and, for API tokens, a ``request_loader``. ``session_protection`` is ``"basic"``
    (a session used from another address or browser stops being fresh), ``"strong"`` (it
    is logged out) or None. ``api_blueprints`` names blueprints whose views always answer
    401 JSON instead of redirecting.
    """

    def __init__(self, app: Erlen | None = None, add_context_processor: bool = True) -> None:
        #: The class of the object ``current_user`` is when nobody is logged in.
        self.anonymous_user: Callable[[], Any] = AnonymousUserMixin
        self.login_view: str | None = None
        self.blueprint_login_views: dict[str, str | None] = {}
        self.api_blueprints: set[str] = set()
        self.login_message: str | None = "Please log in to access this page."
        self.login_message_category = "message"
        self.refresh_view: str | None = None
        self.needs_refresh_message: str | None = "Please reauthenticate to access this page."
        self.needs_refresh_message_category = "message"
        self.session_protection: str | None = "basic"
        self.revocation_store: RevocationStore = MemoryRevocationStore()
        self._user_callback: Callable[[str], Any] | None = None
        self._request_callback: Callable[[Any], Any] | None = None
        self._unauthorized_callback: Callable[[], Any] | None = None
        self._needs_refresh_callback: Callable[[], Any] | None = None
        if app is not None:
            self.init_app(app, add_context_processor)

    def init_app(self, app: Erlen, add_context_processor: bool = True) -> None:
        """Attach to ``app``: config defaults, the remember-me hook, ``current_user`` in templates."""
        app.login_manager = self  # type: ignore[attr-defined]
        app.extensions["login_manager"] = self
        for key, value in LOGIN_CONFIG_DEFAULTS.items():
            app.config.setdefault(key, value)
        app.after_request(self._after_request)
        if add_context_processor:
            app.context_processor(_user_context_processor)

    # -- callbacks ------------------------------------------------------------------------

    def user_loader(self, callback: F) -> F:
        """Register ``callback(user_id: str) -> user | None``."""
        self._user_callback = callback
        return callback

    def request_loader(self, callback: F) -> F:
        """Register ``callback(request) -> user | None`` for requests without a session login."""
        self._request_callback = callback
        return callback

    def unauthorized_handler(self, callback: F) -> F:
        """Register what ``login_required`` returns for an anonymous user."""
        self._unauthorized_callback = callback
        return callback

    def needs_refresh_handler(self, callback: F) -> F:
        """Register what ``fresh_login_required`` returns for a stale login."""
        self._needs_refresh_callback = callback
        return callback

    # -- refusing ------------------------------------------------------------------------------

    def wants_json(self) -> bool:
        """Tell whether the current request should get 401 JSON rather than a redirect.

        True in an ``api_blueprints`` blueprint, for a JSON body, an ``XMLHttpRequest``,
        a bearer ``Authorization`` header, or an ``Accept`` header preferring JSON to HTML.
        """
        request = request_ctx.request
        if self.api_blueprints and any(bp in self.api_blueprints for bp in request.blueprints):
            return True
        if request.is_json:
            return True
        if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
            return True
        if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
            return True
        accept = request.accept_mimetypes
        if not accept:
            return False
        return accept["application/json"] > accept["text/html"]

    def _deny(self, refresh: bool) -> Any:
        request = request_ctx.request
        if refresh:
            view = self.refresh_view
            message, category = self.needs_refresh_message, self.needs_refresh_message_category
            description = "A fresh login is required."
        else:
            view = self.login_view
            for bp in request.blueprints:
                if bp in self.blueprint_login_views:
                    view = self.blueprint_login_views[bp]
                    break
            message, category = self.login_message, self.login_message_category
            description = "Authentication required."
        if self.wants_json() or not view:
            raise AuthenticationRequired(description)
        if message:
            from ..helpers import flash

            flash(message, category)
        from ..helpers import redirect

        next_url: str | None = _current_path()
        if not is_safe_url(next_url):
            next_url = None  # control characters or backslashes in the path: no "next"
        return redirect(login_url(view, next_url))

    def _deny_steps(self, refresh: bool) -> Steps:
        _send(user_needs_refresh if refresh else user_unauthorized)
        callback = self._needs_refresh_callback if refresh else self._unauthorized_callback
        if callback is not None:
            return (yield from _call(callback))
        return self._deny(refresh)

    def unauthorized(self) -> Any:
        """Return the answer to an anonymous user (redirect, 401 JSON or the handler's)."""
        return drive_sync(self._deny_steps(False))

    def needs_refresh(self) -> Any:
        """Return the answer to a user whose login is not fresh."""
        return drive_sync(self._deny_steps(True))

    # -- loading the user -------------------------------------------------------------------------

    def _load_steps(self, state: dict[str, Any]) -> Steps:
        """Find the user of this request: session, then remember-me cookie, then request loader."""
        app = app_ctx.app
        request = request_ctx.request
        sess = request_ctx.session
        user = None
        user_id = sess.get("_user_id")
        if user_id is not None:
            user = yield from self._session_user(app, sess, user_id, state)
        if user is None and state.get("remember") != "clear":
            cookie = request.cookies.get(app.config["REMEMBER_COOKIE_NAME"])
            if cookie:
                user = yield from self._cookie_user(app, sess, cookie, state)
        if user is None and self._request_callback is not None:
            user = yield from _call(self._request_callback, request)
        if user is None:
            user = self.anonymous_user()
        state["user"] = user
        return user

    def _require_loader(self) -> Callable[[str], Any]:
        if self._user_callback is None:
            raise RuntimeError(
                "Missing user_loader: decorate a function with @login_manager.user_loader."
            )
        return self._user_callback

    def _logout_session(self, sess: SessionMixin, state: dict[str, Any]) -> None:
        sess.clear()
        _regenerate(sess)
        state["remember"] = "clear"

    def _session_user(
        self, app: Erlen, sess: SessionMixin, user_id: Any, state: dict[str, Any]
    ) -> Steps:
        sid = sess.get("_sid")
        if sid is not None and self.revocation_store.is_revoked(str(sid)):
            self._logout_session(sess, state)
            return None
        user = yield from _call(self._require_loader(), user_id)
        if user is None:
            self._logout_session(sess, state)
            return None
        if not _tokens_match(sess.get("_utok"), _session_token(user)):
            self._logout_session(sess, state)
            return None
        mode = app.config.get("SESSION_PROTECTION", self.session_protection)
        if mode:
            ident = _identifier()
            stored = sess.get("_id")
            if stored is None:
                sess["_id"] = ident
            elif not hmac.compare_digest(str(stored), ident):
                _send(session_protected)
                if mode == "strong":
                    self._logout_session(sess, state)
                    return None
                if sess.get("_fresh") is not False:
                    sess["_fresh"] = False
        return user

    def _cookie_user(
        self, app: Erlen, sess: SessionMixin, cookie: str, state: dict[str, Any]
    ) -> Steps:
        payload = _read_remember_cookie(app, cookie)
        if payload is None or self.revocation_store.is_revoked(payload["s"]):
            state["remember"] = "clear"
            return None
        user = yield from _call(self._require_loader(), payload["u"])
        if user is None or not _tokens_match(payload.get("t"), _session_token(user)):
            state["remember"] = "clear"
            return None
        # A new session for the restored login (same login series, so logout revokes both).
        sess.clear()
        _regenerate(sess)
        sess["_user_id"] = payload["u"]
        sess["_sid"] = payload["s"]
        sess["_fresh"] = False
        sess["_remember_seconds"] = payload["d"]
        if payload.get("t") is not None:
            sess["_utok"] = payload["t"]
        if app.config.get("SESSION_PROTECTION", self.session_protection):
            sess["_id"] = _identifier()
        _send(user_loaded_from_cookie, user=user)
        return user

    # -- the remember-me cookie ---------------------------------------------------------------------

    def _after_request(self, response: Response) -> Response:
        state = _request_state(create=False)
        action = state.get("remember") if state is not None else None
        app = app_ctx.app
        config = app.config
        if action == "set":
            self._set_cookie(app, response)
        elif action == "clear":
            if config["REMEMBER_COOKIE_NAME"] in request_ctx.request.cookies:
                response.delete_cookie(
                    config["REMEMBER_COOKIE_NAME"],
                    path=config["REMEMBER_COOKIE_PATH"],
                    domain=config["REMEMBER_COOKIE_DOMAIN"],
                    secure=config["REMEMBER_COOKIE_SECURE"],
                    httponly=config["REMEMBER_COOKIE_HTTPONLY"],
                    samesite=config["REMEMBER_COOKIE_SAMESITE"],
                )
        elif (
            config["REMEMBER_COOKIE_REFRESH_EACH_REQUEST"]
            and state is not None
            and getattr(state.get("user"), "is_authenticated", False)
            and (opened := get_opened_session()) is not None
            and opened.get("_remember_seconds")
        ):
            self._set_cookie(app, response)
        return response

    def _set_cookie(self, app: Erlen, response: Response) -> None:
        sess = request_ctx.session
        seconds = int(
            sess.get("_remember_seconds") or _seconds(app.config["REMEMBER_COOKIE_DURATION"])
        )
        payload = {
            "u": sess.get("_user_id"),
            "s": sess.get("_sid"),
            "t": sess.get("_utok"),
            "d": seconds,
        }
        value = _app_serializer(app, _REMEMBER_SALT).dumps(payload)
        config = app.config
        response.set_cookie(
            config["REMEMBER_COOKIE_NAME"],
            value,
            max_age=seconds,
            expires=datetime.now(timezone.utc) + timedelta(seconds=seconds),
            path=config["REMEMBER_COOKIE_PATH"],
            domain=config["REMEMBER_COOKIE_DOMAIN"],
            secure=config["REMEMBER_COOKIE_SECURE"],
            httponly=config["REMEMBER_COOKIE_HTTPONLY"],
            samesite=config["REMEMBER_COOKIE_SAMESITE"],
        )

    def _revocation_ttl(self, app: Erlen, sess: SessionMixin) -> float:
        return float(
            max(
                _seconds(app.permanent_session_lifetime),
                _seconds(app.config["REMEMBER_COOKIE_DURATION"]),
                int(sess.get("_remember_seconds") or 0),
            )
        )


def _tokens_match(stored: Any, current: str | None) -> bool:
    if stored is None and current is None:
        return True
    if stored is None or current is None:
        return False
    return hmac.compare_digest(str(stored).encode(), current.encode())


def _read_remember_cookie(app: Erlen, cookie: str) -> dict[str, Any] | None:
    from itsdangerous import BadData

    try:
        payload, signed_at = _app_serializer(app, _REMEMBER_SALT).loads(
            cookie, return_timestamp=True
        )
    except (BadData, ValueError, TypeError, UnicodeError, RecursionError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        return None
    if payload.get("u") is None or not isinstance(payload.get("d"), int):
        return None
    if _now() - signed_at.timestamp() > payload["d"]:
        return None
    return payload


def _user_context_processor() -> dict[str, Any]:
    return {"current_user": current_user}


def _manager(app: Erlen | None = None) -> LoginManager:
    if app is None:
        app = app_ctx.app
    manager = app.extensions.get("login_manager")
    if manager is None:
        raise RuntimeError(
            "No LoginManager is set up on this app: call LoginManager(app) or login_manager.init_app(app)."
        )
    return manager  # type: ignore[no-any-return]


def _get_user() -> Any:
    """Return the current user, loading it on first use in the request."""
    state = _request_state()
    if state is None:
        return None
    if "user" in state:
        return state["user"]
    app = app_ctx.app
    manager = app.extensions.get("login_manager")
    if manager is None:
        state["user"] = AnonymousUserMixin()
        return state["user"]
    return drive_sync(manager._load_steps(state))


async def aload_current_user() -> Any:
    """Load the current user from async code (awaiting an ``async def`` user loader)."""
    state = _request_state()
    if state is None:
        return None
    if "user" in state:
        return state["user"]
    app = app_ctx.app
    manager = app.extensions.get("login_manager")
    if manager is None:
        state["user"] = AnonymousUserMixin()
        return state["user"]
    return await drive_async(manager._load_steps(state))


class _CurrentUserProxy(ContextProxy):
    """``current_user``: the request's user, loaded on first use (None outside a request)."""

    __slots__ = ()

    def _get_current_object(self) -> Any:
        return _get_user()

    def __getattr__(self, name: str) -> Any:
        return getattr(_get_user(), name)


#: The logged-in user, or the anonymous user object; None outside a request. The proxy's
#: context variable is never read: ``_get_current_object`` finds the user.
current_user: Any = _CurrentUserProxy(
    ContextVar("erlen.current_user"), None, "Working outside of request context."
)


# -- logging in and out ---------------------------------------------------------------------------


def login_user(
    user: Any,
    remember: bool = False,
    duration: timedelta | int | None = None,
    force: bool = False,
    fresh: bool = True,
) -> bool:
    """Log ``user`` in: clear the session, give it a new session id, remember the user.

    Returns False (and logs nobody in) for an inactive user unless ``force``. ``remember``
    also sets the remember-me cookie, valid for ``duration`` (a timedelta or seconds;
    ``REMEMBER_COOKIE_DURATION`` by default). Set other session values after this call.
    """
    if not force and not getattr(user, "is_active", True):
        return False
    app = app_ctx.app
    manager = _manager(app)
    sess = request_ctx.session
    state = _request_state()
    assert state is not None
    sess.clear()
    _regenerate(sess)
    sess["_user_id"] = user.get_id()
    sess["_sid"] = secrets.token_urlsafe(24)
    sess["_fresh"] = fresh
    token = _session_token(user)
    if token is not None:
        sess["_utok"] = token
    if app.config.get("SESSION_PROTECTION", manager.session_protection):
        sess["_id"] = _identifier()
    if remember:
        seconds = _seconds(
            duration if duration is not None else app.config["REMEMBER_COOKIE_DURATION"]
        )
        sess["_remember_seconds"] = seconds
        state["remember"] = "set"
    else:
        state["remember"] = "clear"  # a cookie left by an earlier login must not outlive it
    state["user"] = user
    _send(user_logged_in, user=user)
    return True


def logout_user() -> bool:
    """Log the current user out: revoke the session id, clear the session and remember-me cookie.

    A copy of the session or remember-me cookie taken before this call no longer logs
    anybody in (see ``LoginManager.revocation_store``).
    """
    app = app_ctx.app
    manager = _manager(app)
    user = _get_user()
    sess = request_ctx.session
    state = _request_state()
    assert state is not None
    ttl = manager._revocation_ttl(app, sess)
    sids = set()
    if sess.get("_sid"):
        sids.add(str(sess["_sid"]))
    cookie = request_ctx.request.cookies.get(app.config["REMEMBER_COOKIE_NAME"])
    if cookie:
        payload = _read_remember_cookie(app, cookie)
        if payload is not None:
            sids.add(payload["s"])
    for sid in sids:
        manager.revocation_store.revoke(sid, ttl)
    sess.clear()
    _regenerate(sess)
    state["remember"] = "clear"
    state["user"] = manager.anonymous_user()
    _send(user_logged_out, user=user)
    return True


def login_fresh() -> bool:
    """Tell whether the current login was made in this session (not from a remember-me cookie)."""
    return bool(request_ctx.session.get("_fresh", False))


def confirm_login() -> None:
    """Mark the current login as fresh again (after the user re-entered a password)."""
    sess = request_ctx.session
    sess["_fresh"] = True
    manager = _manager()
    if current_app.config.get("SESSION_PROTECTION", manager.session_protection):
        sess["_id"] = _identifier()


# -- redirects ------------------------------------------------------------------------------------


def _current_path() -> str:
    """Return the request's path and query string, as the ``next`` of a login redirect."""
    request = request_ctx.request
    # One leading slash: "//evil.example" (a catch-all route, or "/%2F/evil.example"
    # decoded) would be another site as a redirect target.
    path = "/" + (request.root_path + request.path).lstrip("/\\")
    qs = request.query_string.decode("utf-8", "replace")
    return f"{path}?{qs}" if qs else path


def login_url(login_view: str, next_url: str | None = None, next_field: str = "next") -> str:
    """Return the URL of ``login_view`` (an endpoint or a URL) with ``next`` in its query."""
    if login_view.startswith(("/", "http://", "https://")):
        base = login_view
    else:
        from ..helpers import url_for

        base = url_for(login_view)
    if next_url is None:
        return base
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != next_field]
    query.append((next_field, next_url))
    return urlunsplit(parts._replace(query=urlencode(query)))


_UNSAFE_URL = re.compile(r"[\x00-\x1f\x7f\\]")
_UNPLAIN_AUTHORITY = re.compile(r"^$|[@%]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_AUTHORITY_END = re.compile(r"[/\\?#]")
_PORT = re.compile(r"[0-9]*")
_FORBIDDEN_DOMAIN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
# Where IDNA 2003 (Python's codec) and the UTS 46 mapping browsers use give other hosts.
_IDNA_DEVIATIONS = re.compile("[\u00df\u03c2\u1e9e\u200c\u200d]")
_IPV4_LAST = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_IPV4_DIGITS = {
    8: re.compile(r"[0-7]*"),
    10: re.compile(r"[0-9]+"),
    16: re.compile(r"[0-9A-Fa-f]*"),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DECODE_LAYERS = 4

#: An origin: scheme, host (ASCII, lower case; IPv4 dotted, IPv6 in brackets) and port
#: (None for the scheme's default port).
_Origin = tuple[str, str, int | None]


def _url_origin(target: str, base: _Origin) -> _Origin | None:
    """Return the origin a browser gives ``target`` on a page of origin ``base`` (http/https).

    Follows the WHATWG URL standard's parser for the special schemes: leading and trailing
    C0 controls and spaces are trimmed and tabs and newlines removed everywhere; ``\\`` is a
    ``/``; after ``http:`` or ``https:`` (other than the base's) any number of slashes, even
    none, leads to the host, and so do two or more slashes at the start of a relative target;
    ``https:x`` on an ``https`` page is relative. The host is percent-decoded, IDNA-mapped,
    lower-cased and IPv4/IPv6-normalised, and a default port dropped. Returns None for any
    other scheme (``javascript:``, ``data:``, ...) and for what a browser fails to parse.
    """
    url = _TAB_OR_NEWLINE.sub("", target.strip(_C0_OR_SPACE))
    match = _SCHEME.match(url)
    if match is None:
        scheme, rest, relative = base[0], url, True
    else:
        scheme, rest = url[: match.end() - 1].lower(), url[match.end() :]
        if scheme not in _DEFAULT_PORTS:
            return None
        relative = scheme == base[0]
    if relative and not (rest[:1] in ("/", "\\") and rest[1:2] in ("/", "\\")):
        return base  # a path, query or fragment: the base's origin
    authority = _AUTHORITY_END.split(rest.lstrip("/\\"), 1)[0]
    host_port = authority.rpartition("@")[2]
    inside = False
    host, port_text = host_port, ""
    for i, char in enumerate(host_port):
        if char == "[":
            inside = True
        elif char == "]":
            inside = False
        elif char == ":" and not inside:
            host, port_text = host_port[:i], host_port[i + 1 :]
            break
    if not _PORT.fullmatch(port_text):
        return None
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    parsed = _parse_host(host) if host else None
    return None if parsed is None else (scheme, parsed, port)


def _parse_host(host: str) -> str | None:
    """Parse the host of an http(s) URL as browsers do (None where they fail)."""
    if host[:1] == "[":
        return _parse_ipv6(host[1:-1]) if host[-1:] == "]" else None
    domain = unquote_to_bytes(host).decode("utf-8", "replace")
    if domain.isascii():
        domain = domain.lower()
    else:
        if _IDNA_DEVIATIONS.search(domain):
            return None  # mapped differently by UTS 46: leave it unresolved
        try:
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    if not domain or _FORBIDDEN_DOMAIN.search(domain):
        return None
    labels = domain.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if _IPV4_LAST.fullmatch(labels[-1]):  # "ends in a number": an IPv4 address or nothing
        return _parse_ipv4(labels)
    return domain


def _parse_ipv4(parts: list[str]) -> str | None:
    """Parse a host ending in a number as browsers do: ``0x7f.1`` is ``127.0.0.1``."""
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        radix = 10
        if part[:2] in ("0x", "0X"):
            radix, part = 16, part[2:]
        elif len(part) > 1 and part[0] == "0":
            radix, part = 8, part[1:]
        if not _IPV4_DIGITS[radix].fullmatch(part):
            return None
        numbers.append(int(part, radix) if part else 0)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ".".join(str(value >> shift & 255) for shift in (24, 16, 8, 0))


def _parse_ipv6(text: str) -> str | None:
    """Parse an IPv6 address and serialise it as browsers do (``[::ffff:102:304]``)."""
    if not text.isascii() or "%" in text or "/" in text:
        return None
    try:
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        return None
    pieces = [value >> (112 - 16 * i) & 0xFFFF for i in range(8)]
    # Compress the first longest run of two or more zero pieces.
    best_start, best_len, i = -1, 1, 0
    while i < 8:
        if pieces[i]:
            i += 1
            continue
        j = i
        while j < 8 and not pieces[j]:
            j += 1
        if j - i > best_len:
            best_start, best_len = i, j - i
        i = j
    if best_start < 0:
        return "[" + ":".join(f"{p:x}" for p in pieces) + "]"
    head = ":".join(f"{p:x}" for p in pieces[:best_start])
    tail = ":".join(f"{p:x}" for p in pieces[best_start + best_len :])
    return f"[{head}::{tail}]"


def _request_origin() -> _Origin:
    """Return the origin of the current request (host "" when there is none, or no valid host)."""
    req_ctx = get_request_context()
    if req_ctx is None:
        return ("http", "", None)
    request = req_ctx.request
    scheme = "https" if request.scheme in ("https", "wss") else "http"
    host = request.host
    origin = _url_origin(f"{scheme}://{host}/", (scheme, "", None)) if host else None
    return origin or (scheme, "", None)


def _is_safe_layer(target: str, base: _Origin) -> bool:
    """Check one form of a target: plainly written, and resolving to ``base``."""
    if not target or _UNSAFE_URL.search(target) or target[0] == " " or target[-1] == " ":
        return False
    match = _SCHEME.match(target)
    if match is not None:
        # An absolute URL: http(s), then "//" and a plain ASCII host without user info.
        rest = target[match.end() :]
        if match.group().lower() not in ("http:", "https:") or rest[:2] != "//":
            return False
        authority = _AUTHORITY_END.split(rest[2:], 1)[0]
        if not authority.isascii() or _UNPLAIN_AUTHORITY.search(authority):
            return False
    elif target[:2] == "//":
        return False  # scheme-relative
    return _url_origin(target, base) == base


def is_safe_url(target: str | None) -> bool:
    """Tell whether redirecting to ``target`` (a ``next`` parameter) keeps the client on this site.

    True for a relative URL (``/account?x=1``, ``posts``, ``?page=2``, ``#top``) and for an
    absolute ``http(s)://`` URL whose origin (scheme, host, port) is the request's. The target
    is resolved as browsers resolve it (WHATWG URL rules), so every form that leads to another
    site is refused: ``//evil``, ``////evil``, ``/\\evil``, ``http:evil``, ``https://site@evil``,
    other schemes (``javascript:``, ``data:``...), another port. Refused as well, though a
    browser may stay on the site with them: control characters, backslashes, a leading or
    trailing space, ``//site/x``, ``https:x``, user info, a percent-encoded or non-ASCII host;
    and any target whose percent-decoded form (decoded again by some other component) would
    be refused. Without a request only relative URLs pass.
    """
    if not isinstance(target, str) or not target:
        return False
    base = _request_origin()
    for _ in range(_DECODE_LAYERS):
        if not _is_safe_layer(target, base):
            return False
        decoded = unquote(target)
        if decoded == target:
            return True
        target = decoded
    return False


# -- decorators ------------------------------------------------------------------------------------


def _login_disabled() -> bool:
    request = request_ctx.request
    return request.method in EXEMPT_METHODS or bool(current_app.config.get("LOGIN_DISABLED"))


def _declare_security(view: Any, schemes: tuple[str, ...]) -> Any:
    """Say on the view which credentials it needs, for the OpenAPI document's ``security``."""
    view.openapi_security = [{name: []} for name in schemes]
    return view


def _wrap_login(func: F, fresh: bool) -> F:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            if not _login_disabled():
                user = await aload_current_user()
                refused = None
                if not getattr(user, "is_authenticated", False):
                    refused = False
                elif fresh and not login_fresh():
                    refused = True
                if refused is not None:
                    return await drive_async(_manager()._deny_steps(refused))
            return await func(*args, **kwargs)

        return _declare_security(async_view, ("sessionCookie",))  # type: ignore[no-any-return]

    @functools.wraps(func)
    def view(*args: Any, **kwargs: Any) -> Any:
        if not _login_disabled():
            user = _get_user()
            if not getattr(user, "is_authenticated", False):
                return _manager().unauthorized()
            if fresh and not login_fresh():
                return _manager().needs_refresh()
        return func(*args, **kwargs)

    return _declare_security(view, ("sessionCookie",))  # type: ignore[no-any-return]


def login_required(func: F) -> F:
    """Let only logged-in users call a view (sync or async; it stays what it was).

    Others get the login manager's answer: a redirect to ``login_view`` with ``next``
    for pages, 401 JSON for JSON/API requests (see :meth:`LoginManager.wants_json`).
    """
    return _wrap_login(func, fresh=False)


def fresh_login_required(func: F) -> F:
    """Like :func:`login_required`, and the login must be fresh (not from a remember-me cookie)."""
    return _wrap_login(func, fresh=True)


# -- tokens -------------------------------------------------------------------------------------------

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _parse_basic(credentials: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(credentials, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    username, sep, password = text.partition(":")
    if not sep:
        return None
    return username, password


class TokenAuth:
    """Issue and check signed, expiring bearer tokens; guard API views.

    ``issue(data)`` signs JSON-serialisable ``data`` (a dict such as ``{"uid": 1, "v": 3}``)
    with ``secret_key`` (the app's ``SECRET_KEY`` by default) and the time; ``verify(token)``
    returns the data, or None for a forged, malformed or expired (older than ``max_age``
    seconds) token. Changing the key revokes every token; keys listed in ``fallback_keys``
    (``SECRET_KEY_FALLBACKS`` by default) still verify, for a graceful rotation. To revoke
    one user's tokens, put a version number in the data and check it in ``verify_token``.
    """

    def __init__(
        self,
        secret_key: str | bytes | None = None,
        salt: str = "erlen-token",
        max_age: int | None = 3600,
        *,
        fallback_keys: Iterable[str | bytes] | None = None,
        app: Erlen | None = None,
    ) -> None:
        self.secret_key = secret_key
        self.salt = salt
        self.max_age = max_age
        self.fallback_keys = None if fallback_keys is None else list(fallback_keys)
        self._verify_token: Callable[[str], Any] | None = None
        self._verify_password: Callable[[str, str], Any] | None = None
        self._cache: tuple[Any, URLSafeTimedSerializer] | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Make this the app's token authority (used by the module-level :func:`auth_required`)."""
        app.extensions["token_auth"] = self

    def _serializer(self) -> URLSafeTimedSerializer:
        key = self.secret_key
        fallbacks = self.fallback_keys
        if key is None:
            config = current_app.config
            key = config.get("SECRET_KEY")
            if fallbacks is None:
                fallbacks = config.get("SECRET_KEY_FALLBACKS")
        if not key:
            raise RuntimeError("TokenAuth needs a secret key: pass secret_key or set SECRET_KEY.")
        cache_key = (key, tuple(fallbacks or ()))
        cached = self._cache
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        serializer = _serializer_for(key, fallbacks, self.salt)
        self._cache = (cache_key, serializer)
        return serializer

    def issue(self, data: Any) -> str:
        """Return a signed token carrying ``data`` and the time of issue."""
        return self._serializer().dumps(data)

    def verify(self, token: str | bytes | None, max_age: int | None = None) -> Any:
        """Return the data of a valid token, or None (forged, malformed or expired)."""
        if not token or not isinstance(token, (str, bytes)) or len(token) > 8192:
            return None
        from itsdangerous import BadData

        try:
            data, signed_at = self._serializer().loads(token, return_timestamp=True)
        except (BadData, ValueError, TypeError, UnicodeError, RecursionError):
            return None
        limit = self.max_age if max_age is None else max_age
        if limit is not None and _now() - signed_at.timestamp() > limit:
            return None
        return data

    def verify_token(self, callback: F) -> F:
        """Register ``callback(token) -> user | None`` for Bearer authentication."""
        self._verify_token = callback
        return callback

    def verify_password(self, callback: F) -> F:
        """Register ``callback(username, password) -> user | None`` for Basic authentication."""
        self._verify_password = callback
        return callback

    def auth_required(
        self,
        view: F | None = None,
        *,
        scheme: str | tuple[str, ...] = "bearer",
        realm: str | None = "api",
    ) -> Any:
        """Let only requests with valid credentials call a view; others get 401.

        ``scheme`` is ``"bearer"``, ``"basic"`` or both as a tuple. The user the callback
        returned is ``g.current_token_user`` and, when it is a user object, ``current_user``.
        """
        return _auth_decorator(self, view, scheme, realm)


def auth_required(
    view: F | None = None,
    *,
    scheme: str | tuple[str, ...] = "bearer",
    realm: str | None = "api",
) -> Any:
    """Guard a view with the app's :class:`TokenAuth` (``TokenAuth(app=app)`` / ``init_app``)."""
    return _auth_decorator(None, view, scheme, realm)


def _challenges(schemes: tuple[str, ...], realm: str | None, error: str | None) -> list[str]:
    out = []
    for name in schemes:
        params = []
        if realm is not None:
            params.append(f"realm={_quote(realm)}")
        if name == "bearer":
            if error is not None:
                params.append(f"error={_quote(error)}")
            out.append("Bearer " + ", ".join(params) if params else "Bearer")
        else:
            params.append('charset="UTF-8"')
            out.append("Basic " + ", ".join(params))
    return out


def _authenticate_steps(
    auth: TokenAuth | None, schemes: tuple[str, ...], realm: str | None
) -> Steps:
    if auth is None:
        auth = current_app.extensions.get("token_auth")
        if auth is None:
            raise RuntimeError(
                "auth_required needs a TokenAuth: TokenAuth(app=app) or init_app(app)."
            )
    request = request_ctx.request
    header = request.headers.get("Authorization", "").strip()
    kind, _, credentials = header.partition(" ")
    kind = kind.lower()
    credentials = credentials.strip()
    user: Any = None
    if kind == "bearer" and "bearer" in schemes:
        if not _TOKEN68.fullmatch(credentials):
            raise AuthenticationRequired(
                "The bearer token is malformed.", _challenges(schemes, realm, "invalid_token")
            )
        callback = auth._verify_token or auth.verify
        user = yield from _call(callback, credentials)
        if user is None or user is False:
            raise AuthenticationRequired(
                "The bearer token is invalid or has expired.",
                _challenges(schemes, realm, "invalid_token"),
            )
    elif kind == "basic" and "basic" in schemes:
        if auth._verify_password is None:
            raise RuntimeError("Basic authentication needs a @verify_password callback.")
        pair = _parse_basic(credentials)
        if pair is not None:
            user = yield from _call(auth._verify_password, *pair)
            if user is True:
                user = pair[0]
        if user is None or user is False:
            raise AuthenticationRequired(
                "Invalid username or password.", _challenges(schemes, realm, None)
            )
    else:
        raise AuthenticationRequired("Authentication required.", _challenges(schemes, realm, None))
    setattr(g, "current_token_user", user)
    if hasattr(user, "is_authenticated"):
        state = _request_state()
        if state is not None:
            state["user"] = user
    return user


def _auth_decorator(
    auth: TokenAuth | None, view: Any, scheme: str | tuple[str, ...], realm: str | None
) -> Any:
    if isinstance(view, (str, tuple)):  # auth_required("basic")
        view, scheme = None, view
    schemes = (scheme,) if isinstance(scheme, str) else tuple(scheme)
    schemes = tuple(s.lower() for s in schemes)
    bad = set(schemes) - {"bearer", "basic"}
    if bad or not schemes:
        raise ValueError(
            f"auth_required: unknown scheme(s) {sorted(bad)}; use 'bearer' and/or 'basic'."
        )

    declared = tuple(f"{name}Auth" for name in schemes)  # bearerAuth, basicAuth

    def decorator(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_view(*args: Any, **kwargs: Any) -> Any:
                await drive_async(_authenticate_steps(auth, schemes, realm))
                return await func(*args, **kwargs)

            return _declare_security(async_view, declared)  # type: ignore[no-any-return]

        @functools.wraps(func)
        def sync_view(*args: Any, **kwargs: Any) -> Any:
            drive_sync(_authenticate_steps(auth, schemes, realm))
            return func(*args, **kwargs)

        return _declare_security(sync_view, declared)  # type: ignore[no-any-return]

    if view is not None:
        return decorator(view)
    return decorator


__all__ = [
    "EXEMPT_METHODS",
    "LOGIN_CONFIG_DEFAULTS",
    "AnonymousUserMixin",
    "AuthenticationRequired",
    "LoginManager",
    "MemoryRevocationStore",
    "RedisRevocationStore",
    "RevocationStore",
    "TokenAuth",
    "UserMixin",
    "aload_current_user",
    "auth_required",
    "confirm_login",
    "current_user",
    "fresh_login_required",
    "is_safe_url",
    "login_fresh",
    "login_required",
    "login_url",
    "login_user",
    "logout_user",
    "session_protected",
    "user_loaded_from_cookie",
    "user_logged_in",
    "user_logged_out",
    "user_needs_refresh",
    "user_unauthorized",
]
