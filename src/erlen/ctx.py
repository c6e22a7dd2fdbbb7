"""Application and request contexts.

A context is pushed by setting one ``ContextVar`` (``erlen.globals._cv_app``) to it; the
proxies in :mod:`erlen.globals` read it. Because the variable is context-local, each
thread and each asyncio task sees its own request.

A request context is an app context too (one object per request, and one variable set
per push). An app context pushed while a request is active keeps that request visible
through it (``_request_ctx``), so ``request`` and ``session`` still work inside
``with app.app_context():``, as in Flask 3.1.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import signals
from .concurrency import drive_async, drive_sync
from .globals import _cv_app, _cv_request, _request_ctx_of, flask_compat_active

if TYPE_CHECKING:
    from .app import EndpointPlan, Erlen
    from .request import Request
    from .response import Response
    from .sessions import SessionInterface, SessionMixin

F = TypeVar("F", bound=Callable[..., Any])

_sentinel: Any = object()


def teardown_pending(app: Erlen) -> bool:
    """Whether a teardown may run anything: teardown functions, or receivers of their signals.

    PERF: asked once per request (most apps register no teardown function); when it is
    False, popping a context only unbinds it, and no coroutine is needed to pop it.
    """
    return bool(
        app.teardown_request_funcs
        or app.teardown_appcontext_funcs
        or signals.request_tearing_down.receivers
        or signals.appcontext_tearing_down.receivers
        or app._flask_dispatch  # Flask's do_teardown_* may be overridden or replaced
    )


class _AppCtxGlobals:
    """The ``g`` namespace: free-form storage that lives as long as the app context."""

    def get(self, name: str, default: Any | None = None) -> Any:
        """Return an attribute, or ``default`` when it is not set."""
        return self.__dict__.get(name, default)

    def pop(self, name: str, default: Any = _sentinel) -> Any:
        """Remove an attribute and return its value (or ``default``)."""
        if default is _sentinel:
            return self.__dict__.pop(name)
        return self.__dict__.pop(name, default)

    def setdefault(self, name: str, default: Any = None) -> Any:
        """Return an attribute, setting it to ``default`` first when missing."""
        return self.__dict__.setdefault(name, default)

    def __contains__(self, item: str) -> bool:
        return item in self.__dict__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    # Hidden from type checkers, so that a declared ``g`` (a subclass, see
    # erlen.typing.Globals) has only its declared attributes; ``erlen.g`` itself is
    # typed as _AnyGlobals below and takes any attribute.
    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Only reached for missing attributes; Flask raises AttributeError too.
            raise AttributeError(name)

    def __repr__(self) -> str:
        ctx = _cv_app.get(None)
        if ctx is not None:
            # Named as the code that uses it imports it: ``flask.g`` in compat mode.
            module = "flask" if flask_compat_active() else "erlen"
            return f"<{module}.g of '{ctx.app.name}'>"
        return object.__repr__(self)


if TYPE_CHECKING:

    class _AnyGlobals(_AppCtxGlobals):
        """How type checkers see an undeclared ``g``: any attribute, of any type, as Flask's."""

        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...
        def __delattr__(self, name: str) -> None: ...


