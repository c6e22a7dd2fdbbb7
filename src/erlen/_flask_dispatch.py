"""Flask's public dispatch methods, for apps that call or override them.

Erlen dispatches a request through :meth:`Erlen.respond` / :meth:`Erlen.respond_async`,
which inline Flask's steps; the methods of the same names on :class:`erlen.Erlen` call
the functions here. Code written for Flask may call these methods
(``app.full_dispatch_request()`` in a test request context) or override one of them in a
subclass; such a subclass (``Erlen._flask_dispatch``) has every request composed from
them as Flask composes them, on both doors (under ASGI in the worker pool: they are
sync). This module is that path; it reuses the steps the fast path shares (plans, error
handler lookup, the response processing and the 500 handling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequestKeyError, HTTPException

from . import signals
from .concurrency import drive_sync
from .globals import _cv_request
from .routing import RequestRedirect

if TYPE_CHECKING:
    from .app import EndpointPlan, Erlen
    from .ctx import RequestContext
    from .response import Response


def plan_of(app: Erlen, ctx: RequestContext) -> EndpointPlan:
    """The plan of the context's request (contexts pushed by hand have none yet)."""
    plan = ctx.plan
    if plan is None:
        plan = ctx.plan = app._plan(ctx.request.endpoint)
    return plan


def dispatch_via_methods(app: Erlen, ctx: RequestContext, handle_errors: bool) -> Response:
    """Dispatch through Flask's public methods (a subclass overrides one of them)."""
    try:
        return app.full_dispatch_request()
    except Exception as e:
        if not handle_errors:
            raise
        return app.handle_exception(e)


def full_dispatch_request(app: Erlen) -> Response:
    """Dispatch the current request: hooks, view, error handlers, after-request."""
    ctx = _cv_request.get()
    if not app._flask_dispatch:
        plan_of(app, ctx)
        return app.respond(ctx, False)
    # A subclass overrides one of these methods: compose them as Flask does.
    try:
        if signals.request_started.receivers:
            signals.request_started.send(app, _async_wrapper=app.ensure_sync)
        rv = app.preprocess_request()
        if rv is None:
            rv = app.dispatch_request()
    except Exception as e:
        rv = app.handle_user_exception(e)
    return app.finalize_request(rv)


def preprocess_request(app: Erlen) -> Any:
    """Run URL value preprocessors and before-request hooks; return a response or None."""
    ctx = _cv_request.get()
    plan = plan_of(app, ctx)
    request = ctx.request
    for pre in plan.url_preprocessors:
        pre(request.endpoint, request.view_args)
    for before, _ in plan.before:
        rv = app.ensure_sync(before)()
        if rv is not None:
            return rv
    return None


def dispatch_request(app: Erlen) -> Any:
    """Call the view for the current request and return its return value."""
    request = _cv_request.get().request
    if request.routing_exception is not None:
        app.raise_routing_exception(request)
    rule = request.url_rule
    if request.method == "OPTIONS" and rule is not None and rule.provide_automatic_options:
        return app.make_default_options_response()
    return app.ensure_sync(app.view_functions[rule.endpoint])(**request.view_args)  # type: ignore[union-attr,arg-type]


def process_response(app: Erlen, response: Response) -> Response:
    """Run the after-request functions and save the session; return the response."""
    ctx = _cv_request.get()
    return app._process_response_sync(ctx, plan_of(app, ctx), response)


def finalize_request(app: Erlen, rv: Any, from_error_handler: bool = False) -> Response:
    """Make a response from a view's return value and run after-request processing."""
    response = app.make_response(rv)
    try:
        response = app.process_response(response)
        if signals.request_finished.receivers:
            signals.request_finished.send(app, _async_wrapper=app.ensure_sync, response=response)
    except Exception:
        if not from_error_handler:
            raise
        app.logger.exception("Request finalizing failed with an error while handling an error")
    return response


def handle_user_exception(app: Erlen, e: Exception) -> Any:
    """Find and call the error handler for an exception raised by a view or hook."""
    if isinstance(e, BadRequestKeyError):
        app._note_key_error(e)
    if isinstance(e, HTTPException) and not app.trap_http_exception(e):
        return app.handle_http_exception(e)
    handler = app._find_error_handler(e, _blueprints())
    if handler is None:
        raise e
    return app.ensure_sync(handler)(e)


def handle_http_exception(app: Erlen, e: HTTPException) -> Any:
    """Call the handler registered for an HTTP exception, or return the exception."""
    if e.code is None or isinstance(e, RequestRedirect):
        return e
    handler = app._find_error_handler(e, _blueprints())
    if handler is None:
        return e
    return app.ensure_sync(handler)(e)


def handle_exception(app: Erlen, e: Exception) -> Response:
    """Handle an unhandled exception: propagate it in testing/debug, else a 500."""
    ctx = _cv_request.get()
    rv = drive_sync(app._handle_exception_steps(ctx, e, plan_of(app, ctx)))
    return app.finalize_request(rv, True)


def _blueprints() -> tuple[str, ...]:
    ctx = _cv_request.get(None)
    return tuple(ctx.request.blueprints) if ctx is not None else ()


#: Flask's dispatch methods: overriding one in a subclass makes requests go through them.
FLASK_DISPATCH_METHODS = (
    "full_dispatch_request",
    "preprocess_request",
    "dispatch_request",
    "process_response",
    "finalize_request",
    "handle_user_exception",
    "handle_http_exception",
    "handle_exception",
)
