"""CORS: preflight answers and cross-origin response headers, per app, blueprint and view.

:class:`CORS` answers preflight requests and decorates responses for cross-origin callers;
:func:`cross_origin` sets the policy of one view. It works the same through the WSGI and the
ASGI door: it only uses hooks.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ..globals import app_ctx, get_request_context, request_ctx
from ._util import _add_vary, _view_of

if TYPE_CHECKING:
    from ..app import Erlen
    from ..request import Request
    from ..response import Response

F = TypeVar("F", bound=Callable[..., Any])


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
        ctx = get_request_context()
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
        ctx = get_request_context()
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
                app, request = app_ctx.app, request_ctx.request
                early = before(app, request)
                if early is not None:
                    return early
                return after(app, request, await view(*args, **kwargs))

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(view)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                app, request = app_ctx.app, request_ctx.request
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


__all__ = ["CORS", "CORS_DEFAULTS", "cross_origin"]
