"""The application object: registries, configuration and protocol-neutral dispatch.

The doors (:mod:`erlen.wsgi`, :mod:`erlen.asgi`, :mod:`erlen.websocket`) use a small API
of the app: :meth:`Erlen.begin_request` opens a request, then :meth:`Erlen.respond` (sync
code), :meth:`Erlen.respond_async` (async code) or :meth:`Erlen.respond_in_thread` (a sync
view under ASGI) makes its response. ``respond`` and ``respond_async`` are twins, kept
in step by a test that compares their syntax trees; each door pays only for the machinery
it uses. Rarer paths (error handlers, teardown) are written once, as generator "steps"
that yield an awaitable whenever a function is a coroutine, driven by ``_drive_sync`` or
``_drive_async``. Flask's public dispatch methods, for apps that call or override them,
live in :mod:`erlen._flask_dispatch`.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import types
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from urllib.parse import quote

from werkzeug.exceptions import (
    Aborter,
    BadRequest,
    BadRequestKeyError,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
)

from . import _flask_dispatch, signals
from ._flask_dispatch import FLASK_DISPATCH_METHODS, dispatch_via_methods
from .asgi import handle as _asgi_handle
from .asgi import handle_http as _asgi_http
from .concurrency import (
    Steps,
    as_coroutine,
    async_to_sync,
    drive_async,
    drive_sync,
    is_async_callable,
    mark_coroutine_function,
    run_coroutine_sync,
    run_in_threadpool,
)
from .config import DEFAULT_CONFIG, Config, ConfigAttribute
from .ctx import (
    AppContext,
    RequestContext,
    _AppCtxGlobals,
    teardown_pending,
)
from .globals import _cv_request
from .helpers import _redirect
from .json.provider import DefaultJSONProvider
from .request import Request
from .response import Response, complete_response
from .routing import BuildError, Map, RequestRedirect, Rule
from .routing.map import bare_server_name, subdomain_under
from .scaffold import (
    REGISTRY_FACTORIES,
    Scaffold,
    as_registry,
    endpoint_from_view_func,
    exc_class_and_code,
    find_package,
)
from .templating import _default_template_ctx_processor as _default_processor
from .wsgi import handle as _wsgi_handle
from .wsgi_bridge import serve_wsgi as _serve_wsgi

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment

    from ._jinja import Environment as ErlenEnvironment
    from .blueprints import Blueprint
    from .json.provider import JSONProvider
    from .routing import MapAdapter
    from .sessions import SessionInterface, SessionMixin
    from .testing import ErlenClient, ErlenCliRunner

F = TypeVar("F", bound=Callable[..., Any])

_sentinel: Any = object()


def _make_timedelta(value: timedelta | int) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


class _JinjaEnvironmentClass:
    """``Erlen.jinja_environment``: Erlen's Jinja environment class, read when first asked for.

    A descriptor rather than the class itself, so that ``import erlen`` does not import
    Jinja; a subclass of the app sets its own class over it, as on Flask.
    """

    def __get__(self, obj: object, owner: type | None = None) -> type[ErlenEnvironment]:
        from ._jinja import Environment

        return Environment


class EndpointPlan:
    """What serving one endpoint takes, compiled once from the registries.

    The hooks that apply to the endpoint flattened in Flask's order, its view, and
    two answers the doors need before dispatch: ``in_thread`` (a sync view not marked
    ``@nonblocking``, or an app overriding Flask's sync dispatch methods: under ASGI it
    runs in the worker pool)
    and ``streams_body`` (the view reads the body itself, ``@stream_request_body``).

    For an ``async def`` view, a hook that names an async twin in its ``__erlen_async__``
    attribute is flattened as that twin (a battery's Redis check awaits its I/O there),
    and ``session_async`` holds the session interface when it has non-blocking I/O
    (:func:`erlen.sessions.has_async_session_io`): :meth:`Erlen.respond_async` then
    awaits its open and save hooks. Both are decided here, so a request pays nothing
    for them.
    """

    __slots__ = (
        "after",
        "before",
        "blueprints",
        "first_arg",
        "in_thread",
        "session_async",
        "streams_body",
        "url_preprocessors",
        "view",
        "view_is_async",
    )

    def __init__(self) -> None:
        self.view: Callable[..., Any] | None = None
        #: The name of the view's first parameter when a URL with one variable of that
        #: name may pass it by position (same binding as by keyword), else None.
        self.first_arg: str | None = None
        self.view_is_async = False
        self.in_thread = False
        self.streams_body = False
        self.blueprints: tuple[str, ...] = ()
        self.url_preprocessors: list[Callable[..., Any]] = []
        self.before: list[tuple[Callable[[], Any], bool]] = []
        self.after: list[tuple[Callable[[Any], Any], bool]] = []
        self.session_async: SessionInterface | None = None


class Erlen(Scaffold):
    """The application: a WSGI app and an ASGI app in one object.

    ``gunicorn module:app`` and ``uvicorn module:app`` both serve it. Its API is
    Flask's: ``route``, hooks, error handlers, ``config``, blueprints, contexts.
    """

    request_class: type[Request] = Request
    response_class: type[Response] = Response
    #: The class of :attr:`aborter`, which ``abort()`` calls (Werkzeug's ``Aborter``).
    aborter_class: type[Aborter] = Aborter
    config_class: type[Config] = Config
    url_map_class: type[Map] = Map
    url_rule_class: type[Rule] = Rule
    app_ctx_globals_class: type[_AppCtxGlobals] = _AppCtxGlobals
    test_client_class: type[ErlenClient] | None = None
    test_cli_runner_class: type[ErlenCliRunner] | None = None
    #: The class of :attr:`json`, made in ``__init__``; set a subclass to change it.
    json_provider_class: type[JSONProvider] = DefaultJSONProvider
    jinja_options: dict[str, Any] = {}
    #: The class of :attr:`jinja_env` (a Jinja ``Environment`` that takes the app first).
    jinja_environment = _JinjaEnvironmentClass()
    default_config: dict[str, Any] = DEFAULT_CONFIG

    secret_key = ConfigAttribute[str | bytes | None]("SECRET_KEY")
    testing = ConfigAttribute[bool]("TESTING")
    permanent_session_lifetime = ConfigAttribute[timedelta](
        "PERMANENT_SESSION_LIFETIME", get_converter=_make_timedelta
    )

    #: True in a subclass that overrides one of Flask's dispatch methods: its requests
    #: are then dispatched through those methods, composed as Flask composes them.
    #: An app that has one replaced on the instance (``app.handle_exception = ...``, as
    #: extensions do) carries its own True (see ``__setattr__``).
    _flask_dispatch: ClassVar[bool] = False

    #: False in a subclass that overrides ``wsgi_app`` or ``asgi_app`` (or an app that has
    #: one replaced on the instance, as middleware is installed): ``__call__`` then
    #: always goes through them.
    _doors_as_defined: ClassVar[bool] = True
    #: False in a subclass that overrides ``app_context`` (or an app that has it replaced
    #: on the instance): pushing a request context then calls it to make the app context.
    _app_context_as_defined: ClassVar[bool] = True
    #: False in a subclass that overrides ``url_for`` (or an app that has it replaced on
    #: the instance): :func:`erlen.url_for` then calls it rather than building directly.
    _url_for_as_defined: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._flask_dispatch = any(
            getattr(cls, name) is not getattr(Erlen, name) for name in FLASK_DISPATCH_METHODS
        )
        cls._doors_as_defined = cls.wsgi_app is Erlen.wsgi_app and cls.asgi_app is Erlen.asgi_app
        cls._app_context_as_defined = cls.app_context is Erlen.app_context
        cls._url_for_as_defined = cls.url_for is Erlen.url_for

    if not TYPE_CHECKING:  # (mypy would accept any attribute on an object with __setattr__)

        def __setattr__(self, name: str, value: Any) -> None:
            # PERF: registration and configuration set attributes, requests do not; the
            # watched names are a frozenset lookup away.
            if name in _WATCHED_ATTRIBUTES:
                if name in REGISTRY_FACTORIES:
                    value = as_registry(name, value, self._registry_changes)
                object.__setattr__(self, name, value)
                self._attributes_changed()
            else:
                object.__setattr__(self, name, value)

        def __delattr__(self, name: str) -> None:
            object.__delattr__(self, name)
            if name in _WATCHED_ATTRIBUTES:
                self._attributes_changed()

    def _attributes_changed(self) -> None:
        """Note methods replaced on (or restored from) the instance, and drop the plans.

        Extensions replace Flask's dispatch methods on the app (Flask-RESTful's
        ``app.handle_exception = partial(...)``) and middleware replaces ``wsgi_app``;
        the class flags above are then overridden for this instance.
        """
        inst = self.__dict__
        cls = type(self)
        flags = {
            "_flask_dispatch": cls._flask_dispatch
            or any(name in inst for name in FLASK_DISPATCH_METHODS),
            "_doors_as_defined": cls._doors_as_defined
            and "wsgi_app" not in inst
            and "asgi_app" not in inst,
            "_app_context_as_defined": cls._app_context_as_defined and "app_context" not in inst,
            "_url_for_as_defined": cls._url_for_as_defined and "url_for" not in inst,
        }
        # PERF: kept on the instance even when equal to the class's: read on every
        # request, an instance attribute costs about half a class attribute's lookup.
        inst.update(flags)
        self._registry_changes.changed()  # plans know whether they run in the worker pool

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        super().__init__(
            import_name,
            static_folder=static_folder,
            static_url_path=static_url_path,
            template_folder=template_folder,
            root_path=root_path,
        )
        if instance_path is None:
            instance_path = self.auto_find_instance_path()
        elif not os.path.isabs(instance_path):
            raise ValueError(
                "If an instance path is provided it must be absolute. A relative path was given instead."
            )
        self.instance_path = instance_path
        self.config = self.make_config(instance_relative_config)
        self.json: JSONProvider = self.json_provider_class(self)
        self.url_build_error_handlers: list[Callable[[Exception, str, dict[str, Any]], str]] = []
        self.teardown_appcontext_funcs: list[Callable[[BaseException | None], None]] = []
        self.shell_context_processors: list[Callable[[], dict[str, Any]]] = []
        self.before_serving_funcs: list[Callable[[], Any]] = []
        self.after_serving_funcs: list[Callable[[], Any]] = []
        self.while_serving_gens: list[Callable[[], Any]] = []
        self.blueprints: dict[str, Blueprint] = {}
        self.extensions: dict[str, Any] = {}
        self.template_context_processors[None].append(_default_processor)
        self.url_map = self.url_map_class(host_matching=host_matching)
        self.subdomain_matching = subdomain_matching  # (watched: sets the instance's flags)
        self._got_first_request = False
        self._plans: dict[str | None, EndpointPlan] = {}
        self._error_handler_cache: dict[tuple[type[BaseException], tuple[str, ...]], Any] = {}
        #: ``path -> method -> (rule, plan)`` for URLs matched to rules without variables,
        #: valid while ``url_map`` is ``_routes_seen_of`` at ``_routes_seen_version``.
        self._routes_seen: dict[str, dict[str, tuple[Rule, EndpointPlan]]] = {}
        self._routes_seen_of: Map | None = None
        self._routes_seen_version = -1
        self._routes_seen_subdomain = ""
        self._routes_seen_config: Config | None = None
        self._routes_seen_config_version = -1
        # A change made directly on a registry (app.after_request_funcs[None].append(f))
        # drops these, so it takes effect on the next request.
        self._registry_changes.caches += (
            self._plans,
            self._error_handler_cache,
            self._routes_seen,
        )
        self._jinja_env: Environment | None = None
        self._session_interface: SessionInterface | None = None
        self._logger: logging.Logger | None = None
        self._cli: Any = None
        if self.has_static_folder:
            if bool(static_host) != host_matching:
                raise AssertionError("Invalid static_host/host_matching combination")
            self_ref = weakref.ref(self)
            self.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                endpoint="static",
                host=static_host,
                view_func=lambda **kw: self_ref().send_static_file(**kw),  # type: ignore[union-attr]
            )

    # -- basics -----------------------------------------------------------------------

    @property
    def name(self) -> str:  # type: ignore[override]
        """The app's name: the import name, or the script's name for ``__main__``."""
        if self.import_name == "__main__":
            fn = getattr(sys.modules["__main__"], "__file__", None)
            if fn is None:
                return "__main__"
            return str(os.path.splitext(os.path.basename(fn))[0])
        return self.import_name

    if sys.version_info < (3, 12):  # pragma: no cover - see _asgi_entry at the end

        @property
        def __name__(self) -> str:
            """The app's name, for ``inspect`` (the class keeps its own ``__name__``)."""
            return self.name

    @property
    def debug(self) -> bool:
        """Debug mode (``DEBUG``): detailed errors, template auto-reload."""
        return bool(self.config["DEBUG"])

    @debug.setter
    def debug(self, value: bool) -> None:
        self.config["DEBUG"] = value
        if self.config["TEMPLATES_AUTO_RELOAD"] is None and self._jinja_env is not None:
            self._jinja_env.auto_reload = value

    @property
    def logger(self) -> logging.Logger:
        """The app's logger, named after the app."""
        if self._logger is None:
            from .logging import create_logger

            self._logger = create_logger(self)
        return self._logger

    @property
    def got_first_request(self) -> bool:
        """True once the app has started handling its first request."""
        return self._got_first_request

    def make_config(self, instance_relative: bool = False) -> Config:
        """Create the config, with defaults and ``DEBUG`` from ``ERLEN_DEBUG``."""
        from .helpers import get_debug_flag

        root_path = self.instance_path if instance_relative else self.root_path
        defaults = dict(self.default_config)
        defaults["DEBUG"] = get_debug_flag()
        return self.config_class(root_path, defaults)

    def auto_find_instance_path(self) -> str:
        """Return ``instance`` next to the package, or under ``var/`` when installed."""
        prefix, package_path = find_package(self.import_name)
        if prefix is None:
            return os.path.join(package_path, "instance")
        return os.path.join(prefix, "var", f"{self.name}-instance")

    def open_instance_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = "utf-8"
    ) -> Any:
        """Open a file relative to the instance folder."""
        path = os.path.join(self.instance_path, resource)
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding=encoding)

    @property
    def session_interface(self) -> SessionInterface:
        """How sessions are loaded and saved (a signed cookie by default)."""
        if self._session_interface is None:
            from .sessions import SecureCookieSessionInterface

            self._session_interface = SecureCookieSessionInterface()
        return self._session_interface

    @session_interface.setter
    def session_interface(self, value: SessionInterface) -> None:
        self._session_interface = value

    @property
    def cli(self) -> Any:
        """The click group for this app's commands (``@app.cli.command()``)."""
        if self._cli is None:
            from .cli import AppGroup

            self._cli = AppGroup(self.name)
        return self._cli

    @property
    def aborter(self) -> Any:
        """The object ``abort`` calls; override ``make_aborter`` to customise it."""
        aborter = self.__dict__.get("_aborter")
        if aborter is None:
            aborter = self.__dict__["_aborter"] = self.make_aborter()
        return aborter

    def make_aborter(self) -> Any:
        """Create the aborter: an instance of :attr:`aborter_class`."""
        return self.aborter_class()

    # -- templates (see erlen.templating) ----------------------------------------------------

    @property
    def jinja_env(self) -> Environment:
        """The Jinja environment, created on first use."""
        if self._jinja_env is None:
            self._jinja_env = self.create_jinja_environment()
        return self._jinja_env

    def create_jinja_environment(self) -> Environment:
        """Create the Jinja environment (loader over app and blueprint templates)."""
        from ._jinja import create_environment

        return create_environment(self)

    def create_global_jinja_loader(self) -> BaseLoader:
        """The loader of :attr:`jinja_env`: the app's templates, then its blueprints'."""
        from ._jinja import DispatchingJinjaLoader

        return DispatchingJinjaLoader(self)

    def select_jinja_autoescape(self, filename: str | None) -> bool:
        """Autoescape for ``.html .htm .xml .xhtml .svg`` templates and for strings."""
        if filename is None:
            return True
        return filename.endswith((".html", ".htm", ".xml", ".xhtml", ".svg"))

    def update_template_context(self, context: dict[str, Any]) -> None:
        """Add the context processors' values to a template context; the caller's values win.

        The first processor is the default one (``g`` and ``request``), as in Flask.
        """
        processors = self.template_context_processors
        for key, funcs in processors.items():
            if funcs and (key is not None or len(funcs) > 1 or funcs[0] is not _default_processor):
                break
        else:
            # PERF: no processor but the default (or none): no copy of the context
            if processors.get(None):
                for var, value in _default_processor().items():
                    context.setdefault(var, value)
            return
        names: Iterable[str | None] = (None,)
        ctx = _cv_request.get(None)
        if ctx is not None:
            names = (None, *reversed(ctx.request.blueprints))
        orig = context.copy()
        for name in names:
            for func in processors.get(name, ()):
                context.update(self.ensure_sync(func)())
        context.update(orig)

    def template_filter(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as a Jinja filter."""

        def decorator(f: F) -> F:
            self.add_template_filter(f, name=name)
            return f

        return decorator

    def add_template_filter(self, f: Callable[..., Any], name: str | None = None) -> None:
        """Register a Jinja filter."""
        self._check_setup_finished("add_template_filter")
        self.jinja_env.filters[name or f.__name__] = f

    def template_test(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as a Jinja test."""

        def decorator(f: F) -> F:
            self.add_template_test(f, name=name)
            return f

        return decorator

    def add_template_test(self, f: Callable[..., bool], name: str | None = None) -> None:
        """Register a Jinja test."""
        self._check_setup_finished("add_template_test")
        self.jinja_env.tests[name or f.__name__] = f

    def template_global(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as a Jinja global."""

        def decorator(f: F) -> F:
            self.add_template_global(f, name=name)
            return f

        return decorator

    def add_template_global(self, f: Callable[..., Any], name: str | None = None) -> None:
        """Register a Jinja global."""
        self._check_setup_finished("add_template_global")
        self.jinja_env.globals[name or f.__name__] = f

    def shell_context_processor(self, f: F) -> F:
        """Register a function whose dict is added to the ``erlen shell`` namespace."""
        self._check_setup_finished("shell_context_processor")
        self.shell_context_processors.append(f)
        return f

    def make_shell_context(self) -> dict[str, Any]:
        """Return the namespace for ``erlen shell``."""
        from .globals import g

        rv: dict[str, Any] = {"app": self, "g": g}
        for processor in self.shell_context_processors:
            rv.update(processor())
        return rv

    # -- registration ----------------------------------------------------------------------

    def _changed(self) -> None:
        self._plans.clear()
        self._error_handler_cache.clear()
        self._routes_seen.clear()

    def _check_setup_finished(self, f_name: str) -> None:
        """In debug mode, refuse a setup method once the app has handled a request.

        As Flask does (Flask 3.1 refuses whether in debug mode or not; Erlen keeps
        accepting late registrations outside debug mode: they take effect on the next
        request). Changes made directly on the registries are always accepted.
        """
        if self._got_first_request and self.debug:
            raise AssertionError(
                f"The setup method '{f_name}' can no longer be called on the application."
                " It has already handled its first request, any changes will not be applied"
                " consistently.\n"
                "Make sure all imports, decorators, functions, etc. needed to set up the"
                " application are done before running it."
            )

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Register a URL rule, its endpoint and (optionally) its view function.

        ``methods`` defaults to the view's ``methods`` attribute or ``("GET",)``;
        ``HEAD`` is added for ``GET`` and ``OPTIONS`` is answered automatically.
        """
        self._check_setup_finished("add_url_rule")
        if endpoint is None:
            endpoint = endpoint_from_view_func(view_func)  # type: ignore[arg-type]
        options["endpoint"] = endpoint
        methods = options.pop("methods", None)
        if methods is None:
            methods = getattr(view_func, "methods", None) or ("GET",)
        if isinstance(methods, str):
            raise TypeError(
                'Allowed methods must be a list of strings, for example: @app.route(..., methods=["POST"])'
            )
        methods = {item.upper() for item in methods}
        required_methods = set(getattr(view_func, "required_methods", ()))
        if provide_automatic_options is None:
            provide_automatic_options = getattr(view_func, "provide_automatic_options", None)
        if provide_automatic_options is None:
            if "OPTIONS" not in methods and self.config["PROVIDE_AUTOMATIC_OPTIONS"]:
                provide_automatic_options = True
                required_methods.add("OPTIONS")
            else:
                provide_automatic_options = False
        methods |= required_methods
        rule_obj = self.url_rule_class(rule, methods=methods, **options)
        rule_obj.provide_automatic_options = provide_automatic_options
        if view_func is not None:
            # Checked before the rule is added, so a refused rule leaves no trace in the map.
            old_func = self.view_functions.get(endpoint)
            if old_func is not None and old_func != view_func:
                raise AssertionError(
                    "View function mapping is overwriting an existing endpoint function: "
                    f"{endpoint}"
                )
        self.url_map.add(rule_obj)
        if view_func is not None:
            self.view_functions[endpoint] = view_func
        self._changed()

    def teardown_appcontext(self, f: F) -> F:
        """Run ``f(error)`` when the app context is popped."""
        self._check_setup_finished("teardown_appcontext")
        self.teardown_appcontext_funcs.append(f)
        return f

    def register_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        """Register a blueprint's routes, hooks and handlers on this app."""
        self._check_setup_finished("register_blueprint")
        blueprint.register(self, options)
        self._changed()

    def iter_blueprints(self) -> Iterator[Blueprint]:
        """Iterate over the registered blueprints, in registration order."""
        return iter(self.blueprints.values())

    def before_serving(self, f: F) -> F:
        """Run ``f()`` when an ASGI server starts (lifespan startup)."""
        self.before_serving_funcs.append(f)
        return f

    def after_serving(self, f: F) -> F:
        """Run ``f()`` when an ASGI server shuts down (lifespan shutdown)."""
        self.after_serving_funcs.append(f)
        return f

    def while_serving(self, f: F) -> F:
        """Register an async generator (or async context manager factory) around serving."""
        self.while_serving_gens.append(f)
        return f

    # -- sync/async helpers -----------------------------------------------------------------

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return a sync callable for ``func`` (coroutine functions run on a thread loop)."""
        if is_async_callable(func):
            return self.async_to_sync(func)
        return func

    def async_to_sync(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        """Wrap an async function to run on the thread's persistent event loop."""
        return async_to_sync(func)

    # -- plans --------------------------------------------------------------------------------

    def _plan(self, endpoint: str | None) -> EndpointPlan:
        plan = self._plans.get(endpoint)
        if plan is None:
            plan = self._plans[endpoint] = self._compile_plan(endpoint)
        return plan

    def _compile_plan(self, endpoint: str | None) -> EndpointPlan:
        """Flatten the hooks that apply to an endpoint, in Flask's order."""
        plan = EndpointPlan()
        blueprints: tuple[str, ...] = ()
        if endpoint is not None and "." in endpoint:
            parts = endpoint.rpartition(".")[0].split(".")
            blueprints = tuple(".".join(parts[:i]) for i in range(len(parts), 0, -1))
        plan.blueprints = blueprints
        outer_first: tuple[str | None, ...] = (None, *reversed(blueprints))
        inner_first: tuple[str | None, ...] = (*blueprints, None)
        view = self.view_functions.get(endpoint) if endpoint is not None else None
        # Under ASGI the view runs on the loop: an async view, or a sync one marked
        # @nonblocking (then it and its sync hooks run there, with no thread hop).
        on_loop = (
            view is not None
            and (is_async_callable(view) or getattr(view, "_erlen_nonblocking", False) is True)
            and not self._flask_dispatch
        )
        for name in outer_first:
            plan.url_preprocessors.extend(self.url_value_preprocessors.get(name, ()))
            for f in self.before_request_funcs.get(name, ()):
                if on_loop:
                    f = getattr(f, "__erlen_async__", f)
                plan.before.append((f, is_async_callable(f)))
        for name in inner_first:
            for af in reversed(self.after_request_funcs.get(name, ())):
                if on_loop:
                    af = getattr(af, "__erlen_async__", af)
                plan.after.append((af, is_async_callable(af)))
        if view is not None:
            plan.view = view
            plan.first_arg = _first_parameter(view)
            plan.view_is_async = is_async_callable(view)
            plan.in_thread = not on_loop
            plan.streams_body = bool(getattr(view, "_erlen_stream_body", False))
        if self._flask_dispatch:
            plan.in_thread = True  # Flask's dispatch methods are sync
        else:
            # respond_async serves this plan (an async view; under ASGI also a routing
            # error, which has no view): a session store with non-blocking I/O is used
            # through its async hooks there. The sync twin, respond, never looks at it.
            from .sessions import has_async_session_io

            interface = self.session_interface
            if not plan.in_thread and has_async_session_io(interface):
                plan.session_async = interface
        return plan

    # -- dispatch ---------------------------------------------------------------------------------

    def _match_request(self, request: Request, websocket: bool = False) -> None:
        """Match the URL, storing the rule and values, or the routing error, on the request.

        HTTP requests match HTTP rules and WebSocket handshakes WebSocket rules.
        An HTTP request for a WebSocket-only URL gets a 400 that says so.
        """
        trusted = self.config["TRUSTED_HOSTS"]
        if trusted is not None:
            from werkzeug.sansio.utils import host_is_trusted

            if not host_is_trusted(request.host, trusted):
                from werkzeug.exceptions import SecurityError

                request.routing_exception = SecurityError(f"Host {request.host!r} is not trusted.")
                return
        url_map = self.url_map
        method = "GET" if websocket else request.method
        host = subdomain = None
        if url_map._host_matching:
            host = request.host.lower()
        elif self.subdomain_matching and self.config["SERVER_NAME"]:
            subdomain = self._subdomain_of(request, warn=True)
        else:
            subdomain = url_map.default_subdomain
        try:
            if type(url_map).match is Map.match:
                # PERF: a miss comes back as None; no NotFound raised and caught.
                matched = url_map._match(request.path, method, subdomain, host, websocket)
            else:
                matched = url_map.match(request.path, method, subdomain, host, websocket)
        except NotFound as e:
            request.routing_exception = self._not_found(request, e, subdomain, host, websocket)
        except RequestRedirect as e:
            new_url = e.new_url
            if "://" not in new_url:
                # An absolute URL on the request's host, as Flask (Werkzeug) sends it.
                # Werkzeug keeps the query on a trailing-slash redirect, not on redirect_to.
                qs = request.query_string.decode("latin-1") if e.keeps_query else ""
                location = quote(request.root_path, safe="/:@&$!'()*+,;=~%") + quote(
                    new_url, safe="/:@&$!'()*+,;=~%"
                )
                location = f"{request.scheme}://{request.host.lower()}{location}"
                e.new_url = f"{location}?{qs}" if qs else location
            request.routing_exception = e
        except HTTPException as e:
            request.routing_exception = e
        else:
            if matched is None:
                request.routing_exception = self._not_found(
                    request, None, subdomain, host, websocket
                )
            else:
                request.url_rule, request.view_args = matched

    def _not_found(
        self,
        request: Request,
        e: NotFound | None,
        subdomain: str | None,
        host: str | None,
        websocket: bool,
    ) -> HTTPException:
        """The routing error for a URL no rule matches (400 for an HTTP request to a WebSocket URL)."""
        if not websocket and self._is_websocket_url(request.path, subdomain, host):
            return BadRequest(
                "This URL is a WebSocket endpoint; open it with a WebSocket client."
                " WebSockets need the app's ASGI door (an ASGI server such as"
                " `uvicorn module:app`)."
            )
        return e if e is not None else NotFound()

    def _is_websocket_url(self, path: str, subdomain: str | None, host: str | None) -> bool:
        if not self.url_map._has_websocket_rules():
            return False
        try:
            self.url_map.match(path, "GET", subdomain, host, True)
        except HTTPException:
            return False
        return True

    def _subdomain_of(self, request: Request, warn: bool = False) -> str:
        """The subdomain *request* came to under ``SERVER_NAME`` (``"<invalid>"`` if none).

        The same comparison as Werkzeug's when Flask binds the URL map to a request; with
        *warn*, a host outside ``SERVER_NAME`` is warned about as it is there.
        """
        server_name = bare_server_name(str(self.config["SERVER_NAME"]), request.scheme)
        host = request.host.lower()
        return subdomain_under(host, server_name, warn, stacklevel=2)

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Return a URL adapter (Werkzeug's ``MapAdapter`` API) for *request*, or for none.

        Erlen's dispatch doesn't use one; this is for code that matches or builds URLs
        through an adapter, as Flask's extensions do. For a request, it matches what the
        request itself matched: the request's host under host matching, the subdomain left
        of ``SERVER_NAME`` with subdomain matching, else the default subdomain. Without a
        request it needs ``SERVER_NAME`` (and uses ``APPLICATION_ROOT`` and
        ``PREFERRED_URL_SCHEME``); without that it returns None.
        """
        url_map = self.url_map
        config = self.config
        server_name = config["SERVER_NAME"]
        if request is None:
            if server_name is None:
                return None
            return url_map.bind(
                server_name,
                script_name=config["APPLICATION_ROOT"],
                url_scheme=config["PREFERRED_URL_SCHEME"],
            )
        trusted = config["TRUSTED_HOSTS"]
        if trusted is not None:
            from werkzeug.exceptions import SecurityError
            from werkzeug.sansio.utils import host_is_trusted

            if not host_is_trusted(request.host, trusted):
                raise SecurityError(f"Host {request.host!r} is not trusted.")
        subdomain: str | None = None
        if url_map.host_matching:
            server_name = None  # the request's host is what rules match
        elif self.subdomain_matching and server_name:
            subdomain = self._subdomain_of(request, warn=True)
        else:
            subdomain = url_map.default_subdomain or ""
        return url_map.bind_to_environ(request, server_name=server_name, subdomain=subdomain)

    # -- the doors' API ------------------------------------------------------------------------
    #
    # What erlen.wsgi, erlen.asgi and erlen.websocket call, and nothing else of the app's:
    # begin_request() opens a request (context pushed, URL matched, plan picked), then
    # respond() from sync code, respond_async() from async code or respond_in_thread()
    # (a sync view under ASGI) makes its response; the door writes the response out and
    # pops the context (RequestContext.pop / apop). See docs/architecture.md.

    def begin_request(self, request: Request, websocket: bool = False) -> RequestContext:
        """Open a request: push its context, match its URL, and pick its plan (``ctx.plan``).

        A routing error (404, 405, a redirect) is kept on the request and raised in
        dispatch, where hooks and error handlers see it, as in Flask.
        """
        ctx = RequestContext(self, request)
        if not self._got_first_request:
            self._got_first_request = True
        ctx.push()
        try:
            # PERF: a URL that matched a rule without variables is remembered with the
            # rule's plan, per method: the next request for it skips the router. Used
            # only while nothing but the path decides the match (see _plain_routing) and
            # the map is the one, at the version, it came from; other URLs pay one lookup.
            by_method = self._routes_seen.get(request.path)
            if by_method is not None and not websocket:
                seen = by_method.get(request.method)
                # PERF: the memo is stamped with what made the path alone decide the
                # match (see _remember_route): the map and its version, its default
                # subdomain, the config and its version. Calling _plain_routing() here,
                # which reads the settings, cost ~700 instructions more (measured).
                if seen is not None:
                    url_map = self.url_map
                    config = self.config
                    if (
                        self._routes_seen_of is url_map
                        and self._routes_seen_version == url_map._version
                        and self._routes_seen_subdomain == url_map.default_subdomain
                        and self._routes_seen_config is config
                        and self._routes_seen_config_version == config._version
                    ):
                        request.url_rule = seen[0]
                        request.view_args = {}
                        ctx.plan = seen[1]
                        return ctx
            self._match_request(request, websocket)
            rule = request.url_rule
            endpoint = rule.endpoint if rule is not None else None
            ctx.plan = plan = self._plans.get(endpoint) or self._plan(endpoint)
            if rule is not None and rule._quick and not websocket and not request.view_args:
                self._remember_route(request, rule, plan)
        except BaseException as e:
            ctx.pop(e)
            raise
        return ctx

    def _plain_routing(self) -> bool:
        """Whether the path alone decides a match: no host matching, no trusted-hosts
        check and no subdomain taken from ``SERVER_NAME``."""
        return (
            not self.url_map._host_matching
            and self.config["TRUSTED_HOSTS"] is None
            and not (self.subdomain_matching and self.config["SERVER_NAME"])
        )

    def _remember_route(self, request: Request, rule: Rule, plan: EndpointPlan) -> None:
        """Remember a match :meth:`begin_request` may reuse (bounded: 1,024 paths).

        What is remembered is stamped with the map (its identity, version and default
        subdomain) and the config (its identity and version) it holds for: a change to
        any of them (a rule added, ``host_matching``, ``TRUSTED_HOSTS`` or
        ``SERVER_NAME`` set, ...) makes the next request ask the router again, and
        ``subdomain_matching`` is watched (setting it forgets what was remembered).
        """
        url_map = self.url_map
        if type(url_map).match is not Map.match:
            return  # a map subclass may match differently: always ask it
        config = self.config
        if not isinstance(config, Config):
            return  # (a config without a version: every change could not be seen)
        seen = self._routes_seen
        if (
            self._routes_seen_of is not url_map
            or self._routes_seen_version != url_map._version
            or self._routes_seen_subdomain != url_map.default_subdomain
            or self._routes_seen_config is not config
            or self._routes_seen_config_version != config._version
        ):
            seen.clear()  # the map or the config changed (or was replaced) since
            self._routes_seen_of = url_map
            self._routes_seen_version = url_map._version
            self._routes_seen_subdomain = url_map.default_subdomain
            self._routes_seen_config = config
            self._routes_seen_config_version = config._version
        if not self._plain_routing():
            return
        by_method = seen.get(request.path)
        if by_method is None:
            if len(seen) >= 1024:
                return
            by_method = seen[request.path] = {}
        by_method[request.method] = (rule, plan)

    def respond(self, ctx: RequestContext, handle_errors: bool = True) -> Response:
        """Hooks, view, error handlers and after-request processing, from sync code.

        The twin of :meth:`respond_async` (tests/unit/test_dispatch_twins.py keeps the two
        in step): a coroutine returned by an async hook or view runs on the thread's
        event loop. An exception no handler deals with becomes a 500 response (or
        propagates, in testing and debug mode); without ``handle_errors`` it propagates.
        """
        plan: EndpointPlan = ctx.plan  # type: ignore[assignment]
        if self._flask_dispatch:
            return dispatch_via_methods(self, ctx, handle_errors)
        if plan.view_is_async and handle_errors:
            # An async view through the WSGI door: one trip to the thread's event loop
            # for the whole dispatch, rather than one per coroutine (sync hooks then run
            # on that loop, in this same thread). A sync view keeps running here: under
            # ASGI this is a worker thread, and it must not run on the server's loop.
            return run_coroutine_sync(self.respond_async(ctx))
        request = ctx.request
        try:
            try:
                if signals.request_started.receivers:
                    signals.request_started.send(self, _async_wrapper=self.ensure_sync)
                rv = None
                if plan.url_preprocessors:
                    for pre in plan.url_preprocessors:
                        pre(request.endpoint, request.view_args)
                for before, before_is_async in plan.before:
                    rv = before()
                    if before_is_async:
                        rv = run_coroutine_sync(as_coroutine(rv))
                    if rv is not None:
                        break
                else:
                    if request.routing_exception is not None:
                        self.raise_routing_exception(request)
                    if request.method == "OPTIONS" and request.url_rule.provide_automatic_options:  # type: ignore[union-attr]
                        rv = self.make_default_options_response()
                    else:
                        view = plan.view
                        if view is None:
                            raise LookupError(
                                f"No view function is registered for endpoint {request.endpoint!r}."
                            )
                        # PERF: a call with ``**`` is not specialised on CPython 3.11: 600 to
                        # 1,200 instructions more than ``view()`` or ``view(value)`` (measured).
                        args = request.view_args
                        if not args:
                            rv = view()
                        elif len(args) == 1 and plan.first_arg in args:
                            rv = view(args[plan.first_arg])
                        else:
                            rv = view(**args)
                        if plan.view_is_async:
                            rv = run_coroutine_sync(as_coroutine(rv))
            except Exception as e:
                rv = drive_sync(self._handle_user_exception_steps(e, plan))
                if rv is _UNHANDLED:
                    raise
                if rv is e or e is request.routing_exception:
                    # Rendered as its error page, or kept on the request: its traceback
                    # holds this frame, which holds it (or the request), a reference
                    # cycle; the handler has run, so the traceback is not needed.
                    e.__traceback__ = None
            # PERF: _finalize_sync(ctx, plan, rv, False) written out (two calls fewer per
            # request; tests/unit/test_dispatch_twins.py checks this copy against it).
            response = self.make_response(rv)
            if ctx._after_request_functions:
                for func in ctx._after_request_functions:
                    response = func(response)
                    if inspect.isawaitable(response):
                        response = run_coroutine_sync(as_coroutine(response))
            for after, after_is_async in plan.after:
                response = after(response)
                if after_is_async:
                    response = run_coroutine_sync(as_coroutine(response))
            if ctx._session is not None or ctx.request._has_cookie_header is not False:
                self._save_session(ctx, response)
            if signals.request_finished.receivers:
                signals.request_finished.send(
                    self, _async_wrapper=self.ensure_sync, response=response
                )
            return response
        except Exception as e:
            if not handle_errors:
                raise
            rv = drive_sync(self._handle_exception_steps(ctx, e, plan))
            response = self._finalize_sync(ctx, plan, rv, True)
            # This frame lives on in e's traceback; the handler's value may hold e.
            rv = None
            return response

    async def respond_async(self, ctx: RequestContext) -> Response:
        """Hooks, view, error handlers and after-request processing, from async code.

        The twin of :meth:`respond`: coroutines returned by hooks and views are awaited
        on the running loop. A session store with non-blocking I/O (``plan.session_async``)
        is loaded here first, as Flask loads the session when the request begins.
        """
        plan: EndpointPlan = ctx.plan  # type: ignore[assignment]
        request = ctx.request
        try:
            try:
                if plan.session_async is not None:
                    await ctx.load_session_async(plan.session_async)
                if signals.request_started.receivers:
                    signals.request_started.send(self, _async_wrapper=self.ensure_sync)
                rv = None
                if plan.url_preprocessors:
                    for pre in plan.url_preprocessors:
                        pre(request.endpoint, request.view_args)
                for before, before_is_async in plan.before:
                    rv = before()
                    if before_is_async:
                        rv = await rv
                    if rv is not None:
                        break
                else:
                    if request.routing_exception is not None:
                        self.raise_routing_exception(request)
                    if request.method == "OPTIONS" and request.url_rule.provide_automatic_options:  # type: ignore[union-attr]
                        rv = self.make_default_options_response()
                    else:
                        view = plan.view
                        if view is None:
                            raise LookupError(
                                f"No view function is registered for endpoint {request.endpoint!r}."
                            )
                        # PERF: a call with ``**`` is not specialised on CPython 3.11: 600 to
                        # 1,200 instructions more than ``view()`` or ``view(value)`` (measured).
                        args = request.view_args
                        if not args:
                            rv = view()
                        elif len(args) == 1 and plan.first_arg in args:
                            rv = view(args[plan.first_arg])
                        else:
                            rv = view(**args)
                        if plan.view_is_async:
                            rv = await rv
            except Exception as e:
                rv = await drive_async(self._handle_user_exception_steps(e, plan))
                if rv is _UNHANDLED:
                    raise
                if rv is e or e is request.routing_exception:
                    # Rendered as its error page, or kept on the request: its traceback
                    # holds this frame, which holds it (or the request), a reference
                    # cycle; the handler has run, so the traceback is not needed.
                    e.__traceback__ = None
            # PERF: _finalize_async(ctx, plan, rv, False) written out (a coroutine fewer per
            # request; tests/unit/test_dispatch_twins.py checks this copy against it).
            response = self.make_response(rv)
            if ctx._after_request_functions:
                for func in ctx._after_request_functions:
                    response = func(response)
                    if inspect.isawaitable(response):
                        response = await response
            for after, after_is_async in plan.after:
                response = after(response)
                if after_is_async:
                    response = await response
            if plan.session_async is not None:
                await self._save_session_async(ctx, response, plan.session_async)
            elif ctx._session is not None or ctx.request._has_cookie_header is not False:
                self._save_session(ctx, response)
            if signals.request_finished.receivers:
                signals.request_finished.send(
                    self, _async_wrapper=self.ensure_sync, response=response
                )
            return response
        except Exception as e:
            rv = await drive_async(self._handle_exception_steps(ctx, e, plan))
            response = await self._finalize_async(ctx, plan, rv, True)
            # This frame lives on in e's traceback; the handler's value may hold e.
            rv = None
            return response

    async def respond_in_thread(self, ctx: RequestContext) -> Response:
        """Run :meth:`respond` in the worker pool (a sync view, or Flask's dispatch methods, under ASGI)."""
        return await run_in_threadpool(
            self._respond_in_worker, ctx, max_workers=self.config.get("ASGI_THREADPOOL_SIZE")
        )

    def _respond_in_worker(self, ctx: RequestContext) -> Response:
        response = self.respond(ctx)
        # A body that needs no context while it is sent (complete, or a file) lets us
        # tear down here, in the view's thread, as Flask does before the body goes out:
        # thread-bound resources (a sqlite3 connection on g) close where they were opened.
        body = response.body_iterable
        if body is not None and not isinstance(body, (list, tuple)):
            from .files import FileStream

            if not isinstance(body, FileStream):
                return response  # a generator may use the context while it runs
        if self._flask_dispatch:
            _flask_dispatch.teardown(self, ctx)  # through do_teardown_request, as Flask
        else:
            ctx.teardown_in_thread(ctx.error)
        return response

    async def finish_async(
        self, ctx: RequestContext, rv: Any, from_error_handler: bool = False
    ) -> Response:
        """Make a response from a hook's or handler's value, with after-request processing.

        From async code (a refused WebSocket handshake). An app that overrides Flask's
        dispatch methods has its ``finalize_request`` run in the worker pool.
        """
        if self._flask_dispatch:
            return await run_in_threadpool(self.finalize_request, rv, from_error_handler)
        return await self._finalize_async(ctx, ctx.plan, rv, from_error_handler)  # type: ignore[arg-type]

    async def handle_user_exception_async(self, ctx: RequestContext, e: Exception) -> Any:
        """Run the error handler for an exception a hook or handler raised, from async code.

        Returns the handler's value (an HTTP exception without a handler is its own
        value); re-raises ``e`` when nothing handles it.
        """
        rv = await drive_async(self._handle_user_exception_steps(e, ctx.plan))  # type: ignore[arg-type]
        if rv is _UNHANDLED:
            raise e
        return rv

    # -- dispatch: the steps both twins share ------------------------------------------------

    def _note_key_error(self, e: BadRequestKeyError) -> None:
        """Show a missing form or query key in the 400 page, in debug or when trapping it."""
        if self.debug or self.config["TRAP_BAD_REQUEST_ERRORS"]:
            e.show_exception = True

    def _handle_user_exception_steps(self, e: Exception, plan: EndpointPlan) -> Steps[Any]:
        """Run the handler for an exception a hook or view raised; return its value.

        An HTTP exception without a handler is its own value; ``_UNHANDLED`` means that
        nothing handles ``e`` (the caller re-raises it).
        """
        if isinstance(e, BadRequestKeyError):
            self._note_key_error(e)
        if isinstance(e, HTTPException) and not self.trap_http_exception(e):
            if e.code is None or isinstance(e, RequestRedirect):
                return e
            handler = self._find_error_handler(e, plan.blueprints)
            if handler is None:
                return e
        else:
            handler = self._find_error_handler(e, plan.blueprints)
            if handler is None:
                # The caller re-raises with a bare ``raise``: raising ``e`` here would
                # put this frame (which holds ``e``) in its traceback, a reference cycle.
                return _UNHANDLED
        rv = handler(e)
        if is_async_callable(handler):
            rv = yield rv
        return rv

    def _finalize_sync(
        self, ctx: RequestContext, plan: EndpointPlan, rv: Any, from_error_handler: bool
    ) -> Response:
        """Make the response and run after-request processing, from sync code.

        The twin of :meth:`_finalize_async`.
        """
        response = self.make_response(rv)
        try:
            response = self._process_response_sync(ctx, plan, response)
            if signals.request_finished.receivers:
                signals.request_finished.send(
                    self, _async_wrapper=self.ensure_sync, response=response
                )
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception("Request finalizing failed with an error while handling an error")
        return response

    async def _finalize_async(
        self, ctx: RequestContext, plan: EndpointPlan, rv: Any, from_error_handler: bool
    ) -> Response:
        """Make the response and run after-request processing, from async code.

        The twin of :meth:`_finalize_sync`.
        """
        response = self.make_response(rv)
        try:
            # PERF: _process_response_sync's twin, inlined (a coroutine per request saved).
            if ctx._after_request_functions:
                for func in ctx._after_request_functions:
                    response = func(response)
                    if inspect.isawaitable(response):
                        response = await response
            for after, after_is_async in plan.after:
                response = after(response)
                if after_is_async:
                    response = await response
            if plan.session_async is not None:
                await self._save_session_async(ctx, response, plan.session_async)
            elif ctx._session is not None or ctx.request._has_cookie_header is not False:
                self._save_session(ctx, response)
            if signals.request_finished.receivers:
                signals.request_finished.send(
                    self, _async_wrapper=self.ensure_sync, response=response
                )
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception("Request finalizing failed with an error while handling an error")
        return response

    def _process_response_sync(
        self, ctx: RequestContext, plan: EndpointPlan, response: Response
    ) -> Response:
        """After-request functions, then the session is saved (Flask's ``process_response``).

        Its async twin is inlined in :meth:`_finalize_async`.
        """
        # Flask runs after_this_request functions in registration order.
        if ctx._after_request_functions:
            for func in ctx._after_request_functions:
                response = func(response)
                if inspect.isawaitable(response):
                    response = run_coroutine_sync(as_coroutine(response))
        for after, after_is_async in plan.after:
            response = after(response)
            if after_is_async:
                response = run_coroutine_sync(as_coroutine(response))  # type: ignore[arg-type]
        if ctx._session is not None or ctx.request._has_cookie_header is not False:
            self._save_session(ctx, response)
        return response

    def _save_session(self, ctx: RequestContext, response: Response) -> None:
        """Save the session into the response, if the request opened it (or must refresh it).

        PERF: callers skip the call when the session was never opened and the door saw
        no ``Cookie`` header (``ctx._session is None and request._has_cookie_header is
        False``), the common request; it checks the rest.
        """
        session = ctx._session
        if session is None:
            request = ctx.request
            sent = request._has_cookie_header
            if not (sent if sent is not None else request._sent_cookies()):
                return
            session = self._session_to_refresh(ctx)
            if session is None:
                return
        interface = self.session_interface
        if not interface.is_null_session(session):
            interface.save_session(self, session, response)

    async def _save_session_async(
        self, ctx: RequestContext, response: Response, interface: SessionInterface
    ) -> None:
        """:meth:`_save_session` through the interface's async hooks."""
        session = ctx._session
        if session is None:
            # Not loaded (a context that skipped respond_async): refresh as the sync path does.
            request = ctx.request
            sent = request._has_cookie_header
            if not (sent if sent is not None else request._sent_cookies()):
                return
            if not self.config["SESSION_REFRESH_EACH_REQUEST"]:
                return
            if interface.get_cookie_name(self) not in request.cookies:
                return
            session = await interface.open_session_async(self, request)
            if session is None:
                return
            ctx._session = session
        if not interface.is_null_session(session):
            await interface.save_session_async(self, session, response)

    def _session_to_refresh(self, ctx: RequestContext) -> SessionMixin | None:
        """Open the session of a request that never touched it, when its cookie came along.

        Flask opens every request's session, so with ``SESSION_REFRESH_EACH_REQUEST``
        a permanent session's cookie is sent again (a later expiry) on every request,
        whether the view used the session or not. Erlen opens the session on first
        use; this opens it before saving instead, only when the request carries the
        session cookie (without one there is nothing to refresh). It is not marked
        accessed, so no ``Vary: Cookie`` unless the cookie is sent.
        """
        if not self.config["SESSION_REFRESH_EACH_REQUEST"]:
            return None
        interface = self.session_interface
        request = ctx.request
        if interface.get_cookie_name(self) not in request.cookies:
            return None
        if not interface._may_be_permanent(self, request):
            return None  # not permanent: nothing to refresh (see SessionInterface)
        session = interface.open_session(self, request)
        if session is not None:
            ctx._session = session
        return session

    def _handle_exception_steps(
        self, ctx: RequestContext, e: Exception, plan: EndpointPlan
    ) -> Steps[Any]:
        """Turn an unhandled exception into a 500 handler's value (or re-raise it).

        The caller finalizes the value (``from_error_handler=True``).
        """
        exc_info = sys.exc_info()
        ctx.error = e
        if signals.got_request_exception.receivers:
            signals.got_request_exception.send(self, _async_wrapper=self.ensure_sync, exception=e)
        propagate = self.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            propagate = self.testing or self.debug
        if propagate:
            if exc_info[1] is e:
                raise
            raise e
        self.log_exception(exc_info if exc_info[1] is e else (type(e), e, e.__traceback__))
        server_error: Any = InternalServerError(original_exception=e)
        handler = self._find_error_handler(server_error, plan.blueprints)
        if handler is not None:
            server_error = handler(server_error)
            if is_async_callable(handler):
                server_error = yield server_error
        return server_error

    def _find_error_handler(self, e: BaseException, blueprints: tuple[str, ...]) -> Any:
        key = (type(e), blueprints)
        cache = self._error_handler_cache
        if key in cache:
            return cache[key]
        exc_class, code = exc_class_and_code(type(e))
        found = None
        names = (*blueprints, None)
        for c in (code, None) if code is not None else (None,):
            for name in names:
                handler_map = self.error_handler_spec.get(name, {}).get(c)
                if not handler_map:
                    continue
                for cls in exc_class.__mro__:
                    handler = handler_map.get(cls)
                    if handler is not None:
                        found = handler
                        break
                if found is not None:
                    break
            if found is not None:
                break
        if len(cache) < 1024:
            cache[key] = found
        return found

    # -- Flask's public dispatch methods (erlen._flask_dispatch), to call or override ------

    def full_dispatch_request(self) -> Response:
        """Dispatch the current request: hooks, view, error handlers, after-request."""
        return _flask_dispatch.full_dispatch_request(self)

    def preprocess_request(self) -> Any:
        """Run URL value preprocessors and before-request hooks; return a response or None."""
        return _flask_dispatch.preprocess_request(self)

    def dispatch_request(self) -> Any:
        """Call the view for the current request and return its return value."""
        return _flask_dispatch.dispatch_request(self)

    def process_response(self, response: Response) -> Response:
        """Run the after-request functions and save the session; return the response."""
        return _flask_dispatch.process_response(self, response)

    def finalize_request(self, rv: Any, from_error_handler: bool = False) -> Response:
        """Make a response from a view's return value and run after-request processing."""
        return _flask_dispatch.finalize_request(self, rv, from_error_handler)

    def handle_user_exception(self, e: Exception) -> Any:
        """Find and call the error handler for an exception raised by a view or hook."""
        return _flask_dispatch.handle_user_exception(self, e)

    def handle_http_exception(self, e: HTTPException) -> Any:
        """Call the handler registered for an HTTP exception, or return the exception."""
        return _flask_dispatch.handle_http_exception(self, e)

    def handle_exception(self, e: Exception) -> Response:
        """Handle an unhandled exception: propagate it in testing/debug, else a 500."""
        return _flask_dispatch.handle_exception(self, e)

    def trap_http_exception(self, e: Exception) -> bool:
        """Tell whether an HTTP exception should propagate instead of being handled."""
        if self.config["TRAP_HTTP_EXCEPTIONS"]:
            return True
        trap_bad_request = self.config["TRAP_BAD_REQUEST_ERRORS"]
        if trap_bad_request is None and self.debug and isinstance(e, BadRequestKeyError):
            return True
        if trap_bad_request:
            from werkzeug.exceptions import BadRequest

            return isinstance(e, BadRequest)
        return False

    def should_ignore_error(self, error: BaseException | None) -> bool:
        """Tell teardown functions to ignore an error (never, by default)."""
        return False

    def log_exception(
        self,
        exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None] | Any,
    ) -> None:
        """Log an unhandled exception with the request's path and method (Flask's message)."""
        ctx = _cv_request.get(None)
        if ctx is None:
            self.logger.error("Exception outside a request", exc_info=exc_info)
            return
        request = ctx.request
        self.logger.error(f"Exception on {request.path} [{request.method}]", exc_info=exc_info)

    def raise_routing_exception(self, request: Request) -> Any:
        """Raise the routing error stored on the request (404, 405 or a redirect).

        In debug mode, a redirect that would make the browser drop the body of a form (a
        status other than 307/308, for a method other than GET, HEAD, OPTIONS) is raised as
        :class:`~erlen.debughelpers.FormDataRoutingRedirect`, which says why.
        """
        exc = request.routing_exception
        if (
            isinstance(exc, RequestRedirect)
            and self.debug
            and exc.code not in (307, 308)
            and request.method not in ("GET", "HEAD", "OPTIONS")
        ):
            from .debughelpers import FormDataRoutingRedirect

            raise FormDataRoutingRedirect(request)
        raise exc  # type: ignore[misc]

    def make_default_options_response(self) -> Response:
        """Answer an ``OPTIONS`` request with the methods the URL allows."""
        request = _cv_request.get().request
        url_map = self.url_map
        # Probe the same host or subdomain the request was matched against.
        where: dict[str, Any] = {"subdomain": url_map.default_subdomain}
        if url_map.host_matching:
            where = {"host": request.host.lower()}
        elif self.subdomain_matching and self.config["SERVER_NAME"]:
            where = {"subdomain": self._subdomain_of(request)}
        try:
            url_map.match(request.path, "\x00probe", **where)
        except MethodNotAllowed as e:
            methods = e.valid_methods or []
        except HTTPException:
            methods = []
        else:  # pragma: no cover - a rule accepting any method
            methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
        rv = self.response_class()
        rv.headers["Allow"] = ", ".join(sorted(methods))
        return rv

    # -- responses -------------------------------------------------------------------------------

    def make_response(self, rv: Any) -> Response:
        """Convert a view's return value into a response object.

        Accepts ``str``, ``bytes``, ``dict``/``list`` (JSON), a response, a
        (sync or async) iterator, an HTTP exception, or a tuple of
        ``(body, status)``, ``(body, headers)`` or ``(body, status, headers)``.
        """
        cls = self.response_class
        # PERF: the common cases first, without the tuple and type dispatch.
        t = type(rv)
        if t is str:
            return complete_response(cls, rv)
        if t is dict:
            return self.json.response(rv)
        if isinstance(rv, cls):
            return rv
        status = headers = None
        if isinstance(rv, tuple):
            n = len(rv)
            if n == 3:
                rv, status, headers = rv
            elif n == 2:
                if isinstance(rv[1], (dict, tuple, list)) or _is_headers(rv[1]):
                    rv, headers = rv
                else:
                    rv, status = rv
            else:
                raise TypeError(
                    "The view function did not return a valid response tuple. The tuple must"
                    " have the form (body, status, headers), (body, status), or (body, headers)."
                )
        if rv is None:
            raise TypeError(
                f"The view function for {self._current_endpoint()!r} did not return a valid"
                " response. The function either returned None or ended without a return"
                " statement."
            )
        if not isinstance(rv, cls):
            if isinstance(rv, (str, bytes, bytearray)):
                rv = cls(rv, status=status, headers=headers)
                status = headers = None
            elif isinstance(rv, (dict, list)):
                rv = self.json.response(rv)
            elif isinstance(rv, HTTPException):
                rv = self._response_from_http_exception(rv)
            elif _is_iterator(rv):
                rv = cls(rv, status=status, headers=headers)
                status = headers = None
            elif _is_foreign_response(rv):
                rv = self._response_from_foreign(rv)
            else:
                raise TypeError(
                    f"The view function for {self._current_endpoint()!r} did not return a valid"
                    " response. The return type must be a string, dict, list, tuple with"
                    " headers or status, Response instance, or iterator (generator), but it"
                    f" was a {type(rv).__name__}."
                )
        response = cast(Response, rv)
        if status is not None:
            response.status = status
        if headers:
            response.headers.update(headers)
        return response

    def _current_endpoint(self) -> str | None:
        ctx = _cv_request.get(None)
        return ctx.request.endpoint if ctx is not None else None

    def _response_from_http_exception(self, e: HTTPException) -> Response:
        # A subclass may skip HTTPException.__init__, so ``response`` can be missing.
        response = getattr(e, "response", None)
        if response is not None:
            return self.make_response(response)
        if isinstance(e, RequestRedirect):
            from .helpers import redirect

            return redirect(e.new_url, e.code or 308)
        cls = type(e)
        if cls.get_response is not HTTPException.get_response:
            # The subclass builds its own response, as Werkzeug allows (Flask runs the
            # exception as a WSGI app, which calls it).
            ctx = _cv_request.get(None)
            environ = ctx.request.environ if ctx is not None else None
            return self.make_response(e.get_response(environ))
        if cls.get_body is HTTPException.get_body and cls.get_headers is HTTPException.get_headers:
            # PERF: Werkzeug's error page depends only on the class and the
            # description; render it once (404s are common, and its escaping is slow).
            key = (cls, e.description)
            body = _error_page_cache.get(key)
            if body is None:
                body = e.get_body()
                if len(_error_page_cache) < 256:
                    _error_page_cache[key] = body
            # PERF: built as a view's string is (no __init__), then given the code.
            response = complete_response(self.response_class, body, "text/html")
            response.status_code = e.code or 500
            return response
        ctx = _cv_request.get(None)
        environ = None
        if ctx is not None and ctx.request._environ is not None:
            environ = ctx.request._environ
        headers = e.get_headers(environ)
        rv = self.response_class(e.get_body(environ), e.code or 500, headers)
        return rv

    def _response_from_foreign(self, rv: Any) -> Response:
        """Wrap a Werkzeug (or Flask) response object."""
        out = self.response_class(
            rv.iter_encoded() if getattr(rv, "is_streamed", False) else rv.get_data(),
            status=rv.status,
            headers=list(rv.headers.items()),
            content_type=rv.headers.get("Content-Type"),
        )
        out.call_on_close(rv.close)
        return out

    def redirect(self, location: str, code: int = 302) -> Response:
        """Create a redirect response (used by :func:`erlen.redirect`)."""
        return _redirect(location, code, self.response_class)

    # -- URLs ---------------------------------------------------------------------------------------

    def inject_url_defaults(self, endpoint: str, values: dict[str, Any]) -> None:
        """Let the ``url_defaults`` functions fill in values for an endpoint."""
        names: tuple[str | None, ...] = (None,)
        if "." in endpoint:
            parts = endpoint.rpartition(".")[0].split(".")
            names = (None, *(".".join(parts[:i]) for i in range(1, len(parts) + 1)))
        for name in names:
            for func in self.url_default_functions.get(name, ()):
                func(endpoint, values)

    def handle_url_build_error(
        self, error: BuildError, endpoint: str, values: dict[str, Any]
    ) -> str:
        """Try the ``url_build_error_handlers``; re-raise the error when none answers."""
        for handler in self.url_build_error_handlers:
            try:
                rv = handler(error, endpoint, values)
            except BuildError as e:
                error = e
            else:
                if rv is not None:
                    return rv
        if error is sys.exc_info()[1]:
            raise
        raise error

    def url_for(
        self,
        endpoint: str,
        /,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        """Build the URL of an endpoint (see :func:`erlen.url_for`)."""
        return self._build_url(endpoint, values, _anchor, _method, _scheme, _external)

    def _build_url(
        self,
        endpoint: str,
        values: dict[str, Any],
        _anchor: str | None,
        _method: str | None,
        _scheme: str | None,
        _external: bool | None,
    ) -> str:
        # url_for's work. PERF: erlen.url_for calls it directly with its own ``values``
        # while url_for is Erlen's (a call with ``**values`` costs about 1,000 instructions).
        req_ctx = _cv_request.get(None)
        if req_ctx is not None:
            request = req_ctx.request
            if endpoint[:1] == ".":
                bp = request.blueprint
                endpoint = f"{bp}{endpoint}" if bp is not None else endpoint[1:]
            if _external is None:
                _external = _scheme is not None
            script_root = request.root_path
            # PERF: the current host (a property) is read only when the URL needs it.
            host: str | None = None
            scheme = request.scheme
        else:
            if endpoint[:1] == ".":
                endpoint = endpoint[1:]
            if _external is None:
                _external = True
            server_name = self.config["SERVER_NAME"]
            if server_name is None:
                raise RuntimeError(
                    "Unable to build URLs outside an active request without 'SERVER_NAME'"
                    " configured. Also configure 'APPLICATION_ROOT' and"
                    " 'PREFERRED_URL_SCHEME' as needed."
                )
            script_root = (self.config["APPLICATION_ROOT"] or "/").rstrip("/")
            host = server_name
            scheme = self.config["PREFERRED_URL_SCHEME"]
        if _scheme is not None and not _external:
            raise ValueError("When specifying '_scheme', '_external' must be True.")
        if self.url_default_functions:
            self.inject_url_defaults(endpoint, values)
        try:
            path, rule = self.url_map.build(endpoint, values, _method)
        except BuildError as error:
            # A copy: the error may hold `values`, and its message must list only the user's.
            values = dict(
                values, _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external
            )
            return self.handle_url_build_error(error, endpoint, values)
        # As in Werkzeug, a URL is made external only when its host (or subdomain) differs
        # from the current one.
        url_map = self.url_map
        if url_map._host_matching:
            if rule.host:
                target = url_map.build_host(rule, values)
                if req_ctx is None or target.lower() != req_ctx.request.host.lower():
                    _external = True
                host = target
        else:
            sub = rule.subdomain or ""
            if "<" in sub:
                sub = url_map.build_host(rule, values)
            current = url_map.default_subdomain
            if req_ctx is not None and self.subdomain_matching and self.config["SERVER_NAME"]:
                current = self._subdomain_of(req_ctx.request)
            if sub != current:
                server_name = self.config["SERVER_NAME"]
                if not server_name:
                    server_name = host if host is not None else req_ctx.request.host  # type: ignore[union-attr]
                host = f"{sub}.{server_name}" if sub else server_name
                _external = True
        rv = f"{quote(script_root, safe='/:@&$!()*+,;=~%')}{path}" if script_root else path
        if _external:
            if host is None:
                host = req_ctx.request.host  # type: ignore[union-attr]
            rv = f"{_scheme or scheme}://{host}{rv}"
        if _anchor is not None:
            rv = f"{rv}#{quote(_anchor, safe='%!#$&()*+,/:;=?@')}"
        return rv

    # -- contexts -------------------------------------------------------------------------------------

    def app_context(self) -> AppContext:
        """Create an application context (``with app.app_context(): ...``)."""
        return AppContext(self)

    def request_context(self, environ: dict[str, Any]) -> RequestContext:
        """Create a request context for a WSGI environ."""
        from .wsgi import request_from_environ

        request = request_from_environ(self.request_class, environ)
        self._match_request(request)
        return RequestContext(self, request)

    def test_request_context(self, *args: Any, **kwargs: Any) -> RequestContext:
        """Create a request context from ``EnvironBuilder``-style arguments, for tests."""
        from .testing import EnvironBuilder

        builder = EnvironBuilder(self, *args, **kwargs)
        try:
            return self.request_context(builder.get_environ())
        finally:
            builder.close()

    def do_teardown_request(self, exc: BaseException | None = _sentinel) -> None:
        """Run the teardown-request functions (innermost blueprint first, then the app)."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        if teardown_pending(self):
            drive_sync(self._teardown_request_steps(exc))

    def _teardown_request_steps(self, exc: BaseException | None) -> Steps[Any]:
        ctx = _cv_request.get(None)
        blueprints = ctx.request.blueprints if ctx is not None else []
        for name in (*blueprints, None):
            for func in reversed(self.teardown_request_funcs.get(name, ())):
                rv = func(exc)
                if inspect.isawaitable(rv):
                    yield rv
        if signals.request_tearing_down.receivers:
            signals.request_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    def do_teardown_appcontext(self, exc: BaseException | None = _sentinel) -> None:
        """Run the teardown-appcontext functions, last registered first."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        if teardown_pending(self):
            drive_sync(self._teardown_appcontext_steps(exc))

    def _teardown_appcontext_steps(self, exc: BaseException | None) -> Steps[Any]:
        for func in reversed(self.teardown_appcontext_funcs):
            rv = func(exc)
            if inspect.isawaitable(rv):
                yield rv
        if signals.appcontext_tearing_down.receivers:
            signals.appcontext_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    # -- protocol doors ----------------------------------------------------------------------------------

    def wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The WSGI application (wrap this for WSGI middleware)."""
        return _wsgi_handle(self, environ, start_response)

    async def asgi_app(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        """The ASGI application (wrap this for ASGI middleware).

        HTTP requests go through ``wsgi_app`` when it is wrapped (WSGI middleware assigned
        to the instance) or overridden, as they would under a WSGI server (see
        :mod:`erlen.wsgi_bridge`); WebSocket and lifespan scopes never do.
        """
        if scope["type"] == "http":
            if "wsgi_app" in self.__dict__ or type(self).wsgi_app is not Erlen.wsgi_app:
                await _serve_wsgi(self, self.wsgi_app, scope, receive, send)
            else:
                await _asgi_http(self, scope, receive, send)  # PERF: the common scope, directly
        else:
            await _asgi_handle(self, scope, receive, send)

    def __call__(
        self, environ_or_scope: Any, start_response_or_receive: Any, send: Any = None
    ) -> Any:
        """Serve WSGI (``app(environ, start_response)``) or ASGI (``await app(scope, receive, send)``)."""
        # PERF: when wsgi_app / asgi_app are neither wrapped (an instance attribute, as
        # middleware is installed: __setattr__ notes it) nor overridden, go to the door
        # directly: one call less.
        if send is None:
            if self._doors_as_defined:
                return _wsgi_handle(self, environ_or_scope, start_response_or_receive)
            return self.wsgi_app(environ_or_scope, start_response_or_receive)
        if self._doors_as_defined and environ_or_scope["type"] == "http":
            return _asgi_http(self, environ_or_scope, start_response_or_receive, send)
        return self.asgi_app(environ_or_scope, start_response_or_receive, send)

    # -- testing and running ------------------------------------------------------------------------------

    def test_client(self, use_cookies: bool = True, **kwargs: Any) -> ErlenClient:
        """Create a test client (``asgi=True`` drives the app through its ASGI door)."""
        cls = self.test_client_class
        if cls is None:
            from .testing import ErlenClient

            cls = ErlenClient
        return cls(self, use_cookies=use_cookies, **kwargs)

    def test_cli_runner(self, **kwargs: Any) -> ErlenCliRunner:
        """Create a click runner that invokes this app's CLI commands."""
        cls = self.test_cli_runner_class
        if cls is None:
            from .testing import ErlenCliRunner

            cls = ErlenCliRunner
        return cls(self, **kwargs)

    def run(
        self,
        host: str | None = None,
        port: int | None = None,
        debug: bool | None = None,
        load_dotenv: bool = True,
        **options: Any,
    ) -> None:
        """Serve the app with uvicorn (development use; see ``erlen run``).

        Flask's keywords (Werkzeug's ``run_simple`` options) are accepted: each is given
        its uvicorn equivalent, or ignored with a warning that says why.
        """
        from .cli import run_app

        debug_on = bool(debug) if debug is not None else self.debug
        options = _translate_flask_run_options(options, debug_on)
        run_app(self, host=host, port=port, debug=debug, load_dotenv=load_dotenv, **options)


def _translate_flask_run_options(options: dict[str, Any], debug: bool) -> dict[str, Any]:
    """Map the options Flask's ``app.run`` passes to Werkzeug's server onto uvicorn's.

    ``use_reloader``, ``processes`` and ``threaded`` are left to ``run_app``, which knows them.
    """
    import warnings

    def ignored(name: str, why: str) -> None:
        warnings.warn(f"app.run({name}=...) is ignored: {why}", RuntimeWarning, stacklevel=3)

    options = dict(options)
    use_debugger = options.pop("use_debugger", None)
    if use_debugger is not None and not use_debugger and debug:
        ignored(
            "use_debugger",
            "Erlen shows its debugging page whenever debug mode is on (pass debug=False to"
            " turn it off).",
        )
    # Without debug mode errors are handled by the app, so Werkzeug's debugger has
    # nothing to catch either: use_debugger=True alone changes nothing, as in Flask.
    if options.pop("use_evalex", None):
        ignored("use_evalex", "Erlen's debugging page has no interactive console.")
    if options.pop("passthrough_errors", None):
        ignored(
            "passthrough_errors",
            "uvicorn logs an error that escapes the app and answers 500; the app lets"
            " errors escape per PROPAGATE_EXCEPTIONS (on in debug and testing mode).",
        )
    if "reloader_interval" in options:
        options["reload_delay"] = float(options.pop("reloader_interval"))
    if "exclude_patterns" in options:
        options["reload_excludes"] = list(options.pop("exclude_patterns") or ())
    if options.pop("extra_files", None):
        ignored(
            "extra_files",
            "the reloader watches Python files and templates under the working directory"
            " and the app's folder.",
        )
    if options.pop("reloader_type", None) is not None:
        ignored("reloader_type", "uvicorn uses watchfiles when installed, else polling.")
    if options.pop("request_handler", None) is not None:
        ignored("request_handler", "uvicorn serves the app, not Werkzeug's request handler.")
    if options.pop("static_files", None):
        ignored("static_files", "serve them from the app's static folder or a route.")
    ssl_context = options.pop("ssl_context", None)
    if ssl_context is not None:
        options.update(_uvicorn_ssl_options(ssl_context))
    return options


def _uvicorn_ssl_options(ssl_context: Any) -> dict[str, Any]:
    """uvicorn's TLS options for Flask's ``ssl_context``: (cert, key), ``"adhoc"`` or an SSLContext."""
    import ssl

    if isinstance(ssl_context, tuple):
        certfile, keyfile = ssl_context
        return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if ssl_context == "adhoc":
        import tempfile

        from werkzeug.serving import make_ssl_devcert

        # A self-signed certificate for this run, as Werkzeug makes one.
        base = os.path.join(tempfile.mkdtemp(prefix="erlen-adhoc-"), "adhoc")
        certfile, keyfile = make_ssl_devcert(base, host="localhost")
        return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if isinstance(ssl_context, ssl.SSLContext):
        context = ssl_context

        def factory(config: Any, default: Any) -> ssl.SSLContext:
            return context

        return {"ssl_context_factory": factory}
    raise ValueError(
        "ssl_context must be a (certfile, keyfile) tuple, 'adhoc' or an ssl.SSLContext,"
        f" not {ssl_context!r}."
    )


#: Attributes whose assignment on an app is watched: Flask's dispatch methods and the
#: doors (replaced by extensions and middleware), the registries plans are made of, and
#: the session interface (plans note whether its I/O is async).
_WATCHED_ATTRIBUTES = frozenset(
    (
        *FLASK_DISPATCH_METHODS,
        "wsgi_app",
        "asgi_app",
        "app_context",
        "url_for",
        "session_interface",
        "subdomain_matching",
        *REGISTRY_FACTORIES,
    )
)


def _first_parameter(view: Callable[..., Any]) -> str | None:
    """The name of a plain function's first parameter, when it may be passed by position.

    ``view(value)`` binds as ``view(**{name: value})`` then; not so for a positional-only
    parameter, and other callables (partials, instances, builtins) are not looked into.
    """
    if type(view) is not types.FunctionType:
        return None
    code = view.__code__
    if code.co_argcount < 1 or code.co_posonlyargcount:
        return None
    return code.co_varnames[0]


#: What the error-handler steps return for an exception no handler takes (re-raise it).
_UNHANDLED: Any = object()

#: Rendered Werkzeug error pages, by exception class and description.
_error_page_cache: dict[tuple[type[HTTPException], str | None], str] = {}


def _is_headers(value: Any) -> bool:
    from werkzeug.datastructures import Headers

    return isinstance(value, Headers)


def _is_iterator(value: Any) -> bool:
    return (hasattr(value, "__next__") and hasattr(value, "__iter__")) or hasattr(
        value, "__anext__"
    )


def _is_foreign_response(value: Any) -> bool:
    return (
        hasattr(value, "status_code") and hasattr(value, "headers") and hasattr(value, "get_data")
    )


mark_coroutine_function(Erlen.__call__)

if sys.version_info < (3, 12):  # pragma: no cover - 3.12+ reads the mark set above

    async def _asgi_entry(scope: Any, receive: Any, send: Any) -> None:
        """Stand-in whose code object the app shows to ``inspect`` (never called)."""

    # Before 3.12 inspect.iscoroutinefunction() only reads code flags, so hypercorn's
    # is_asgi(app) said "WSGI". It also accepts "function-like" objects, so the app
    # carries an async function's code and signature attributes; calls are unaffected.
    Erlen.__code__ = _asgi_entry.__code__  # type: ignore[attr-defined]
    Erlen.__defaults__ = None  # type: ignore[attr-defined]
    Erlen.__kwdefaults__ = None  # type: ignore[attr-defined]

__all__ = ["Erlen"]
