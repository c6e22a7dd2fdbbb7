"""Security batteries: password hashing, security headers and CORS.

* Passwords: :func:`generate_password_hash` makes argon2id hashes when ``argon2-cffi`` is
  installed (``pip install erlen[auth]``) and scrypt hashes otherwise; :func:`check_password_hash`
  verifies those and every older Werkzeug format (pbkdf2, scrypt), in constant time, and answers
  ``False`` for a malformed hash instead of raising.
* :class:`SecurityHeaders` adds a strict set of response headers (CSP, HSTS on HTTPS,
  ``X-Frame-Options`` ...), configurable per app and per view.
* :class:`CORS` answers preflight requests and decorates responses for cross-origin callers.

All three work the same through the WSGI and the ASGI door: they only use hooks.
"""

from __future__ import annotations

import functools
import inspect
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug import security as _wz

from .globals import _cv_app, _cv_request, current_app

if TYPE_CHECKING:
    from .app import Erlen
    from .blueprints import Blueprint
    from .request import Request
    from .response import Response

F = TypeVar("F", bound=Callable[..., Any])

# -- passwords ----------------------------------------------------------------------------------

#: The prefix of argon2 hashes made here: ``argon2$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``
#: (the same layout Django uses, so hashes move between the two).
ARGON2_PREFIX = "argon2"

_argon2_hashers: dict[int, Any] = {}
_argon2_module: Any = None


def _argon2() -> Any:
    """Return the ``argon2`` module, or None when ``argon2-cffi`` is not installed."""
    global _argon2_module
    if _argon2_module is None:
        try:
            import argon2
        except ImportError:
            _argon2_module = False
        else:
            _argon2_module = argon2
    return _argon2_module or None


def _argon2_hasher(salt_length: int = 16) -> Any:
    hasher = _argon2_hashers.get(salt_length)
    if hasher is None:
        argon2 = _argon2()
        if argon2 is None:
            raise RuntimeError(
                "argon2 password hashes need the argon2-cffi package: pip install 'erlen[auth]'."
            )
        # argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3, 64 MiB, p=4).
        hasher = _argon2_hashers[salt_length] = argon2.PasswordHasher(salt_len=salt_length)
    return hasher


def default_password_method() -> str:
    """Return the method new hashes use: ``"argon2"`` when available, else ``"scrypt"``."""
    return "argon2" if _argon2() is not None else "scrypt"


def _argon2_encoded(pwhash: str) -> str | None:
    """Return the argon2 encoded hash inside ``pwhash``, or None for other formats."""
    if pwhash.startswith("argon2$argon2"):
        return pwhash[len(ARGON2_PREFIX) :]
    if pwhash.startswith("$argon2"):  # a bare hash from argon2-cffi or passlib
        return pwhash
    return None


def generate_password_hash(password: str, method: str | None = None, salt_length: int = 16) -> str:
    """Hash a password for storage.

    ``method`` is ``"argon2"`` (argon2id), ``"scrypt"`` or ``"pbkdf2"`` (optionally with
    Werkzeug's parameters, ``"scrypt:32768:8:1"``). The default is argon2id when
    ``argon2-cffi`` is importable, scrypt otherwise.
    """
    if not isinstance(password, str):
        raise TypeError("The password must be a str.")
    if method is None:
        method = default_password_method()
    if method == "argon2":
        return ARGON2_PREFIX + str(_argon2_hasher(salt_length).hash(password))
    return _wz.generate_password_hash(password, method=method, salt_length=salt_length)


