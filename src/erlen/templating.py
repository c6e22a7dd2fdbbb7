"""Jinja2 templates: the app's environment, its loader, and the render functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .globals import _cv_app, _cv_request, current_app
from .signals import before_render_template, template_rendered

if TYPE_CHECKING:
    from jinja2 import Template

    from ._jinja import DispatchingJinjaLoader as DispatchingJinjaLoader
    from ._jinja import Environment as Environment
    from .app import Erlen


def _default_template_ctx_processor() -> dict[str, Any]:
    """Put the concrete ``g`` and ``request`` in the context (faster than the proxies).

    The app registers it first in ``template_context_processors[None]``, as Flask does.
    ``session`` stays the global proxy: reading it through the proxy is what opens the
    session lazily and marks it accessed (``Vary: Cookie``).
    """
    app_ctx = _cv_app.get(None)
    req_ctx = _cv_request.get(None)
    rv: dict[str, Any] = {}
    if app_ctx is not None:
        rv["g"] = app_ctx.g
    if req_ctx is not None:
        rv["request"] = req_ctx.request
    return rv


def _render(app: Erlen, template: Template, context: dict[str, Any]) -> str:
    app.update_template_context(context)
    if before_render_template.receivers:
        before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    rv = template.render(context)
    if template_rendered.receivers:
        template_rendered.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    return rv


def render_template(
    template_name_or_list: str | Template | list[str | Template], **context: Any
) -> str:
    """Render a template from the template folders with the given context."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _render(app, template, context)


def render_template_string(source: str, **context: Any) -> str:
    """Render a template given as a string (autoescaped)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.from_string(source)
    return _render(app, template, context)


def _stream(app: Erlen, template: Template, context: dict[str, Any]) -> Iterator[str]:
    app.update_template_context(context)
    if before_render_template.receivers:
        before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )

    def generate() -> Iterator[str]:
        yield from template.generate(context)
        if template_rendered.receivers:
            template_rendered.send(
                app, _async_wrapper=app.ensure_sync, template=template, context=context
            )

    return generate()


def stream_template(
    template_name_or_list: str | Template | list[str | Template], **context: Any
) -> Iterator[str]:
    """Render a template as a stream of strings (return it from a view to stream it)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _stream(app, template, context)


def stream_template_string(source: str, **context: Any) -> Iterator[str]:
    """Render a template string as a stream of strings."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    template = app.jinja_env.from_string(source)
    return _stream(app, template, context)


__all__ = [
    "DispatchingJinjaLoader",
    "Environment",
    "render_template",
    "render_template_string",
    "stream_template",
    "stream_template_string",
]


def __getattr__(name: str) -> Any:
    # Jinja loads on first use, not with `import erlen` (it is a fifth of the import time).
    if name in ("Environment", "DispatchingJinjaLoader", "create_environment"):
        from . import _jinja

        return getattr(_jinja, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
