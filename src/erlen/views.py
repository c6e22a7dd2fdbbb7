"""Class-based views: ``View`` and ``MethodView`` (sync or ``async def`` handlers)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .globals import request

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
    def as_view(cls, name: str, *class_args: Any, **class_kwargs: Any) -> Callable[..., Any]:
        """Return a view function for ``add_url_rule`` that creates and dispatches the view."""
        is_async = inspect.iscoroutinefunction(cls.dispatch_request)
        if cls.init_every_request:
            if is_async:

                async def view(**kwargs: Any) -> Any:
                    self = view.view_class(*class_args, **class_kwargs)  # type: ignore[attr-defined]
                    return await self.dispatch_request(**kwargs)

            else:

                def view(**kwargs: Any) -> Any:  # type: ignore[misc]
                    self = view.view_class(*class_args, **class_kwargs)  # type: ignore[attr-defined]
                    return self.dispatch_request(**kwargs)

        else:
            instance = cls(*class_args, **class_kwargs)
            if is_async:

                async def view(**kwargs: Any) -> Any:
                    return await instance.dispatch_request(**kwargs)

            else:

                def view(**kwargs: Any) -> Any:  # type: ignore[misc]
                    return instance.dispatch_request(**kwargs)

        if cls.decorators:
            view.__name__ = name
            view.__module__ = cls.__module__
            for decorator in cls.decorators:
                view = decorator(view)
        view.view_class = cls  # type: ignore[attr-defined]
        view.__name__ = name
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.methods = cls.methods  # type: ignore[attr-defined]
        view.provide_automatic_options = cls.provide_automatic_options  # type: ignore[attr-defined]
        return view


class MethodView(View):
    """Dispatch to the method named after the HTTP method (``get``, ``post`` ...).

    ``methods`` is inferred from the handlers defined; HEAD falls back to ``get``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "methods" not in cls.__dict__:
            methods = set()
            for base in cls.__bases__:
                if getattr(base, "methods", None):
                    methods.update(base.methods)  # type: ignore[attr-defined]
            for key in http_method_funcs:
                if hasattr(cls, key):
                    methods.add(key.upper())
            if methods:
                cls.methods = methods
        handlers = [getattr(cls, m) for m in http_method_funcs if hasattr(cls, m)]
        if handlers and all(inspect.iscoroutinefunction(h) for h in handlers):
            cls.dispatch_request = cls._async_dispatch_request  # type: ignore[method-assign]

    def _handler(self) -> Callable[..., Any]:
        meth = getattr(self, request.method.lower(), None)
        if meth is None and request.method == "HEAD":
            meth = getattr(self, "get", None)
        if meth is None:
            raise AssertionError(f"Unimplemented method {request.method!r}")
        return meth  # type: ignore[no-any-return]

    def dispatch_request(self, **kwargs: Any) -> Any:
        """Call the handler for the request's method."""
        from .globals import current_app

        return current_app.ensure_sync(self._handler())(**kwargs)

    async def _async_dispatch_request(self, **kwargs: Any) -> Any:
        return await self._handler()(**kwargs)


__all__ = ["MethodView", "View", "http_method_funcs"]
