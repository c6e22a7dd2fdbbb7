"""Registration shared by the app and blueprints: routes, hooks, error handlers.

Both keep their registrations in dicts keyed by blueprint name (``None`` for
the app itself), as Flask does. The app compiles them into flat per-endpoint
plans before the first request, so the request path never walks this structure.
The dicts and lists are :class:`RegistryDict` and :class:`RegistryList`: a change
made directly on them (``app.after_request_funcs[None].append(f)``, as Flask
allows) drops the compiled plans, so it takes effect on the next request.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.exceptions import HTTPException, default_exceptions

if TYPE_CHECKING:
    from jinja2 import BaseLoader

    from .response import Response

F = TypeVar("F", bound=Callable[..., Any])
ErrorHandler = Callable[[Any], Any]


class RegistryChanges:
    """The caches compiled from an object's registries, cleared when one of them changes.

    PERF: a change (rare) clears the caches; a request pays nothing to notice it.
    """

    __slots__ = ("caches",)

    def __init__(self) -> None:
        self.caches: list[dict[Any, Any]] = []

    def changed(self) -> None:
        """Drop every compiled cache."""
        for cache in self.caches:
            cache.clear()


def _keep(value: Any) -> Any:
    return value


class RegistryList(list[Any]):
    """A list of registered functions that reports each change to its owner."""

    __slots__ = ("_changes",)

    def __init__(self, changes: RegistryChanges, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._changes = changes

    def copy(self) -> list[Any]:
        """Return a plain list with the same items."""
        return list(self)

    def __reduce__(self) -> Any:
        return (list, (list(self),))


def _notify_after(base: type, name: str) -> Callable[..., Any]:
    method = getattr(base, name)

    def notifying(self: Any, *args: Any, **kwargs: Any) -> Any:
        rv = method(self, *args, **kwargs)
        self._changes.changed()
        return rv

    notifying.__name__ = name
    notifying.__doc__ = method.__doc__
    return notifying


for _name in (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
):
    setattr(RegistryList, _name, _notify_after(list, _name))


class RegistryDict(defaultdict[Any, Any]):
    """A registry dict (``defaultdict`` as in Flask) that reports each change to its owner.

    Values stored in it are converted by ``wrap`` (a plain list becomes a
    :class:`RegistryList`, a nested dict a :class:`RegistryDict`), so a change made
    through the value is noticed too.
    """

    __slots__ = ("_changes", "_wrap")

    def __init__(
        self,
        changes: RegistryChanges,
        factory: Callable[[], Any] | None = None,
        wrap: Callable[[Any], Any] = _keep,
        items: Any = (),
    ) -> None:
        super().__init__(factory)
        self._changes = changes
        self._wrap = wrap
        for key, value in dict(items).items():
            dict.__setitem__(self, key, wrap(value))

    def __missing__(self, key: Any) -> Any:
        # A fresh, empty value changes nothing that was compiled: no notice.
        if self.default_factory is None:
            raise KeyError(key)
        value = self.default_factory()
        dict.__setitem__(self, key, value)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, self._wrap(value))
        self._changes.changed()

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._changes.changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Return the value for ``key``, storing ``default`` first when it is missing."""
        if key in self:
            return dict.__getitem__(self, key)
        self[key] = default
        return dict.__getitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        """Remove ``key`` and return its value (or ``default``)."""
        rv = dict.pop(self, key, *default)
        self._changes.changed()
        return rv

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last-inserted item."""
        rv = dict.popitem(self)
        self._changes.changed()
        return rv

    def clear(self) -> None:
        """Remove every item."""
        dict.clear(self)
        self._changes.changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Store the items of a mapping (or pairs) and keywords."""
        for key, value in dict(*args, **kwargs).items():
            dict.__setitem__(self, key, self._wrap(value))
        self._changes.changed()

    def __ior__(self, other: Any) -> RegistryDict:  # type: ignore[misc]
        self.update(other)
        return self

    def copy(self) -> defaultdict[Any, Any]:  # type: ignore[override]
        """Return a plain ``defaultdict`` with the same items."""
        return defaultdict(self.default_factory, self)

    __copy__ = copy  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


def _registry_lists(changes: RegistryChanges) -> RegistryDict:
    """``defaultdict(list)`` keyed by blueprint name, whose lists report changes."""

    def wrap(value: Any) -> Any:
        return value if isinstance(value, RegistryList) else RegistryList(changes, value)

    return RegistryDict(changes, lambda: RegistryList(changes), wrap)


