"""Context-local globals: ``current_app``, ``g``, ``request``, ``session``.

Each proxy reads one ``ContextVar``, ``_cv_app``, which holds the current context, so the
objects are correct per thread and per asyncio task. A request context is an app context
too; an app context pushed during a request keeps the request visible through it (see
:mod:`erlen.ctx`). ``request_ctx`` and ``app_ctx`` are the context objects themselves,
which extensions written for Flask reach for; :func:`get_app_context` and
:func:`get_request_context` return them, or ``None`` outside one, without raising.

Code written for Flask 3.1 may read ``_cv_request``, Flask's second variable: here it is a
view of ``_cv_app`` with the same ``get``, ``set`` and ``reset``.
"""

from __future__ import annotations

import linecache
import sys
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

if TYPE_CHECKING:
    from .app import Erlen
    from .ctx import AppContext, RequestContext, _AnyGlobals
    from .request import Request
    from .sessions import SessionMixin

_T = TypeVar("_T")

_no_app_msg = """\
Working outside of application context.

This typically means that you attempted to use functionality that needed
the current application. To solve this, set up an application context
with app.app_context(). See the documentation for more information.\
"""
_no_req_msg = """\
Working outside of request context.

This typically means that you attempted to use functionality that needed
an active HTTP request. Consult the documentation on testing for
information about how to avoid this problem.\
"""

#: The current context: an app context, or a request context (which is one too).
_cv_app: ContextVar[AppContext] = ContextVar("erlen.app_ctx")


def _request_ctx_of(ctx: Any) -> Any:
    """The request context visible from the context ``ctx`` (or None): False when none is."""
    if ctx is None:
        return False
    beneath = getattr(ctx, "_request_ctx", False)  # (a stand-in object in tests has none)
    return ctx if beneath is None else beneath


class _RequestContextVar:
    """``_cv_request``: the current request context, read from ``_cv_app``.

    For code written for Flask 3.1, which keeps the request context in a variable of its
    own: ``get`` answers as that variable would (the request context, also through an app
    context pushed within it), and ``set``/``reset`` make a context current in ``_cv_app``.
    """

    __slots__ = ()

    name = "erlen.request_ctx"

    @overload
    def get(self) -> RequestContext: ...
    @overload
    def get(self, default: _T, /) -> RequestContext | _T: ...

    def get(self, *default: Any) -> Any:
        """The current request context; ``default`` (or LookupError) when there is none."""
        # PERF: _request_ctx_of written out (url_for and extensions ask on every call).
        ctx = _cv_app.get(None)
        if ctx is not None:
            try:
                beneath = ctx._request_ctx
            except AttributeError:
                beneath = False  # a stand-in object for an app context (tests): no request
            if beneath is None:
                return ctx
            if beneath is not False:
                return beneath
        if default:
            return default[0]
        raise LookupError(self)

    def set(self, value: RequestContext) -> Token[AppContext]:
        """Make ``value`` (a request context that has been pushed before) current."""
        return _cv_app.set(value)

    def reset(self, token: Token[AppContext]) -> None:
        """Undo a :meth:`set`."""
        _cv_app.reset(token)

    def __repr__(self) -> str:
        return "<erlen.globals._cv_request: a view of _cv_app>"


_cv_request = _RequestContextVar()


_oga = object.__getattribute__


def flask_compat_active() -> bool:
    """Tell whether :mod:`erlen.flask_compat` is on (``import flask`` answers with Erlen).

    Read from ``sys.modules`` rather than imported: importing ``erlen.flask_compat``
    would turn compat mode on.
    """
    compat = sys.modules.get("erlen.flask_compat")
    return compat is not None and bool(compat.is_active())


#: Names the proxy answers itself instead of forwarding: everything its class defines
#: (``__class__``, ``__doc__``, its methods ...), as a normal attribute lookup would.
_OWN_NAMES: set[str] = set()