class AppContext:
    """Bind an application: ``current_app`` and ``g`` point at it while pushed.

    It takes new attributes, as Flask's does (``__dict__`` among its slots).
    """

    __slots__ = ("__dict__", "_request_ctx", "_tokens", "app", "g")

    def __init__(self, app: Erlen) -> None:
        self.app = app
        # Typed as the undeclared g (any attribute), as Flask types it.
        self.g: _AnyGlobals = app.app_ctx_globals_class()  # type: ignore[assignment]
        self._tokens: list[Token[AppContext]] = []
        #: The request context visible while this one is current: None for a request
        #: context (itself), False when no request is active, else the one beneath.
        self._request_ctx: RequestContext | Literal[False] | None = False

    @property
    def _active_app_ctx(self) -> AppContext:
        """The app context ``app_ctx`` stands for while this context is current."""
        return self

    def push(self) -> None:
        """Make this the current app context."""
        self._request_ctx = _request_ctx_of(_cv_app.get(None))
        self._tokens.append(_cv_app.set(self))
        if signals.appcontext_pushed.receivers:
            signals.appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

    def pop(self, exc: BaseException | None = _sentinel) -> None:
        """Run the app-context teardown functions and unbind this context."""
        if len(self._tokens) > 1 and _beneath_kept_request(self):
            return
        try:
            if len(self._tokens) == 1:
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                self.app.do_teardown_appcontext(exc)
        finally:
            ctx = _cv_app.get(None)
            _cv_app.reset(self._tokens.pop())
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context. ({ctx!r} instead of {self!r})")
        if signals.appcontext_popped.receivers:
            signals.appcontext_popped.send(self.app, _async_wrapper=self.app.ensure_sync)

    def __enter__(self) -> AppContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    async def __aenter__(self) -> AppContext:
        self.push()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.apop(exc_value)

    async def apop(self, exc: BaseException | None = None) -> None:
        """Pop from async code: async teardown functions are awaited on the running loop."""
        if len(self._tokens) > 1 and _beneath_kept_request(self):
            return
        app = self.app
        try:
            if len(self._tokens) == 1 and teardown_pending(app):
                await drive_async(app._teardown_appcontext_steps(exc))
        finally:
            ctx = _cv_app.get(None)
            _cv_app.reset(self._tokens.pop())
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context. ({ctx!r} instead of {self!r})")
        if signals.appcontext_popped.receivers:
            signals.appcontext_popped.send(app, _async_wrapper=app.ensure_sync)


#: What a request context's outermost push made of the app context (``_app_role``): it
#: is its own app context, it pushed the one the app's own ``app_context()`` made, or it
#: stands on the same app's context that was active.
_OWN = "own"
_PUSHED_OTHER = "pushed another"
_STANDS_ON = "stands on the active one"