def check_password_hash(pwhash: str, password: str) -> bool:
    """Tell whether ``password`` matches ``pwhash``, in constant time.

    A malformed or unknown hash gives ``False``; only an argon2 hash on a machine without
    ``argon2-cffi`` raises ``RuntimeError`` (every login would fail silently otherwise).
    """
    if not isinstance(pwhash, str) or not isinstance(password, str):
        return False
    encoded = _argon2_encoded(pwhash)
    if encoded is not None:
        hasher = _argon2_hasher()
        argon2 = _argon2()
        try:
            return bool(hasher.verify(encoded, password))
        except (argon2.exceptions.Argon2Error, ValueError, TypeError):
            return False
    try:
        return _wz.check_password_hash(pwhash, password)
    except (ValueError, TypeError, OverflowError, MemoryError):
        # Unknown method, bad parameters or a password that cannot be encoded.
        return False


def _wz_params(pwhash: str) -> tuple[str, list[str]] | None:
    head, sep, _ = pwhash.partition("$")
    if not sep:
        return None
    name, *args = head.split(":")
    return name, args


def _scrypt_params(args: list[str]) -> tuple[int, int, int]:
    if not args:
        return (2**15, 8, 1)
    n, r, p = map(int, args)
    return n, r, p


def _pbkdf2_params(args: list[str]) -> tuple[str, int]:
    hash_name = args[0] if args else "sha256"
    iterations = int(args[1]) if len(args) > 1 else _wz.DEFAULT_PBKDF2_ITERATIONS
    return hash_name, iterations


def needs_rehash(pwhash: str, method: str | None = None) -> bool:
    """Tell whether a hash should be replaced by a new one made with ``method``.

    True when the hash uses another method than ``method`` (the current default when None)
    or weaker parameters, and for a malformed hash. Rehash after a successful check.
    """
    if not isinstance(pwhash, str):
        return True
    target = method or default_password_method()
    encoded = _argon2_encoded(pwhash)
    if encoded is not None:
        if target != "argon2" or _argon2() is None:
            return True
        try:
            return bool(_argon2_hasher().check_needs_rehash(encoded))
        except Exception:  # a malformed parameter string
            return True
    parsed = _wz_params(pwhash)
    if parsed is None or target == "argon2":
        return True
    name, args = parsed
    target_name, *target_args = target.split(":")
    if name != target_name:
        return True
    try:
        if name == "scrypt":
            have, want = _scrypt_params(args), _scrypt_params(target_args)
            return any(h < w for h, w in zip(have, want, strict=True))
        if name == "pbkdf2":
            have_p, want_p = _pbkdf2_params(args), _pbkdf2_params(target_args)
            return have_p[0] != want_p[0] or have_p[1] < want_p[1]
    except ValueError:
        return True
    return True


# -- shared helpers ----------------------------------------------------------------------------


def _add_vary(response: Response, value: str) -> None:
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = value
    elif current.strip() != "*" and value.lower() not in (
        v.strip().lower() for v in current.split(",")
    ):
        response.headers["Vary"] = f"{current}, {value}"


def _view_of(app: Erlen, request: Request) -> Callable[..., Any] | None:
    endpoint = request.endpoint
    return app.view_functions.get(endpoint) if endpoint is not None else None


def _blueprint_names(target: Any) -> str | None:
    from .blueprints import Blueprint

    return target.name if isinstance(target, Blueprint) else None


# -- security headers --------------------------------------------------------------------------

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
    from .globals import g

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
        ctx = _cv_request.get(None)
        if ctx is None:
            return None
        request = ctx.request
        if request.is_secure or self.app.debug:
            return None
        entry = self._entry(request)
        if entry is None or not entry[0]["force_https"]:
            return None
        from .helpers import redirect

        url = "https://" + request.url.partition("://")[2]
        return redirect(url, 301 if request.method in ("GET", "HEAD") else 308)

    def after_request(self, response: Response) -> Response:
        ctx = _cv_request.get(None)
        if ctx is None:
            return response
        request = ctx.request
        entry = self._entry(request)
        if entry is None:
            return response
        opts, plain, secure = entry
        headers = secure if request.is_secure else plain
        nonce = None
        app_ctx = _cv_app.get(None)
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