class ContextProxy:
    """Forward attribute access and operators to an object in a context variable.

    ``attr`` names the attribute of the context object to expose (or ``None``
    for the context object itself). Outside a context every access raises a
    ``RuntimeError`` explaining which context is missing, and ``bool()`` is False.
    """

    __slots__ = ("_erlen_attr", "_erlen_cv", "_erlen_msg")

    def __init__(self, cv: ContextVar[Any], attr: str | None, message: str) -> None:
        object.__setattr__(self, "_erlen_cv", cv)
        object.__setattr__(self, "_erlen_attr", attr)
        object.__setattr__(self, "_erlen_msg", message)

    def _get_current_object(self) -> Any:
        """Return the object the proxy currently stands for."""
        try:
            ctx = self._erlen_cv.get()
        except LookupError:
            raise RuntimeError(self._erlen_msg) from None
        attr = self._erlen_attr
        return ctx if attr is None else getattr(ctx, attr)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _OWN_NAMES.update(cls.__dict__)
        if "_get_current_object" in cls.__dict__:
            # A subclass that finds its object its own way: forward through it.
            cls.__getattribute__ = ContextProxy._forward_getattribute  # type: ignore[method-assign]

    # PERF: attribute access is the proxies' hot path (``request.args``). With
    # __getattribute__ (rather than __getattr__) Python skips the failing
    # normal lookup and its AttributeError on every access: about 2x faster.
    def __getattribute__(self, name: str) -> Any:
        if name in _OWN_NAMES:
            return _oga(self, name)
        try:
            ctx = _oga(self, "_erlen_cv").get()
        except LookupError:
            raise RuntimeError(_oga(self, "_erlen_msg")) from None
        attr = _oga(self, "_erlen_attr")
        return getattr(ctx if attr is None else getattr(ctx, attr), name)

    def _forward_getattribute(self, name: str) -> Any:
        if name in _OWN_NAMES:
            return _oga(self, name)
        return getattr(_oga(self, "_get_current_object")(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(type(self)._get_current_object(self), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(type(self)._get_current_object(self), name)

    def __dir__(self) -> list[str]:
        try:
            return dir(type(self)._get_current_object(self))
        except RuntimeError:
            return []

    # Ordinary attribute access never reaches this property: ``__class__`` is asked for
    # by isinstance() and the like, and answered here as one of _OWN_NAMES.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        """The proxied object's class, so ``isinstance(request, MyRequest)`` works.

        Outside a context, the proxy's own class (as Werkzeug's ``LocalProxy`` answers).
        """
        try:
            return type(type(self)._get_current_object(self))
        except RuntimeError:
            return type(self)

    def __repr__(self) -> str:
        try:
            obj = type(self)._get_current_object(self)
        except RuntimeError:
            if flask_compat_active():
                # In compat mode this proxy stands for Werkzeug's LocalProxy: say so alike.
                return "<LocalProxy unbound>"
            return f"<ContextProxy unbound {self._erlen_attr or 'context'}>"
        return repr(obj)

    def __str__(self) -> str:
        return str(type(self)._get_current_object(self))

    def __bool__(self) -> bool:
        try:
            return bool(type(self)._get_current_object(self))
        except RuntimeError:
            return False

    def __eq__(self, other: object) -> bool:
        return bool(type(self)._get_current_object(self) == other)

    def __ne__(self, other: object) -> bool:
        return bool(type(self)._get_current_object(self) != other)

    def __hash__(self) -> int:
        return hash(type(self)._get_current_object(self))

    def __getitem__(self, key: Any) -> Any:
        return type(self)._get_current_object(self)[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        type(self)._get_current_object(self)[key] = value

    def __delitem__(self, key: Any) -> None:
        del type(self)._get_current_object(self)[key]

    def __contains__(self, key: object) -> bool:
        return key in type(self)._get_current_object(self)

    def __iter__(self) -> Any:
        return iter(type(self)._get_current_object(self))

    def __len__(self) -> int:
        return len(type(self)._get_current_object(self))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)._get_current_object(self)(*args, **kwargs)

    # ``with app_ctx:`` / ``async with request_ctx:`` through the proxy, as with Flask's.
    def __enter__(self) -> Any:
        obj = type(self)._get_current_object(self)
        return type(obj).__enter__(obj)

    def __exit__(self, *exc_info: Any) -> Any:
        obj = type(self)._get_current_object(self)
        return type(obj).__exit__(obj, *exc_info)

    async def __aenter__(self) -> Any:
        obj = type(self)._get_current_object(self)
        return await type(obj).__aenter__(obj)

    async def __aexit__(self, *exc_info: Any) -> Any:
        obj = type(self)._get_current_object(self)
        return await type(obj).__aexit__(obj, *exc_info)


_OWN_NAMES.update(dir(ContextProxy))


#: The source of a proxy's functions. ``{find}`` sets ``ctx`` to the context that holds the
#: object the proxy stands for (or raises the proxy's RuntimeError); ``{obj}`` reads that
#: object from ``ctx``.
_PROXY_SOURCE = """
def current(self):
{find}
    return {obj}

def getattribute(self, name):
    if name in _OWN_NAMES:
        return _oga(self, name)
{find}
    return getattr({obj}, name)

def setattribute(self, name, value):
{find}
    setattr({obj}, name, value)
"""

#: ``{find}`` on the app side: the current context.
_FIND_APP_CTX = """\
    try:
        ctx = get()
    except LookupError:
        raise RuntimeError(message) from None"""

#: ``{find}`` on the request side: the current context when it is the request context
#: (``_request_ctx`` None), else the request context it has beneath (False: none). See
#: erlen.ctx.
_FIND_REQUEST_CTX = """\
    try:
        ctx = get()
        beneath = ctx._request_ctx
    except LookupError:
        raise RuntimeError(message) from None
    except AttributeError:
        beneath = False  # a stand-in object for an app context (tests): no request
    if beneath is not None:
        if beneath is False:
            raise RuntimeError(message)
        ctx = beneath"""


def _proxy_functions(cv: Any, attr: str | None, message: str) -> dict[str, Any]:
    """``current``, ``getattribute`` and ``setattribute`` for a proxy of ``attr`` on ``cv``.

    PERF: ``request.args`` and ``g.user = ...`` are the proxies' hot path. The functions
    are generated with the attribute read written in (``ctx.request``), which costs about
    300 instructions less than ``getattr(ctx, attr)`` per access (measured); the source is
    registered with :mod:`linecache`, so tracebacks through a proxy show its lines.
    """
    namespace: dict[str, Any] = {
        "get": _cv_app.get,
        "message": message,
        "_OWN_NAMES": _OWN_NAMES,
        "_oga": _oga,
    }
    assert attr is None or attr.isidentifier()
    obj = "ctx" if attr is None else f"ctx.{attr}"
    if cv is _cv_request:
        source = _PROXY_SOURCE.format(find=_FIND_REQUEST_CTX, obj=obj)
    else:
        assert attr is not None  # (app_ctx, the app side's own context, is not generated)
        source = _PROXY_SOURCE.format(find=_FIND_APP_CTX, obj=obj)
    filename = f"<erlen.globals: the {attr or 'context'} proxy>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def _bound_proxy(cv: Any, attr: str | None, message: str) -> Any:
    """Make a proxy whose class has the context variable and attribute built in.

    ``cv`` is ``_cv_app`` (the app side: the current context) or ``_cv_request`` (the
    request side: the request context visible from the current context).
    """
    if cv is not _cv_request and attr is None:
        # The active app context itself (app_ctx): its _active_app_ctx when it has one.
        get = _cv_app.get

        def current(self: Any) -> Any:
            try:
                ctx = get()
            except LookupError:
                raise RuntimeError(message) from None
            return getattr(ctx, "_active_app_ctx", ctx)

        def getattribute(self: Any, name: str) -> Any:
            if name in _OWN_NAMES:
                return _oga(self, name)
            return getattr(current(self), name)

        def setattribute(self: Any, name: str, value: Any) -> None:
            setattr(current(self), name, value)

    else:
        functions = _proxy_functions(cv, attr, message)
        current = functions["current"]
        getattribute = functions["getattribute"]
        setattribute = functions["setattribute"]

    cls: Any = type("ContextProxy", (ContextProxy,), {"__slots__": ()})
    # Assigned after creation: __init_subclass__ treats a class-body _get_current_object
    # as "find the object another way".
    cls.__getattribute__ = getattribute
    cls.__setattr__ = setattribute
    cls._get_current_object = current
    cls.__module__ = __name__
    return cls(cv, attr, message)


#: The application handling the current request or owning the active app context.
current_app: Erlen = cast("Erlen", _bound_proxy(_cv_app, "app", _no_app_msg))
#: A namespace for data during one app context (one request): ``g.user = ...``.
g: _AnyGlobals = cast("_AnyGlobals", _bound_proxy(_cv_app, "g", _no_app_msg))
#: The active :class:`~erlen.ctx.AppContext` itself (for extensions written for Flask).
app_ctx: AppContext = cast("AppContext", _bound_proxy(_cv_app, None, _no_app_msg))
#: The current :class:`~erlen.Request`: the request being handled in this thread or task.
request: Request = cast("Request", _bound_proxy(_cv_request, "request", _no_req_msg))
#: The current request's session, a dict loaded when first touched and saved with the response.
session: SessionMixin = cast("SessionMixin", _bound_proxy(_cv_request, "session", _no_req_msg))
#: The active :class:`~erlen.ctx.RequestContext` itself (for extensions written for Flask).
request_ctx: RequestContext = cast("RequestContext", _bound_proxy(_cv_request, None, _no_req_msg))


def get_app_context() -> AppContext | None:
    """Return the active application context, or ``None`` outside one."""
    ctx = _cv_app.get(None)
    return getattr(ctx, "_active_app_ctx", ctx)


def get_request_context() -> RequestContext | None:
    """Return the active request context, or ``None`` outside one."""
    return _cv_request.get(None)


__all__ = [
    "app_ctx",
    "current_app",
    "g",
    "get_app_context",
    "get_request_context",
    "request",
    "request_ctx",
    "session",
]
