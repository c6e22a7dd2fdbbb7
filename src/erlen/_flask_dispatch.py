"""Flask's public dispatch methods, for apps that call or override them.

Erlen dispatches a request through :meth:`Erlen.respond` / :meth:`Erlen.respond_async`,
which inline Flask's steps; the methods of the same names on :class:`erlen.Erlen` call
the functions here. Code written for Flask may call these methods
(``app.full_dispatch_request()`` in a test request context), override one of them in a
subclass, or replace one on the app (``app.handle_exception = ...``, as Flask-RESTful
does); such an app (``Erlen._flask_dispatch``) has every request composed from them as
Flask composes them, on both doors (under ASGI in the worker pool: they are sync). This
module is that path; it reuses the steps the fast path shares (plans, error handler
lookup, saving the session).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequestKeyError, HTTPException, InternalServerError

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
    plan = plan_of(app, ctx)
    if not app._flask_dispatch:
        return app._process_response_sync(ctx, plan, response)
    ensure_sync = app.ensure_sync
    for func in ctx._after_request_functions:
        response = ensure_sync(func)(response)
    for after, _ in plan.after:
        response = ensure_sync(after)(response)
    app._save_session(ctx, response)
    return response


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
    if not app._flask_dispatch:
        rv = drive_sync(app._handle_exception_steps(ctx, e, plan_of(app, ctx)))
        return app.finalize_request(rv, True)
    exc_info = sys.exc_info()
    ctx.error = e
    if signals.got_request_exception.receivers:
        signals.got_request_exception.send(app, _async_wrapper=app.ensure_sync, exception=e)
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    if propagate is None:
        propagate = app.testing or app.debug
    if propagate:
        if exc_info[1] is e:
            raise
        raise e
    app.log_exception(exc_info if exc_info[1] is e else (type(e), e, e.__traceback__))
    server_error: Any = InternalServerError(original_exception=e)
    handler = app._find_error_handler(server_error, _blueprints())
    if handler is not None:
        server_error = app.ensure_sync(handler)(server_error)
    return app.finalize_request(server_error, True)


def teardown(app: Erlen, ctx: RequestContext) -> None:
    """Tear a request down through ``do_teardown_request``/``do_teardown_appcontext``.

    In the worker thread that ran the request (see ``Erlen._respond_in_worker``).
    """
    ctx._torn_down = True  # set first: a failing teardown must not run twice
    exc = ctx.error
    app.do_teardown_request(exc)
    app_ctx = ctx._app_ctx
    if app_ctx is not None and len(app_ctx._tokens) == 1:
        app.do_teardown_appcontext(exc)


def _blueprints() -> tuple[str, ...]:
    ctx = _cv_request.get(None)
    return tuple(ctx.request.blueprints) if ctx is not None else ()


#: Flask's dispatch methods: overriding one in a subclass, or replacing one on the app,
#: makes requests go through them.
FLASK_DISPATCH_METHODS = (
    "full_dispatch_request",
    "preprocess_request",
    "dispatch_request",
    "process_response",
    "finalize_request",
    "handle_user_exception",
    "handle_http_exception",
    "handle_exception",
    "ensure_sync",
    "async_to_sync",
    "do_teardown_request",
    "do_teardown_appcontext",
)