def _registry_error_handlers(changes: RegistryChanges) -> RegistryDict:
    """``error_handler_spec``: blueprint name -> code -> exception class -> handler."""

    def by_class() -> RegistryDict:
        return RegistryDict(changes)

    def wrap_by_class(value: Any) -> Any:
        return value if isinstance(value, RegistryDict) else RegistryDict(changes, items=value)

    def by_code() -> RegistryDict:
        return RegistryDict(changes, by_class, wrap_by_class)

    def wrap_by_code(value: Any) -> Any:
        if isinstance(value, RegistryDict):
            return value
        return RegistryDict(changes, by_class, wrap_by_class, value)

    return RegistryDict(changes, by_code, wrap_by_code)


#: The registries a plan is compiled from, with how each is made; assigning a new
#: value to one of these attributes converts it, so changes to it are noticed too.
REGISTRY_FACTORIES: dict[str, Callable[[RegistryChanges], RegistryDict]] = {
    "view_functions": RegistryDict,
    "error_handler_spec": _registry_error_handlers,
    "before_request_funcs": _registry_lists,
    "after_request_funcs": _registry_lists,
    "url_value_preprocessors": _registry_lists,
    "websocket_before_funcs": _registry_lists,
}


def as_registry(name: str, value: Any, changes: RegistryChanges) -> Any:
    """Convert a mapping assigned to the registry attribute ``name`` so that changes are noticed."""
    if isinstance(value, RegistryDict) and value._changes is changes:
        return value
    registry = REGISTRY_FACTORIES[name](changes)
    if value is not None:
        registry.update(value)
    return registry


def get_root_path(import_name: str) -> str:
    """Return the folder of the module or package named ``import_name``."""
    mod = sys.modules.get(import_name)
    filename = getattr(mod, "__file__", None) if mod is not None else None
    if filename is not None:
        return os.path.dirname(os.path.abspath(str(filename)))
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin in (None, "namespace"):
        if spec is not None and spec.submodule_search_locations:
            return os.path.abspath(next(iter(spec.submodule_search_locations)))
        return os.getcwd()
    return os.path.dirname(os.path.abspath(spec.origin))