class RequestContext(AppContext):
    """Bind a request (and, lazily, its session) to the current context.

    Pushing a request context makes it the current context, which is also the app
    context: one object per request, and one context variable set. When no app context
    of its app is active it becomes that app context itself (``g`` lives on it), unless
    the app overrides ``app_context()``, whose context is then pushed beneath it. When
    one is active (``with app.app_context():`` around a test request) it stands on that
    one and shares its ``g``, as in Flask 3.1. The session is opened the first time
    ``session`` is touched (or, on the async path with a session store that has async
    I/O, by ``respond_async`` before the hooks run: see :class:`erlen.app.EndpointPlan`).
    Like Flask's, it takes new attributes: extensions keep per-request state on it.
    """

    # Extensions (Flask-Limiter, ...) set their own attributes on the context (AppContext
    # has "__dict__"); the fields Erlen uses stay slots. ``_tokens`` are its pushes (as
    # the request context, and as the app context when it is its own), and ``g`` is set
    # when it is pushed.
    __slots__ = (
        "_after_request_functions",
        "_app_role",
        "_detached_token",
        "_other_app_ctx",
        "_session",
        "_torn_down",
        "error",
        "flashes",
        "plan",
        "request",
    )

    def __init__(self, app: Erlen, request: Request, session: SessionMixin | None = None) -> None:
        self.app = app
        self.request = request
        self._session = session
        self._request_ctx = None  # a request context is its own (see AppContext)
        self.flashes: list[tuple[str, str]] | None = None
        # PERF: a list only once after_this_request() adds a function.
        self._after_request_functions: list[Callable[[Response], Response]] | tuple[()] = ()
        self._tokens: list[Token[AppContext]] = []
        # What its outermost push made of the app context (_OWN, _PUSHED_OTHER, or
        # _STANDS_ON: the same app's context was active) and, unless it is its own, the
        # app context it stands on.
        self._app_role = _STANDS_ON
        self._other_app_ctx: AppContext | None = None
        #: The unhandled exception of this request, passed to teardown functions.
        self.error: BaseException | None = None
        self._torn_down = False
        #: The endpoint's compiled plan, set by ``Erlen.begin_request`` (None until then).
        self.plan: EndpointPlan | None = None

    @property
    def _app_ctx(self) -> AppContext | None:
        """The app context its outermost push made current (itself, usually), or None."""
        role = self._app_role
        if role is _OWN:
            return self
        return self._other_app_ctx if role is _PUSHED_OTHER else None

    @property
    def _active_app_ctx(self) -> AppContext:
        """The app context ``app_ctx`` stands for: this one, or the one it stands on."""
        if self._app_role is _OWN:
            return self
        return self._other_app_ctx or self

    @property
    def session(self) -> SessionMixin:
        """The session, opened through ``app.session_interface`` on first access."""
        session = self._session
        if session is None:
            interface = self.app.session_interface
            session = interface.open_session(self.app, self.request)
            if session is None:
                session = interface.make_null_session(self.app)
            self._session = session
        # Any use through the ``session`` proxy (even ``len`` or ``in``) may make
        # the response depend on the cookie: mark it for ``Vary: Cookie``, as Flask 3.1.3 does.
        session.accessed = True
        return session

    @session.setter
    def session(self, value: SessionMixin) -> None:
        self._session = value

    async def load_session_async(self, interface: SessionInterface) -> None:
        """Load the session through ``interface``'s async hook, unless it is loaded already.

        The session API is synchronous, so on the async path a store with non-blocking
        I/O is loaded before the hooks and the view run rather than on first use. The
        session is not marked accessed (no ``Vary: Cookie`` unless the view uses it).
        """
        if self._session is None:
            session = await interface.open_session_async(self.app, self.request)
            if session is None:
                session = interface.make_null_session(self.app)
            self._session = session

    def copy(self) -> RequestContext:
        """Return a context bound to the same request and session."""
        return self.__class__(self.app, self.request, self._session)

    def push(self) -> None:
        """Make this the current request context (and its app's context, if none is)."""
        tokens = self._tokens
        if not tokens:
            # The outermost push decides what this context is to the app context.
            prev = _cv_app.get(None)
            app = self.app
            if prev is None or prev.app is not app:
                if app._app_context_as_defined:
                    # PERF: one object per request: this context is the app context too,
                    # so no AppContext is built.
                    self.g = app.app_ctx_globals_class()  # type: ignore[assignment]
                    self._app_role = _OWN
                    if signals.appcontext_pushed.receivers:
                        signals.appcontext_pushed.send(app, _async_wrapper=app.ensure_sync)
                else:
                    self._other_app_ctx = other = app.app_context()
                    other.push()  # (beneath this one, which is made current below)
                    self.g = other.g
                    self._app_role = _PUSHED_OTHER
            else:
                # The app's context is active already: stand on it and share its g.
                self._other_app_ctx = other = prev._active_app_ctx
                self.g = other.g
                self._app_role = _STANDS_ON
        tokens.append(_cv_app.set(self))

    def pop(self, exc: BaseException | None = _sentinel) -> None:
        """Run teardown functions, close the request and unbind this context."""
        app = self.app
        pending = teardown_pending(app)
        tokens = self._tokens
        try:
            if len(tokens) == 1:
                if pending:
                    if exc is _sentinel:
                        exc = sys.exc_info()[1]
                    app.do_teardown_request(exc)
                self.request.close()
        finally:
            ctx = _cv_app.get(None)
            token = tokens.pop()
            role = self._app_role
            if tokens or role is _STANDS_ON:
                _cv_app.reset(token)
            elif role is _OWN:
                try:
                    if pending:
                        if exc is _sentinel:
                            exc = sys.exc_info()[1]
                        self._request_ctx = _request_ctx_before(token)  # the request is gone
                        try:
                            app.do_teardown_appcontext(exc)
                        finally:
                            self._request_ctx = None
                finally:
                    _cv_app.reset(token)
                if signals.appcontext_popped.receivers:
                    signals.appcontext_popped.send(app, _async_wrapper=app.ensure_sync)
            else:  # the app context the app's own app_context() made, beneath this one
                _cv_app.reset(token)
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                self._other_app_ctx.pop(exc)  # type: ignore[union-attr]
        # The error's traceback holds frames that hold this context: with the
        # teardown done, drop the link back so no reference cycle is left.
        self.error = None
        if ctx is not self:
            raise AssertionError(f"Popped wrong request context. ({ctx!r} instead of {self!r})")

    def keep_current(self) -> Callable[[], None]:
        """Make this finished request current again, for a test client that keeps it.

        The context it stood on (``with app.app_context():`` around the request) is kept
        pushed with it, as Flask's client re-pushes both. Returns the function that lets
        them go, which tears that context down if its own ``with`` block has ended.
        """
        base = self._other_app_ctx if self._app_role is _STANDS_ON else None
        if base is not None:
            base._tokens.append(_cv_app.set(base))
        token = _cv_app.set(self)

        def let_go() -> None:
            _cv_app.reset(token)
            if base is not None:
                base.pop(None)

        return let_go

    def detach(self) -> AppContext | None:
        """Unbind this context from the caller without tearing it down (for streamed bodies).

        Returns the app context this request context pushed, for
        :meth:`finish_detached` to tear down later (None for a nested push).
        """
        tokens = self._tokens
        token = tokens.pop()
        _cv_app.reset(token)
        if tokens:
            return None
        role = self._app_role
        if role is _OWN:
            self._detached_token = token  # for finish_detached (see _request_ctx_before)
            return self
        if role is _PUSHED_OTHER:
            other: AppContext = self._other_app_ctx  # type: ignore[assignment]
            _cv_app.reset(other._tokens.pop())
            return other
        return None

    def finish_detached(self, app_ctx: AppContext | None, exc: BaseException | None) -> None:
        """Tear down a detached context (run inside a copy of its ``contextvars`` context)."""
        try:
            self.app.do_teardown_request(exc)
            self.request.close()
        finally:
            if app_ctx is self:
                self._request_ctx = _request_ctx_before(self._detached_token)  # request gone
                try:
                    self.app.do_teardown_appcontext(exc)
                finally:
                    self._request_ctx = None
            elif app_ctx is not None:
                self.app.do_teardown_appcontext(exc)
            if app_ctx is not None and signals.appcontext_popped.receivers:
                signals.appcontext_popped.send(self.app, _async_wrapper=self.app.ensure_sync)

    def teardown_in_thread(self, exc: BaseException | None) -> None:
        """Run the teardown functions now, in the worker thread that ran a sync view.

        Under ASGI a sync view runs in a worker thread; resources it opened that are
        bound to their thread (a ``sqlite3`` connection kept on ``g``, as in Flask's
        tutorial) must be closed there too. :meth:`apop` then only unbinds.
        """
        app = self.app
        self._torn_down = True  # set first: a failing teardown must not run twice
        if not teardown_pending(app):
            return
        drive_sync(app._teardown_request_steps(exc))
        app_ctx = self._app_ctx
        if app_ctx is self and len(self._tokens) == 1:
            self._request_ctx = _request_ctx_before(self._tokens[0])  # the request is gone
            try:
                drive_sync(app._teardown_appcontext_steps(exc))
            finally:
                self._request_ctx = None
        elif app_ctx is not None and len(app_ctx._tokens) == 1:
            drive_sync(app._teardown_appcontext_steps(exc))

    def pop_unless_pending(self) -> bool:
        """Pop now, from async code, when no teardown work is left (True); else False.

        What :meth:`apop` does when nothing is to be awaited, without a coroutine: a
        door calls this first and awaits ``apop`` only when it returns False.
        """
        if not self._torn_down and teardown_pending(self.app):
            return False
        self._unbind()
        return True

    def _unbind(self) -> None:
        # apop() with no teardown to run: close the request, reset the context variable.
        tokens = self._tokens
        try:
            if len(tokens) == 1:
                self.request.close()
        finally:
            app_ctx: AppContext | None
            if len(tokens) == 1 and self._app_role is _OWN:
                # PERF: detach() for the common case (the outermost push, its own app context)
                _cv_app.reset(tokens.pop())
                app_ctx = self
            else:
                app_ctx = self.detach()
            if app_ctx is not None and signals.appcontext_popped.receivers:
                app = self.app
                signals.appcontext_popped.send(app, _async_wrapper=app.ensure_sync)
        self.error = None

    async def apop(self, exc: BaseException | None = None) -> None:
        """Pop from async code: async teardown functions are awaited on the running loop."""
        app = self.app
        if self._torn_down or not teardown_pending(app):
            self._unbind()
            return
        tokens = self._tokens
        try:
            if len(tokens) == 1:
                await drive_async(app._teardown_request_steps(exc))
                self.request.close()
        finally:
            token = tokens.pop()
            role = self._app_role
            if tokens or role is _STANDS_ON:
                _cv_app.reset(token)
            elif role is _OWN:
                try:
                    self._request_ctx = _request_ctx_before(token)  # the request is gone
                    try:
                        await drive_async(app._teardown_appcontext_steps(exc))
                    finally:
                        self._request_ctx = None
                finally:
                    _cv_app.reset(token)
                if signals.appcontext_popped.receivers:
                    signals.appcontext_popped.send(app, _async_wrapper=app.ensure_sync)
            else:  # the app context the app's own app_context() made, beneath this one
                _cv_app.reset(token)
                await self._other_app_ctx.apop(exc)  # type: ignore[union-attr]
        self.error = None  # no reference cycle through the error's traceback (see pop)

    def __enter__(self) -> RequestContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.url!r} [{self.request.method}] of {self.app.name}>"


