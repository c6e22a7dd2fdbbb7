"""Security headers: a strict set of response headers, per app, blueprint and view.

:class:`SecurityHeaders` adds CSP, HSTS on HTTPS, ``X-Frame-Options`` and the rest to every
response; :func:`security_headers` changes them for one view and :func:`csp_nonce` gives a
template the request's CSP nonce. It works the same through the WSGI and the ASGI door: it
only uses hooks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..globals import get_app_context, get_request_context
from ._util import _blueprint_names, _view_of

if TYPE_CHECKING:
    from ..app import Erlen
    from ..blueprints import Blueprint
    from ..request import Request
    from ..response import Response

F = TypeVar("F", bound=Callable[..., Any])


#: The Content-Security-Policy sent by default: only this origin, no plugins, no framing.
DEFAULT_CSP: dict[str, str] = {
    "default-src": "'self'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
}

#: The Permissions-Policy sent by default: powerful features off for every origin.
DEFAULT_PERMISSIONS_POLICY: dict[str, str] = {
    "accelerometer": "()",
    "camera": "()",
    "geolocation": "()",
    "gyroscope": "()",
    "magnetometer": "()",
    "microphone": "()",
    "payment": "()",
    "usb": "()",
}

#: Every option of :class:`SecurityHeaders`, with its default. The config key of an option is
#: ``SECURITY_`` + its name in capitals (``SECURITY_FRAME_OPTIONS``).
SECURITY_HEADER_DEFAULTS: dict[str, Any] = {
    "content_security_policy": DEFAULT_CSP,
    "content_security_policy_report_only": False,
    "content_security_policy_nonce_in": (),
    "strict_transport_security": True,
    "strict_transport_security_max_age": 31_536_000,
    "strict_transport_security_include_subdomains": True,
    "strict_transport_security_preload": False,
    "force_https": False,
    "frame_options": "DENY",
    "content_type_options": True,
    "referrer_policy": "strict-origin-when-cross-origin",
    "permissions_policy": DEFAULT_PERMISSIONS_POLICY,
    "cross_origin_opener_policy": "same-origin",
    "cross_origin_resource_policy": None,
    "cross_origin_embedder_policy": None,
    "secure_cookies": False,
}

_HEADERS_ATTR = "_erlen_security_headers"
_HEADERS_EXEMPT_ATTR = "_erlen_security_headers_exempt"


def _policy_string(value: Any, joiner: str, pair: Callable[[str, str], str]) -> str | None:
    if not value:
        return None
    if isinstance(value, str):
        return value
    parts = []
    for key, item in value.items():
        if item is None or item is False:
            continue
        if not isinstance(item, str):
            item = " ".join(item)
        parts.append(pair(key, item))
    return joiner.join(parts)


def _csp_string(csp: Any, nonce: str | None, nonce_in: Iterable[str]) -> str | None:
    if nonce is not None and csp and not isinstance(csp, str):
        csp = {k: (v if isinstance(v, str) else " ".join(v)) for k, v in csp.items()}
        for directive in nonce_in:
            # A directive that was absent inherits default-src, so start from its value.
            base = csp.get(directive, csp.get("default-src", ""))
            csp[directive] = f"{base} 'nonce-{nonce}'".strip()
    return _policy_string(csp, "; ", lambda k, v: f"{k} {v}".strip())


def _build_headers(
    opts: Mapping[str, Any], secure: bool, nonce: str | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    csp = _csp_string(
        opts["content_security_policy"], nonce, opts["content_security_policy_nonce_in"] or ()
    )
    if csp:
        name = "Content-Security-Policy"
        if opts["content_security_policy_report_only"]:
            name += "-Report-Only"
        out.append((name, csp))
    if secure and opts["strict_transport_security"]:
        value = f"max-age={int(opts['strict_transport_security_max_age'])}"
        if opts["strict_transport_security_include_subdomains"]:
            value += "; includeSubDomains"
        if opts["strict_transport_security_preload"]:
            value += "; preload"
        out.append(("Strict-Transport-Security", value))
    if opts["content_type_options"]:
        out.append(("X-Content-Type-Options", "nosniff"))
    if opts["frame_options"]:
        out.append(("X-Frame-Options", str(opts["frame_options"])))
    if opts["referrer_policy"]:
        out.append(("Referrer-Policy", str(opts["referrer_policy"])))
    permissions = _policy_string(opts["permissions_policy"], ", ", lambda k, v: f"{k}={v}")
    if permissions:
        out.append(("Permissions-Policy", permissions))
    for key, name in (
        ("cross_origin_opener_policy", "Cross-Origin-Opener-Policy"),
        ("cross_origin_resource_policy", "Cross-Origin-Resource-Policy"),
        ("cross_origin_embedder_policy", "Cross-Origin-Embedder-Policy"),
    ):
        if opts[key]:
            out.append((name, str(opts[key])))
    return out


def _check_options(options: Mapping[str, Any], where: str) -> None:
    unknown = set(options) - set(SECURITY_HEADER_DEFAULTS)
    if unknown:
        raise TypeError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}.")


def csp_nonce() -> str:
    """Return this request's CSP nonce (a template global: ``<script nonce="{{ csp_nonce() }}">``).

    The nonce is added to the directives named by ``content_security_policy_nonce_in``
    of the response that uses it.
    """
    from ..globals import g

    nonce: str | None = g.get("_erlen_csp_nonce")
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
        setattr(g, "_erlen_csp_nonce", nonce)
    return nonce


def security_headers(**overrides: Any) -> Callable[[F], F]:
    """Override :class:`SecurityHeaders` options for one view.

    ``@security_headers(frame_options="SAMEORIGIN", content_security_policy=None)``;
    an option set to ``None`` or ``False`` drops its header for that view.
    """
    _check_options(overrides, "security_headers()")

    def decorator(view: F) -> F:
        merged = dict(getattr(view, _HEADERS_ATTR, {}))
        merged.update(overrides)
        setattr(view, _HEADERS_ATTR, merged)
        return view

    return decorator


class _HeadersState:
    """What :class:`SecurityHeaders` keeps for one app (``app.extensions["security_headers"]``)."""

    def __init__(self, ext: SecurityHeaders, app: Erlen, options: dict[str, Any]) -> None:
        self.ext = ext
        self.app = app
        self.options = options
        # endpoint -> (options, headers over HTTP, headers over HTTPS), or None when exempt
        self._cache: dict[str | None, tuple[dict[str, Any], list[Any], list[Any]] | None] = {}

    def _entry(self, request: Request) -> tuple[dict[str, Any], list[Any], list[Any]] | None:
        endpoint = request.endpoint
        try:
            return self._cache[endpoint]
        except KeyError:
            pass
        entry: tuple[dict[str, Any], list[Any], list[Any]] | None
        view = _view_of(self.app, request)
        exempt = getattr(view, _HEADERS_EXEMPT_ATTR, False) or any(
            name in self.ext._exempt_blueprints for name in request.blueprints
        )
        if exempt:
            entry = None
        else:
            opts = self.options
            overrides = getattr(view, _HEADERS_ATTR, None)
            if overrides:
                opts = {**opts, **overrides}
            entry = (opts, _build_headers(opts, False, None), _build_headers(opts, True, None))
        if len(self._cache) < 4096:
            self._cache[endpoint] = entry
        return entry

    def before_request(self) -> Any:
        ctx = get_request_context()
        if ctx is None:
            return None
        request = ctx.request
        if request.is_secure or self.app.debug:
            return None
        entry = self._entry(request)
        if entry is None or not entry[0]["force_https"] or not request.host:
            # No valid Host: "https:///evil/x" would send the client to the host "evil".
            return None
        from ..helpers import redirect

        url = "https://" + request.url.partition("://")[2]
        return redirect(url, 301 if request.method in ("GET", "HEAD") else 308)

    def after_request(self, response: Response) -> Response:
        ctx = get_request_context()
        if ctx is None:
            return response
        request = ctx.request
        entry = self._entry(request)
        if entry is None:
            return response
        opts, plain, secure = entry
        headers = secure if request.is_secure else plain
        nonce = None
        app_ctx = get_app_context()
        if app_ctx is not None and opts["content_security_policy_nonce_in"]:
            nonce = app_ctx.g.get("_erlen_csp_nonce")
        if nonce is not None:
            headers = _build_headers(opts, request.is_secure, nonce)
        target = response.headers
        for name, value in headers:
            # A header the view set itself wins.
            if name not in target:
                target[name] = value
        return response


class SecurityHeaders:
    """Add a strict set of security headers to every response.

    ``SecurityHeaders(app)`` sends by default: ``Content-Security-Policy`` (:data:`DEFAULT_CSP`),
    ``Strict-Transport-Security`` on HTTPS requests only, ``X-Content-Type-Options: nosniff``,
    ``X-Frame-Options: DENY``, ``Referrer-Policy: strict-origin-when-cross-origin``,
    ``Permissions-Policy`` (:data:`DEFAULT_PERMISSIONS_POLICY`) and
    ``Cross-Origin-Opener-Policy: same-origin``. Every option (see
    :data:`SECURITY_HEADER_DEFAULTS`) may be given here or as a ``SECURITY_*`` config key
    (the app's config wins), and per view with :func:`security_headers`. A header the view
    set itself is left alone. ``secure_cookies=True`` also makes the session and
    remember-me cookies ``Secure``, ``HttpOnly`` and ``SameSite=Lax``.
    """

    def __init__(self, app: Erlen | None = None, **options: Any) -> None:
        _check_options(options, "SecurityHeaders()")
        self.options = options
        self._exempt_blueprints: set[str] = set()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Register the hooks on ``app`` and fill in its ``SECURITY_*`` config defaults."""
        resolved: dict[str, Any] = {}
        for name, default in SECURITY_HEADER_DEFAULTS.items():
            key = "SECURITY_" + name.upper()
            resolved[name] = app.config.setdefault(key, self.options.get(name, default))
        if resolved["secure_cookies"]:
            for prefix in ("SESSION_COOKIE_", "REMEMBER_COOKIE_"):
                app.config[prefix + "SECURE"] = True
                app.config[prefix + "HTTPONLY"] = True
                if not app.config.get(prefix + "SAMESITE"):
                    app.config[prefix + "SAMESITE"] = "Lax"
        state = _HeadersState(self, app, resolved)
        app.extensions["security_headers"] = state
        if resolved["force_https"]:
            # PERF: no hook at all for the common case; per view it can only be turned off.
            app.before_request(state.before_request)
        app.after_request(state.after_request)
        app.add_template_global(csp_nonce, "csp_nonce")

    def exempt(self, view: F | Blueprint) -> Any:
        """Send no security headers for a view (decorator) or a whole blueprint."""
        name = _blueprint_names(view)
        if name is not None:
            self._exempt_blueprints.add(name)
            return view
        setattr(view, _HEADERS_EXEMPT_ATTR, True)
        return view


# -- CORS --------------------------------------------------------------------------------------


__all__ = [
    "DEFAULT_CSP",
    "DEFAULT_PERMISSIONS_POLICY",
    "SECURITY_HEADER_DEFAULTS",
    "SecurityHeaders",
    "csp_nonce",
    "security_headers",
]
