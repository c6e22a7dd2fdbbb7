"""Class-based views: ``View`` and ``MethodView`` (sync or ``async def`` handlers).

A view whose handlers are all ``async def`` becomes an ``async def`` view
function, so it runs on the event loop like any async view. When the class has
``decorators``, the view is built as Flask builds it (a sync function that runs
the dispatch through ``current_app.ensure_sync``), because Flask-style
decorators expect to wrap a sync function that returns the response value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .globals import current_app, request

#: The HTTP methods a :class:`MethodView` maps to its methods of the same name.
http_method_funcs = frozenset(["get", "post", "head", "options", "delete", "put", "trace", "patch"])


class View:
    """Subclass and implement ``dispatch_request``; register with ``as_view(name)``."""

    #: The methods this view accepts (the default for ``add_url_rule``).
    methods: ClassVar[Any] = None
    #: Answer OPTIONS automatically (None: decide as for function views).
    provide_automatic_options: ClassVar[bool | None] = None
    #: Decorators applied, in order, to the function ``as_view`` returns.
    decorators: ClassVar[list[Callable[..., Any]]] = []
    #: Create a new instance per request (True) or one instance for all requests.
    init_every_request: ClassVar[bool] = True

    def dispatch_request(self, **kwargs: Any) -> Any:
        """Handle a request; the URL values arrive as keyword arguments."""
        raise NotImplementedError()

    @classmethod
    def _dispatches_async(cls) -> bool:
        """Tell whether every request is handled by a coroutine function."""
        return inspect.iscoroutinefunction(cls.dispatch_request)

    async def _dispatch_async(self, **kwargs: Any) -> Any:
        return await self.dispatch_request(**kwargs)

    @classmethod
    def as_view(cls, name: str, *class_args: Any, **class_kwargs: Any) -> Callable[..., Any]:
        """Return a view function for ``add_url_rule`` that creates and dispatches the view."""
        native_async = cls._dispatches_async() and not cls.decorators
        # Only an async dispatch behind decorators needs the ensure_sync detour.
        bridge = not native_async and inspect.iscoroutinefunction(cls.dispatch_request)
        view: Any
        if cls.init_every_request:
            if native_async:

                async def view(**kwargs: Any) -> Any:
                    self = view.view_class(*class_args, **class_kwargs)
                    return await self._dispatch_async(**kwargs)

            elif bridge:

                def view(**kwargs: Any) -> Any:
                    self = view.view_class(*class_args, **class_kwargs)
                    return current_app.ensure_sync(self.dispatch_request)(**kwargs)

            else:

                def view(**kwargs: Any) -> Any:
                    self = view.view_class(*class_args, **class_kwargs)
                    return self.dispatch_request(**kwargs)

        else:
            instance = cls(*class_args, **class_kwargs)
            if native_async:

                async def view(**kwargs: Any) -> Any:
                    return await instance._dispatch_async(**kwargs)

            elif bridge:

                def view(**kwargs: Any) -> Any:
                    return current_app.ensure_sync(instance.dispatch_request)(**kwargs)

            else:

                def view(**kwargs: Any) -> Any:
                    return instance.dispatch_request(**kwargs)

        if cls.decorators:
            view.__name__ = name
            view.__module__ = cls.__module__
            for decorator in cls.decorators:
                view = decorator(view)
        view.view_class = cls
        view.__name__ = name
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.methods = cls.methods
        view.provide_automatic_options = cls.provide_automatic_options
        return view  # type: ignore[no-any-return]


class MethodView(View):
    """Dispatch to the method named after the HTTP method (``get``, ``post`` ...).

    ``methods`` is inferred from the handlers defined; HEAD falls back to ``get``.
    Handlers may be ``async def``; mixing sync and async handlers works too.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "methods" not in cls.__dict__:
            methods = set()
            for base in cls.__bases__:
                base_methods = getattr(base, "methods", None)
                if base_methods:
                    methods.update(base_methods)
            for key in http_method_funcs:
                if hasattr(cls, key):
                    methods.add(key.upper())
            if methods:
                cls.methods = methods

    @classmethod
    def _dispatches_async(cls) -> bool:
        if cls.dispatch_request is not MethodView.dispatch_request:
            return super()._dispatches_async()
        handlers = [getattr(cls, m) for m in http_method_funcs if hasattr(cls, m)]
        return bool(handlers) and all(inspect.iscoroutinefunction(h) for h in handlers)

    def _handler(self) -> Callable[..., Any]:
        meth = getattr(self, request.method.lower(), None)
        if meth is None and request.method == "HEAD":
            meth = getattr(self, "get", None)
        if meth is None:
            raise AssertionError(f"Unimplemented method {request.method!r}")
        return meth  # type: ignore[no-any-return]

    def dispatch_request(self, **kwargs: Any) -> Any:
        """Call the handler for the request's method."""
        return current_app.ensure_sync(self._handler())(**kwargs)

    async def _dispatch_async(self, **kwargs: Any) -> Any:
        if type(self).dispatch_request is not MethodView.dispatch_request:
            return await self.dispatch_request(**kwargs)
        return await self._handler()(**kwargs)


__all__ = ["MethodView", "View", "http_method_funcs"]