def _package_parent_path(root_mod_name: str) -> str:
    """Return the folder that holds a top-level module, or the parent of a package's folder."""
    try:
        spec = importlib.util.find_spec(root_mod_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return get_root_path(root_mod_name)
    if spec.submodule_search_locations:
        if spec.origin in (None, "namespace"):
            location = next(iter(spec.submodule_search_locations))
        else:
            location = os.path.dirname(str(spec.origin))
        return os.path.dirname(os.path.abspath(location))
    if spec.origin in (None, "namespace", "built-in", "frozen"):
        return os.getcwd()
    return os.path.dirname(os.path.abspath(str(spec.origin)))


def find_package(import_name: str) -> tuple[str | None, str]:
    """Return ``(installation prefix or None, package folder)`` for the instance path."""
    root_mod_name = import_name.partition(".")[0]
    package_path = _package_parent_path(root_mod_name)
    py_prefix = os.path.abspath(sys.prefix)
    if pathlib.PurePath(package_path).is_relative_to(py_prefix):
        return py_prefix, package_path
    site_parent, site_folder = os.path.split(package_path)
    if site_folder.lower() == "site-packages":
        parent, folder = os.path.split(site_parent)
        if folder.lower() == "lib":
            return parent, package_path
        if os.path.basename(parent).lower() == "lib":
            return os.path.dirname(parent), package_path
        return site_parent, package_path
    return None, package_path


def endpoint_from_view_func(view_func: Callable[..., Any]) -> str:
    """Return the default endpoint name for a view (its ``__name__``)."""
    if view_func is None:
        raise TypeError("expected view func if endpoint is not provided.")
    return view_func.__name__


def exc_class_and_code(
    exc_class_or_code: type[BaseException] | int,
) -> tuple[type[BaseException], int | None]:
    """Resolve an error-handler key (status code or exception class) to a class and a code."""
    if isinstance(exc_class_or_code, int):
        try:
            exc_class: type[BaseException] = default_exceptions[exc_class_or_code]
        except KeyError:
            raise ValueError(
                f"'{exc_class_or_code}' is not a recognized HTTP error code. Use a"
                " subclass of HTTPException with that code instead."
            ) from None
    else:
        exc_class = exc_class_or_code
    if isinstance(exc_class, BaseException):
        raise TypeError(
            f"{exc_class!r} is an instance, not a class. Handlers can only be registered for classes."
        )
    if not isinstance(exc_class, type) or not issubclass(exc_class, Exception):
        raise ValueError(
            f"'{getattr(exc_class, '__name__', exc_class)}' is not a subclass of Exception."
            " Handlers can only be registered for Exception classes or HTTP error codes."
        )
    if issubclass(exc_class, HTTPException):
        return exc_class, exc_class.code
    return exc_class, None


class Scaffold:
    """What the app and blueprints both offer: decorators that record registrations."""

    name: str
    _static_folder: str | None = None
    _static_url_path: str | None = None

    def __init__(
        self,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        root_path: str | None = None,
    ) -> None:
        self.import_name = import_name
        self.static_folder = static_folder
        self.static_url_path = static_url_path
        self.template_folder = template_folder
        if root_path is None:
            root_path = get_root_path(self.import_name)
        self.root_path = root_path
        #: What compiled caches to drop when a registry changes (the app adds its plans).
        self._registry_changes = changes = RegistryChanges()
        self.view_functions: dict[str, Callable[..., Any]] = RegistryDict(changes)
        self.error_handler_spec: dict[
            str | None, dict[int | None, dict[type[BaseException], ErrorHandler]]
        ] = _registry_error_handlers(changes)
        self.before_request_funcs: dict[str | None, list[Callable[[], Any]]] = _registry_lists(
            changes
        )
        self.after_request_funcs: dict[str | None, list[Callable[[Any], Any]]] = _registry_lists(
            changes
        )
        self.teardown_request_funcs: dict[
            str | None, list[Callable[[BaseException | None], Any]]
        ] = defaultdict(list)
        self.template_context_processors: dict[str | None, list[Callable[[], dict[str, Any]]]] = (
            defaultdict(list, {None: []})
        )
        self.url_value_preprocessors: dict[
            str | None, list[Callable[[str | None, dict[str, Any] | None], None]]
        ] = _registry_lists(changes)
        self.url_default_functions: dict[
            str | None, list[Callable[[str, dict[str, Any]], None]]
        ] = defaultdict(list)
        self.websocket_before_funcs: dict[str | None, list[Callable[[], Any]]] = _registry_lists(
            changes
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def _changed(self) -> None:
        """Note that registrations changed (the app drops its compiled plans)."""

    def _check_setup_finished(self, f_name: str) -> None:
        """Refuse a setup method called too late (the app and blueprints say when)."""

    # -- static files and templates -------------------------------------------------

    @property
    def static_folder(self) -> str | None:
        """The absolute path of the static folder, or None."""
        if self._static_folder is not None:
            return os.path.join(self.root_path, self._static_folder)
        return None

    @static_folder.setter
    def static_folder(self, value: str | os.PathLike[str] | None) -> None:
        if value is not None:
            value = os.fspath(value).rstrip(r"\/")
        self._static_folder = value

    @property
    def has_static_folder(self) -> bool:
        """True when a static folder is configured."""
        return self._static_folder is not None

    @property
    def static_url_path(self) -> str | None:
        """The URL prefix static files are served under."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self._static_folder is not None:
            basename = os.path.basename(self._static_folder)
            return f"/{basename}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value: str | None) -> None:
        if value is not None:
            value = value.rstrip("/")
        self._static_url_path = value

    @cached_property
    def jinja_loader(self) -> BaseLoader | None:
        """A Jinja loader for this object's template folder (assignable, as Flask's)."""
        if self.template_folder is not None:
            from jinja2 import FileSystemLoader

            return FileSystemLoader(os.path.join(self.root_path, self.template_folder))
        return None

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """Return the cache max age for static files (``SEND_FILE_MAX_AGE_DEFAULT``)."""
        from .globals import current_app

        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if value is None:
            return None
        if hasattr(value, "total_seconds"):
            return int(value.total_seconds())
        return int(value)

    def send_static_file(self, filename: str) -> Response:
        """Serve a file from the static folder (the ``static`` endpoint's view)."""
        if not self.has_static_folder:
            raise RuntimeError("'static_folder' must be set to serve static_files.")
        from .files import send_from_directory

        max_age = self.get_send_file_max_age(filename)
        return send_from_directory(self.static_folder, filename, max_age=max_age)  # type: ignore[arg-type]

    def open_resource(self, resource: str, mode: str = "rb", encoding: str | None = None) -> Any:
        """Open a file relative to ``root_path`` for reading."""
        if mode not in {"r", "rt", "rb"}:
            raise ValueError("Resources can only be opened for reading.")
        path = os.path.join(self.root_path, resource)
        if mode == "rb":
            return open(path, mode)
        return open(path, mode, encoding=encoding)

    # -- routes -------------------------------------------------------------------

    def _method_route(self, method: str, rule: str, options: dict[str, Any]) -> Callable[[F], F]:
        if "methods" in options:
            raise TypeError("Use the 'route' decorator to use the 'methods' argument.")
        return self.route(rule, methods=[method], **options)

    def get(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register a view for GET requests (``route`` with ``methods=["GET"]``)."""
        return self._method_route("GET", rule, options)

    def post(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register a view for POST requests."""
        return self._method_route("POST", rule, options)

    def put(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register a view for PUT requests."""
        return self._method_route("PUT", rule, options)

    def delete(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register a view for DELETE requests."""
        return self._method_route("DELETE", rule, options)

    def patch(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register a view for PATCH requests."""
        return self._method_route("PATCH", rule, options)

    def route(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register the decorated function as the view for a URL rule."""
        self._check_setup_finished("route")

        def decorator(f: F) -> F:
            endpoint = options.pop("endpoint", None)
            self.add_url_rule(rule, endpoint, f, **options)
            return f

        return decorator

    def websocket(self, rule: str, **options: Any) -> Callable[[F], F]:
        """Register the decorated ``async def`` function as a WebSocket handler."""

        def decorator(f: F) -> F:
            endpoint = options.pop("endpoint", None)
            self.add_websocket(rule, endpoint, f, **options)
            return f

        return decorator

    def add_websocket(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        """Register a WebSocket handler (like ``add_url_rule`` for WebSocket routes)."""
        options["websocket"] = True
        options["methods"] = ["GET"]
        options.setdefault("provide_automatic_options", False)
        self.add_url_rule(rule, endpoint, view_func, **options)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Register a rule; see :meth:`erlen.Erlen.add_url_rule`."""
        raise NotImplementedError

    def endpoint(self, endpoint: str) -> Callable[[F], F]:
        """Register the decorated function as the view for an endpoint name."""

        self._check_setup_finished("endpoint")

        def decorator(f: F) -> F:
            self.view_functions[endpoint] = f
            self._changed()
            return f

        return decorator

    # -- hooks ------------------------------------------------------------------

    def before_request(self, f: F) -> F:
        """Run ``f()`` before each request; a non-None return is the response."""
        self._check_setup_finished("before_request")
        self.before_request_funcs.setdefault(None, []).append(f)
        self._changed()
        return f

    def before_websocket(self, f: F) -> F:
        """Run ``f()`` before each WebSocket handler; a non-None return refuses the handshake."""
        self._check_setup_finished("before_websocket")
        self.websocket_before_funcs.setdefault(None, []).append(f)
        self._changed()
        return f

    def after_request(self, f: F) -> F:
        """Run ``f(response)`` after each request; it returns the response to send."""
        self._check_setup_finished("after_request")
        self.after_request_funcs.setdefault(None, []).append(f)
        self._changed()
        return f

    def teardown_request(self, f: F) -> F:
        """Run ``f(error)`` when the request context is popped, even after an error."""
        self._check_setup_finished("teardown_request")
        self.teardown_request_funcs.setdefault(None, []).append(f)
        self._changed()
        return f

    def context_processor(self, f: F) -> F:
        """Register a function whose returned dict is added to every template context."""
        self._check_setup_finished("context_processor")
        self.template_context_processors[None].append(f)
        self._changed()
        return f

    def url_value_preprocessor(self, f: F) -> F:
        """Run ``f(endpoint, values)`` on the matched URL values before the hooks."""
        self._check_setup_finished("url_value_preprocessor")
        self.url_value_preprocessors[None].append(f)
        self._changed()
        return f

    def url_defaults(self, f: F) -> F:
        """Run ``f(endpoint, values)`` to fill in values when building URLs."""
        self._check_setup_finished("url_defaults")
        self.url_default_functions[None].append(f)
        self._changed()
        return f

    def errorhandler(self, code_or_exception: type[BaseException] | int) -> Callable[[F], F]:
        """Register the decorated function to handle a status code or exception class."""
        self._check_setup_finished("errorhandler")

        def decorator(f: F) -> F:
            self.register_error_handler(code_or_exception, f)
            return f

        return decorator

    def register_error_handler(
        self, code_or_exception: type[BaseException] | int, f: ErrorHandler
    ) -> None:
        """Register ``f(error)`` to handle a status code or exception class."""
        self._check_setup_finished("register_error_handler")
        exc_class, code = exc_class_and_code(code_or_exception)
        self.error_handler_spec[None][code][exc_class] = f
        self._changed()

    _get_exc_class_and_code = staticmethod(exc_class_and_code)


__all__ = ["Scaffold", "endpoint_from_view_func", "find_package", "get_root_path"]