_CORS_ATTR = "_erlen_cors"
_DEFAULT_METHODS = ("GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE")

#: Every option of :class:`CORS` with its default; the config key is ``CORS_`` + the name
#: in capitals (``CORS_ORIGINS``).
CORS_DEFAULTS: dict[str, Any] = {
    "origins": "*",
    "methods": _DEFAULT_METHODS,
    "allow_headers": "*",
    "expose_headers": None,
    "supports_credentials": False,
    "max_age": None,
}
_unset: Any = object()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, re.Pattern)):
        return [value]
    return list(value)


class _CorsPolicy:
    """One normalised CORS configuration."""

    __slots__ = (
        "allow_headers",
        "any_origin",
        "credentials",
        "expose",
        "max_age",
        "methods",
        "methods_set",
        "origin_patterns",
        "origins",
    )

    def __init__(self, options: Mapping[str, Any]) -> None:
        origins = _as_list(options["origins"])
        self.any_origin = "*" in origins
        self.origins = frozenset(o.lower() for o in origins if isinstance(o, str) and o != "*")
        self.origin_patterns = [o for o in origins if isinstance(o, re.Pattern)]
        self.credentials = bool(options["supports_credentials"])
        if self.credentials and self.any_origin:
            raise ValueError(
                "CORS: supports_credentials=True needs an explicit list of origins, not '*'"
                " (a browser refuses credentials with a wildcard, and echoing any origin"
                " would let every site read your users' data)."
            )
        methods = [m.upper() for m in _as_list(options["methods"])]
        self.methods_set = frozenset(methods)
        self.methods = ", ".join(methods)
        headers = _as_list(options["allow_headers"])
        self.allow_headers: frozenset[str] | None = (
            None if "*" in headers else frozenset(h.lower() for h in headers)
        )
        expose = _as_list(options["expose_headers"])
        self.expose = ", ".join(expose) if expose else None
        max_age = options["max_age"]
        if isinstance(max_age, timedelta):
            max_age = int(max_age.total_seconds())
        self.max_age = None if max_age is None else str(int(max_age))

    def allows(self, origin: str) -> bool:
        if self.any_origin:
            return True
        if origin.lower() in self.origins:
            return True
        return any(p.fullmatch(origin) for p in self.origin_patterns)

    def origin_value(self, origin: str) -> str:
        return "*" if self.any_origin else origin

    def preflight(self, request: Request, origin: str) -> list[tuple[str, str]] | None:
        """Return the headers answering a preflight, or None to refuse it."""
        if not self.allows(origin):
            return None
        method = request.headers.get("Access-Control-Request-Method", "").strip().upper()
        if method not in self.methods_set:
            return None
        out = [("Access-Control-Allow-Origin", self.origin_value(origin))]
        if self.credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Access-Control-Allow-Methods", self.methods))
        requested = request.headers.get("Access-Control-Request-Headers", "")
        names = [h.strip() for h in requested.split(",") if h.strip()]
        if names:
            if self.allow_headers is not None and not all(
                n.lower() in self.allow_headers for n in names
            ):
                return None
            out.append(("Access-Control-Allow-Headers", ", ".join(names)))
        if self.max_age is not None:
            out.append(("Access-Control-Max-Age", self.max_age))
        return out

    def decorate(self, response: Response, origin: str | None) -> None:
        """Add the headers of an actual (non-preflight) cross-origin response."""
        if not self.any_origin or self.credentials:
            _add_vary(response, "Origin")
        if origin is None or not self.allows(origin):
            return
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = self.origin_value(origin)
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose:
            headers["Access-Control-Expose-Headers"] = self.expose