def _beneath_kept_request(ctx: AppContext) -> bool:
    """Count a pop of ``ctx`` only, when a test client keeps a request current on top of it.

    ``with client: with app.app_context(): client.get(...)``: the kept request stands on
    that context, which :meth:`RequestContext.keep_current` pushed once more; the block's
    end then leaves both current, and the client pops the context for good when it lets
    the request go. Flask keeps the request in a variable of its own, with the same effect.

    Only :meth:`AppContext.pop` and ``apop`` ask, and only for a context pushed more than
    once. :meth:`RequestContext.pop` runs on every request and does not: a test request
    context under a kept request (``with app.test_request_context():`` ending inside
    ``with client:``) must still be popped after the client lets the request go.
    """
    top = _cv_app.get(None)
    if (
        top is ctx
        or not isinstance(top, RequestContext)
        or top._tokens  # pushed, not kept: popping beneath it is an error
        or top._app_role is not _STANDS_ON
        or top._other_app_ctx is not ctx
    ):
        return False
    ctx._tokens.pop()
    return True


def _request_ctx_before(token: Token[AppContext]) -> Any:
    """The request context that was visible before ``token``'s change (False: none).

    A request context torn down as its own app context sets it as its ``_request_ctx``
    while its teardown_appcontext functions run (``token``: its outermost push): the app
    context is still current but the request is gone, as in Flask 3.1, where the request
    context is popped by then. pop, apop, a ``def`` view's teardown in its ASGI worker
    thread and a streamed body's teardown each do so, written out: a context manager
    there cost 10,700 instructions a request more (measured), paid by every app with a
    teardown_appcontext function (Flask-SQLAlchemy's).
    """
    before = token.old_value
    return _request_ctx_of(None if before is Token.MISSING else before)


