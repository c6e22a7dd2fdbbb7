"""CSRF protection for form posts (Flask-WTF's ``CSRFProtect`` API).

A random secret is kept in the session; the token a page embeds is that secret signed with
the time, so it can be checked without server state and expires after ``CSRF_TIME_LIMIT``
seconds. Every ``POST``/``PUT``/``PATCH``/``DELETE`` must send it back, in the form field
``csrf_token`` or an ``X-CSRFToken``/``X-CSRF-Token`` header; otherwise the request ends in a
400 :class:`CSRFError` that says what was wrong. The check runs in a ``before_request`` hook,
so it is the same for sync and async views, through the WSGI and the ASGI door.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from werkzeug.exceptions import BadRequest

from ..globals import app_ctx, current_app, g, get_request_context, request_ctx

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

    from ..app import Erlen
    from ..blueprints import Blueprint
    from ..request import Request

F = TypeVar("F", bound=Callable[..., Any])

#: Config keys of :class:`CSRFProtect`, with their defaults (set with ``setdefault``).
CSRF_CONFIG_DEFAULTS: dict[str, Any] = {
    # Check tokens at all (False turns CSRF protection off, in tests say).
    "CSRF_ENABLED": True,
    # Check every view automatically (False: only where ``csrf.protect()`` is called).
    "CSRF_CHECK_DEFAULT": True,
    "CSRF_METHODS": ["POST", "PUT", "PATCH", "DELETE"],
    "CSRF_FIELD_NAME": "csrf_token",
    "CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    # Seconds a token stays valid; None: as long as the session.
    "CSRF_TIME_LIMIT": 3600,
    # On HTTPS, also require a same-origin Referer header.
    "CSRF_SSL_STRICT": True,
    # Other origins accepted by the Referer check ("https://admin.example.com").
    "CSRF_TRUSTED_ORIGINS": [],
    # The key tokens are signed with; None: SECRET_KEY (and SECRET_KEY_FALLBACKS).
    "CSRF_SECRET_KEY": None,
    # Exempt requests with an ``Authorization: Bearer`` header and no session cookie.
    "CSRF_EXEMPT_BEARER": True,
}

_SESSION_KEY = "_csrf_token"
_SALT = "erlen-csrf-token"
_EXEMPT_ATTR = "_erlen_csrf_exempt"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_unset: Any = object()


def _now() -> float:
    """Return the current time (a seam for tests of expiry)."""
    return time.time()


class CSRFError(BadRequest):
    """The request failed the CSRF check (400); ``description`` says why.

    Handle it with ``@app.errorhandler(CSRFError)`` to render your own page.
    """

    description = "The CSRF token is missing."


def _serializer(secret_key: str | bytes | None = None) -> URLSafeTimedSerializer:
    from itsdangerous import URLSafeTimedSerializer

    config = current_app.config
    fallbacks: list[Any] = []
    if secret_key is None:
        secret_key = config.get("CSRF_SECRET_KEY")
    if secret_key is None:
        secret_key = config.get("SECRET_KEY")
        fallbacks = list(config.get("SECRET_KEY_FALLBACKS") or ())
    if not secret_key:
        raise RuntimeError("CSRF protection needs a SECRET_KEY (or CSRF_SECRET_KEY).")
    return URLSafeTimedSerializer([*reversed(fallbacks), secret_key], salt=_SALT)


def _request_cache() -> dict[str, Any]:
    """Return a dict that lives as long as the current request (kept on ``g``)."""
    req_ctx = get_request_context()
    if req_ctx is None:
        raise RuntimeError("Working outside of request context.")
    g = app_ctx.g
    pair = g.__dict__.get("_erlen_csrf")
    if pair is None or pair[0] is not req_ctx:
        pair = (req_ctx, {})
        setattr(g, "_erlen_csrf", pair)
    cache: dict[str, Any] = pair[1]
    return cache


def generate_csrf(secret_key: str | bytes | None = None, token_key: str | None = None) -> str:
    """Return a signed CSRF token for the current session (the ``csrf_token()`` template global).

    The session secret is created on first use; one request always gets the same token.
    """
    key = token_key or _SESSION_KEY
    cache = _request_cache()
    token: str | None = cache.get(key)
    if token is None:
        sess = request_ctx.session
        raw = sess.get(key)
        if not isinstance(raw, str) or not raw:
            raw = secrets.token_hex(20)
            sess[key] = raw
        token = cache[key] = _serializer(secret_key).dumps(raw)
    return token


def validate_csrf(
    data: str | None,
    secret_key: str | bytes | None = None,
    time_limit: int | None = _unset,
    token_key: str | None = None,
) -> None:
    """Check a token against the session; raise :class:`CSRFError` when it does not pass."""
    from itsdangerous import BadData

    if not data:
        raise CSRFError("The CSRF token is missing.")
    raw = request_ctx.session.get(token_key or _SESSION_KEY)
    if not raw or not isinstance(raw, str):
        raise CSRFError("The CSRF session token is missing.")
    try:
        value, signed_at = _serializer(secret_key).loads(data, return_timestamp=True)
    except (BadData, ValueError, TypeError, UnicodeError, RecursionError):
        raise CSRFError("The CSRF token is invalid.") from None
    if time_limit is _unset:
        time_limit = current_app.config.get("CSRF_TIME_LIMIT", 3600)
    if time_limit is not None and _now() - signed_at.timestamp() > time_limit:
        raise CSRFError("The CSRF token has expired.")
    if not isinstance(value, str) or not hmac.compare_digest(raw.encode(), value.encode()):
        raise CSRFError("The CSRF tokens do not match.")


def _same_origin(url: str, origin: str) -> bool:
    try:
        a, b = urlsplit(url), urlsplit(origin)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
    except ValueError:  # a malformed URL (a port out of range, a bad IPv6 host): not ours
        return False


class CSRFProtect:
    """Check a CSRF token on every unsafe request of an app.

    ``csrf = CSRFProtect(app)``; put ``{{ csrf_token() }}`` in forms (field ``csrf_token``)
    or send it in an ``X-CSRFToken`` header. ``csrf.exempt`` takes a view, a blueprint or an
    endpoint name. Requests that carry ``Authorization: Bearer`` and no session (or
    remember-me) cookie are exempt while ``CSRF_EXEMPT_BEARER`` is true: a browser never
    adds such a header by itself, so a cross-site page cannot forge them.
    """

    def __init__(self, app: Erlen | None = None) -> None:
        self._exempt_blueprints: set[str] = set()
        self._exempt_endpoints: set[str] = set()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Register the check and the ``csrf_token()`` template global on ``app``."""
        app.extensions["csrf"] = self
        for key, value in CSRF_CONFIG_DEFAULTS.items():
            app.config.setdefault(key, value)
        app.add_template_global(generate_csrf, "csrf_token")
        app.before_request(self._before_request)

    def exempt(self, view: F | Blueprint | str) -> Any:
        """Skip the check for a view (decorator), a blueprint or an endpoint name."""
        from ..blueprints import Blueprint

        if isinstance(view, Blueprint):
            self._exempt_blueprints.add(view.name)
        elif isinstance(view, str):
            self._exempt_endpoints.add(view)
        else:
            setattr(view, _EXEMPT_ATTR, True)
        return view

    def _is_exempt(self, app: Erlen, request: Request) -> bool:
        endpoint = request.endpoint
        if endpoint in self._exempt_endpoints:
            return True
        view = app.view_functions.get(endpoint) if endpoint is not None else None
        if getattr(view, _EXEMPT_ATTR, False):
            return True
        return any(bp in self._exempt_blueprints for bp in request.blueprints)

    def _before_request(self) -> None:
        app = app_ctx.app
        config = app.config
        if not config["CSRF_ENABLED"] or not config["CSRF_CHECK_DEFAULT"]:
            return
        request = request_ctx.request
        if request.method not in config["CSRF_METHODS"] or request.url_rule is None:
            return  # a routing error (404/405) is reported as such
        if self._is_exempt(app, request):
            return
        if config["CSRF_EXEMPT_BEARER"] and _bearer_without_cookie(app, request):
            return
        self.protect()

    def protect(self) -> None:
        """Check the current request now; raise :class:`CSRFError` when it fails."""
        app = app_ctx.app
        config = app.config
        request = request_ctx.request
        if request.method not in config["CSRF_METHODS"]:
            return
        validate_csrf(self._get_token(app, request))
        if request.is_secure and config["CSRF_SSL_STRICT"]:
            referrer = request.referrer
            if not referrer:
                raise CSRFError("The referrer header is missing.")
            good = f"https://{request.host}/"
            trusted = [good, *config.get("CSRF_TRUSTED_ORIGINS", ())]
            if not any(_same_origin(referrer, origin) for origin in trusted):
                raise CSRFError("The referrer does not match the host.")
        setattr(g, "csrf_valid", True)

    def _get_token(self, app: Erlen, request: Request) -> str | None:
        config = app.config
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        # A view that streams its own body has not received it: do not parse a form.
        if request.mimetype in _FORM_TYPES and not getattr(view, "_erlen_stream_body", False):
            value: str | None = request.form.get(config["CSRF_FIELD_NAME"])
            if value:
                return value
        for name in config["CSRF_HEADERS"]:
            value = request.headers.get(name)
            if value:
                return value
        return None


def _bearer_without_cookie(app: Erlen, request: Request) -> bool:
    if request.headers.get("Authorization", "")[:7].lower() != "bearer ":
        return False
    cookies = request.cookies
    for key in ("SESSION_COOKIE_NAME", "REMEMBER_COOKIE_NAME"):
        name = app.config.get(key)
        if name and name in cookies:
            return False
    return True


__all__ = ["CSRF_CONFIG_DEFAULTS", "CSRFError", "CSRFProtect", "generate_csrf", "validate_csrf"]