def _is_preflight(request: Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def _preflight_response(app: Erlen, headers: list[tuple[str, str]]) -> Response:
    response = app.response_class(b"", 204, headers)
    response.headers.pop("Content-Type", None)
    for name in ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"):
        _add_vary(response, name)
    return response


def _merged_options(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a view's or resource's overrides to the app's CORS options."""
    opts = dict(base)
    opts.update(overrides)
    if "*" in _as_list(overrides.get("origins")) and "supports_credentials" not in overrides:
        # A public override drops the app's credentials rather than fail on every request.
        opts["supports_credentials"] = False
    return opts


class _CorsState:
    """What :class:`CORS` keeps for one app (``app.extensions["cors"]``)."""

    def __init__(self, app: Erlen, options: dict[str, Any], resources: Any) -> None:
        self.app = app
        self.options = options
        self.resources: list[tuple[re.Pattern[str], _CorsPolicy]] = []
        if resources is None:
            resources = {r"/.*": {}}
        elif isinstance(resources, str):
            resources = {resources: {}}
        elif not isinstance(resources, Mapping):
            resources = {r: {} for r in resources}
        # The most specific (longest) pattern is tried first.
        for pattern in sorted(
            resources, key=lambda p: len(str(getattr(p, "pattern", p))), reverse=True
        ):
            regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
            self.resources.append(
                (regex, _CorsPolicy(_merged_options(options, resources[pattern])))
            )
        self._views: dict[str | None, _CorsPolicy | None] = {}

    def policy(self, request: Request) -> _CorsPolicy | None:
        endpoint = request.endpoint
        policy = self._views.get(endpoint, _unset)
        if policy is _unset:
            view = _view_of(self.app, request)
            overrides = getattr(view, _CORS_ATTR, None)
            policy = (
                None if overrides is None else _CorsPolicy(_merged_options(self.options, overrides))
            )
            if len(self._views) < 4096:
                self._views[endpoint] = policy
        if policy is not None:
            return policy  # type: ignore[no-any-return]
        path = request.path
        for regex, candidate in self.resources:
            if regex.match(path):
                return candidate
        return None

    def before_request(self) -> Any:
        ctx = _cv_request.get(None)
        if ctx is None:
            return None
        request = ctx.request
        origin = request.headers.get("Origin")
        if origin is None or not _is_preflight(request):
            return None
        policy = self.policy(request)
        if policy is None:
            return None
        headers = policy.preflight(request, origin)
        if headers is None:
            return None  # refused: the normal OPTIONS answer carries no CORS headers
        return _preflight_response(self.app, headers)

    def after_request(self, response: Response) -> Response:
        ctx = _cv_request.get(None)
        if ctx is None:
            return response
        request = ctx.request
        if _is_preflight(request):
            return response  # answered by before_request, or refused
        policy = self.policy(request)
        if policy is not None:
            policy.decorate(response, request.headers.get("Origin"))
        return response


class CORS:
    """Apply a CORS policy to an app's responses.

    ``CORS(app, origins=["https://app.example"], supports_credentials=True, max_age=600)``.
    Preflight requests (``OPTIONS`` with ``Access-Control-Request-Method``) for an allowed
    origin, method and headers are answered with 204 before any view or login check runs;
    other responses get ``Access-Control-Allow-Origin`` (and friends) when the request's
    ``Origin`` is allowed, and ``Vary: Origin`` whenever the answer depends on it.

    ``origins`` is ``"*"``, or a list of exact origins and compiled regular expressions
    (matched in full). Credentials are never combined with ``"*"``: that raises ``ValueError``.
    ``resources`` limits the policy to paths: a regex, a list of them, or a dict mapping each
    regex (matched at the start of ``request.path``) to its own option overrides; by default
    every path is covered. Options may also come from ``CORS_*`` config keys (the app's
    config wins over arguments). :func:`cross_origin` sets a policy for one view.
    """

    def __init__(
        self,
        app: Erlen | None = None,
        *,
        origins: Any = _unset,
        methods: Any = _unset,
        allow_headers: Any = _unset,
        expose_headers: Any = _unset,
        supports_credentials: Any = _unset,
        max_age: Any = _unset,
        resources: Any = _unset,
    ) -> None:
        given = {
            "origins": origins,
            "methods": methods,
            "allow_headers": allow_headers,
            "expose_headers": expose_headers,
            "supports_credentials": supports_credentials,
            "max_age": max_age,
        }
        self.options = {k: v for k, v in given.items() if v is not _unset}
        self.resources = resources
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Register the hooks on ``app`` and fill in its ``CORS_*`` config defaults."""
        options: dict[str, Any] = {}
        for name, default in CORS_DEFAULTS.items():
            options[name] = app.config.setdefault(
                "CORS_" + name.upper(), self.options.get(name, default)
            )
        resources = app.config.setdefault(
            "CORS_RESOURCES", None if self.resources is _unset else self.resources
        )
        state = _CorsState(app, options, resources)
        app.extensions["cors"] = state
        app.before_request(state.before_request)
        app.after_request(state.after_request)


def cross_origin(**options: Any) -> Callable[[F], F]:
    """Give one view its own CORS policy (options as for :class:`CORS`).

    Put it under the route decorator. With :class:`CORS` installed, its hooks apply the
    view's policy (error responses included); without it, the view answers its own
    preflight requests and decorates its own responses.
    """
    unknown = set(options) - set(CORS_DEFAULTS)
    if unknown:
        raise TypeError(f"cross_origin(): unknown option(s) {', '.join(sorted(unknown))}.")
    if "origins" in options:
        _CorsPolicy({**CORS_DEFAULTS, **options})  # fail early on a bad combination

    def decorator(view: F) -> F:
        cache: dict[int, _CorsPolicy] = {}

        def standalone_policy(app: Erlen) -> _CorsPolicy:
            policy = cache.get(id(app))
            if policy is None:
                base = {
                    name: app.config.get("CORS_" + name.upper(), default)
                    for name, default in CORS_DEFAULTS.items()
                }
                policy = cache[id(app)] = _CorsPolicy(_merged_options(base, options))
            return policy

        def before(app: Erlen, request: Request) -> Any:
            """Return the response for OPTIONS, or None to run the view."""
            if request.method != "OPTIONS":
                return None
            origin = request.headers.get("Origin")
            if origin is not None and _is_preflight(request) and "cors" not in app.extensions:
                headers = standalone_policy(app).preflight(request, origin)
                if headers is not None:
                    return _preflight_response(app, headers)
            return app.make_default_options_response()

        def after(app: Erlen, request: Request, rv: Any) -> Any:
            if "cors" in app.extensions:
                return rv  # the extension's after_request decorates every response
            response = app.make_response(rv)
            standalone_policy(app).decorate(response, request.headers.get("Origin"))
            return response

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                app, request = current_app._get_current_object(), _cv_request.get().request  # type: ignore[attr-defined]
                early = before(app, request)
                if early is not None:
                    return early
                return after(app, request, await view(*args, **kwargs))

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(view)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                app, request = current_app._get_current_object(), _cv_request.get().request  # type: ignore[attr-defined]
                early = before(app, request)
                if early is not None:
                    return early
                return after(app, request, view(*args, **kwargs))

            wrapper = sync_wrapper
        setattr(wrapper, _CORS_ATTR, dict(options))
        # OPTIONS must reach the view (the automatic OPTIONS answer would skip it).
        wrapper.required_methods = {"OPTIONS"}
        wrapper.provide_automatic_options = False
        return wrapper  # type: ignore[no-any-return]

    return decorator


__all__ = [
    "CORS",
    "CORS_DEFAULTS",
    "DEFAULT_CSP",
    "DEFAULT_PERMISSIONS_POLICY",
    "SECURITY_HEADER_DEFAULTS",
    "SecurityHeaders",
    "check_password_hash",
    "cross_origin",
    "csp_nonce",
    "default_password_method",
    "generate_password_hash",
    "needs_rehash",
    "security_headers",
]