def has_request_context() -> bool:
    """Tell whether a request context is active."""
    return _cv_request.get(None) is not None


def has_app_context() -> bool:
    """Tell whether an application context is active."""
    return _cv_app.get(None) is not None


def after_this_request(f: F) -> F:
    """Register ``f(response)`` to run after the current request only."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'after_this_request' can only be used when a request context is active,"
            " such as in a view function."
        )
    funcs = ctx._after_request_functions
    if type(funcs) is tuple:
        funcs = ctx._after_request_functions = []
    funcs.append(f)  # type: ignore[union-attr]
    return f


def copy_current_request_context(f: F) -> F:
    """Wrap ``f`` so that it runs in the current request context, even from another thread."""
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'copy_current_request_context' can only be used when a request context is"
            " active, such as in a view function."
        )
    current = _cv_app.get()  # the request context, or an app context pushed within it
    if inspect.iscoroutinefunction(f):

        @functools.wraps(f)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _cv_app.set(current)
            try:
                return await f(*args, **kwargs)
            finally:
                _cv_app.reset(token)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # As in Flask: the call sees the same request and session but its own app context
        # (a fresh ``g``, so a thread never shares g's resources, e.g. a database
        # connection), and its teardown functions run when it returns. The request is not
        # closed here: the original request may still be using it.
        def run() -> Any:
            app = ctx.app
            own_app_ctx = app.app_context()
            own_app_ctx.push()
            own_app_ctx._request_ctx = ctx  # the request stays visible through it
            exc: BaseException | None = None
            try:
                return app.ensure_sync(f)(*args, **kwargs)
            except BaseException as e:
                exc = e
                raise
            finally:
                try:
                    app.do_teardown_request(exc)
                finally:
                    own_app_ctx._request_ctx = False  # (gone for teardown_appcontext, as in Flask)
                    own_app_ctx.pop(exc)

        # A fresh contextvars.Context keeps the caller's own context untouched.
        return contextvars.Context().run(run)

    return wrapper  # type: ignore[return-value]


__all__ = [
    "AppContext",
    "RequestContext",
    "after_this_request",
    "copy_current_request_context",
    "has_app_context",
    "has_request_context",
]
