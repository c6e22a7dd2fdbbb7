"""Helpers views call: ``url_for``, ``redirect``, ``abort``, ``flash`` and friends."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import quote

from markupsafe import escape

from .files import send_file as send_file
from .files import send_from_directory as send_from_directory
from .globals import _cv_app, _cv_request, current_app, session
from .scaffold import get_root_path
from .signals import message_flashed

if TYPE_CHECKING:
    from .response import Response

F = TypeVar("F", bound=Callable[..., Any])

# Characters allowed unescaped in a Location header; everything else (notably
# CR, LF and other control characters from user input) is percent-encoded.
_LOCATION_SAFE = "/:@&$!'()*+,;=~%?#[]-._"
# A path (and query and fragment) that Werkzeug's iri_to_uri leaves unchanged.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,/:;=?@#]*")
# Where Werkzeug's encoding (urlsplit, then urlunsplit) would name a host that neither
# urlsplit nor a browser saw, or a host the two read differently, Erlen's does not:
# - "///x", "////x", "https:////x": urlsplit finds no host, and urlunsplit would send
#   "//x" for "////x"; the slashes collapse to one ("/x"), as Werkzeug does for "///x".
_NO_HOST_SLASHES = re.compile(r"^([\x00-\x20]*(?:https?:)?)///+", re.IGNORECASE)
# - "http:x", "https:/x": no host either (a path on a page of that scheme in a browser),
#   but urlunsplit would send "https:///x", another host; sent as written.
_SPECIAL_NO_AUTHORITY = re.compile(r"[\x00-\x20]*https?:(?!//)", re.IGNORECASE)
# - a backslash in the host part: urlsplit reads "https://a\@b" as host b, a browser as
#   host a (and "//evil\.site" as evil); "\" and "@" are percent-encoded, so that no
#   client finds a host in it at all.
_BACKSLASH_IN_HOST = re.compile(r"[\x00-\x20]*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//[^/?#]*\\")


def get_debug_flag() -> bool:
    """Return whether debug mode is on by ``ERLEN_DEBUG`` (or ``FLASK_DEBUG``)."""
    val = os.environ.get("ERLEN_DEBUG") or os.environ.get("FLASK_DEBUG")
    return bool(val and val.lower() not in {"0", "false", "no"})


def get_load_dotenv(default: bool = True) -> bool:
    """Return whether ``.env`` files should be loaded (``ERLEN_SKIP_DOTENV``, else
    ``FLASK_SKIP_DOTENV``, turns it off)."""
    val = os.environ.get("ERLEN_SKIP_DOTENV") or os.environ.get("FLASK_SKIP_DOTENV")
    if not val:
        return default
    return val.lower() in ("0", "false", "no")


def url_for(
    endpoint: str,
    *,
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
    **values: Any,
) -> str:
    """Build the URL of an endpoint: ``url_for("user", id=3)``.

    ``.name`` is relative to the current blueprint; unknown values become the
    query string; ``_external`` gives an absolute URL.
    """
    ctx = _cv_app.get(None)
    app = ctx.app if ctx is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    if app._url_for_as_defined:
        # PERF: the usual case (a template's links): no keywords passed on and unpacked.
        return app._build_url(endpoint, values, _anchor, _method, _scheme, _external)
    return app.url_for(
        endpoint,
        _anchor=_anchor,
        _method=_method,
        _scheme=_scheme,
        _external=_external,
        **values,
    )


def _redirect(location: str, code: int, response_class: type[Response]) -> Response:
    safe_location = location if _is_safe_location(location) else _to_uri(location)
    # The page shows the target as given, escaped, as Werkzeug's does.
    shown = escape(location)
    html = (
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n"
        "<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: "
        f'<a href="{shown}">{shown}</a>. If not, click the link.\n'
    )
    response = response_class(html, code, mimetype="text/html")
    response.headers["Location"] = safe_location
    return response


def _is_safe_location(location: str) -> bool:
    # PERF: a plain path is sent as it is; anything else goes through iri_to_uri.
    return location[:1] == "/" and location[1:2] != "/" and bool(_PLAIN_PATH.fullmatch(location))


def _to_uri(location: str) -> str:
    """Encode a location as Werkzeug sends it (IRI to URI, IDNA host).

    Control characters such as CR/LF are percent-encoded, never passed through. Unlike
    Werkzeug's, the encoding never names a host the location did not plainly have (see
    ``_NO_HOST_SLASHES`` and the rules after it): ``////evil`` is sent as ``/evil``, not
    ``//evil``.
    """
    if _BACKSLASH_IN_HOST.match(location):
        return quote(location, safe=_LOCATION_SAFE.replace("@", ""))
    location = _NO_HOST_SLASHES.sub(r"\1/", location, count=1)
    if location.isprintable() and not _SPECIAL_NO_AUTHORITY.match(location):
        from werkzeug.urls import iri_to_uri

        try:
            return iri_to_uri(location)
        except (UnicodeError, ValueError):
            pass  # an invalid host or port: encode it like the rest
    return quote(location, safe=_LOCATION_SAFE)


def redirect(location: str, code: int = 302, Response: type[Response] | None = None) -> Response:
    """Return a response redirecting the client to ``location`` (302 by default).

    Control characters such as CR/LF in ``location`` are percent-encoded, so a
    target taken from user input can never split the response headers.
    """
    ctx = _cv_app.get(None)
    if ctx is not None and Response is None:
        return ctx.app.redirect(location, code)
    if Response is None:
        from .response import Response as DefaultResponse

        return _redirect(location, code, DefaultResponse)
    return _redirect(location, code, Response)


def abort(code: int | Response, *args: Any, **kwargs: Any) -> NoReturn:
    """Raise the HTTP exception for a status code (or a response) to end the request."""
    if not isinstance(code, int):
        # A response to send as it is (Erlen's Response is a Werkzeug response).
        from werkzeug.exceptions import HTTPException

        raise HTTPException(response=code)
    ctx = _cv_app.get(None)
    if ctx is not None:
        ctx.app.aborter(code, *args, **kwargs)
    from werkzeug.exceptions import abort as wz_abort

    wz_abort(code, *args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def make_response(*args: Any) -> Response:
    """Turn view-style return values into a response you can modify."""
    if not args:
        return current_app.response_class()
    if len(args) == 1:
        args = args[0]
    return current_app.make_response(args)


def stream_with_context(generator_or_function: Any) -> Any:
    """Keep the request context during a streamed body.

    Erlen keeps it for every streamed response already; this exists so Flask
    code runs unchanged. It also works as a decorator on a generator function.
    """
    if callable(generator_or_function) and not hasattr(generator_or_function, "__next__"):
        func = generator_or_function

        @functools.wraps(func)
        def decorator(*args: Any, **kwargs: Any) -> Any:
            return stream_with_context(func(*args, **kwargs))

        return decorator
    gen = generator_or_function
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'stream_with_context' can only be used when a request context is active,"
            " such as in a view function."
        )
    if hasattr(gen, "__anext__"):
        return gen
    current = _cv_app.get()  # the request context, or an app context pushed within it

    def wrapped() -> Iterator[Any]:
        token = _cv_app.set(current) if _cv_app.get(None) is not current else None
        try:
            yield from gen
        finally:
            if hasattr(gen, "close"):
                gen.close()
            if token is not None:
                _cv_app.reset(token)

    return wrapped()


def stream_request_body(view: F) -> F:
    """Mark an ``async def`` view as reading the request body itself.

    Under ASGI the body is then not received before the view runs; the view
    iterates ``request.iter_body()`` to receive it chunk by chunk.
    """
    view._erlen_stream_body = True  # type: ignore[attr-defined]
    return view


def nonblocking(view: F) -> F:
    """Mark a ``def`` view as never blocking: under ASGI it then runs on the event loop.

    A ``def`` view normally runs in a worker thread under an ASGI server, so that a view
    waiting on a database or a file does not stall the other requests; the hand-over to
    the thread and back costs tens of microseconds a request, more than a small view
    itself. A view that only computes (no I/O, no locks, no sleeping), together with the
    sync hooks, error handlers and session that run for it, may skip it. If it does block,
    every request of the process waits. Under WSGI nothing changes.
    """
    view._erlen_nonblocking = True  # type: ignore[attr-defined]
    return view


def flash(message: str, category: str = "message") -> None:
    """Store a message for the next request (read with ``get_flashed_messages``)."""
    flashes = session.get("_flashes", [])
    flashes.append((category, message))
    session["_flashes"] = flashes
    ctx = _cv_app.get(None)
    if ctx is not None and message_flashed.receivers:
        message_flashed.send(
            ctx.app, _async_wrapper=ctx.app.ensure_sync, message=message, category=category
        )


def get_flashed_messages(
    with_categories: bool = False, category_filter: Any = ()
) -> list[str] | list[tuple[str, str]]:
    """Return (and consume) the flashed messages, optionally with their categories."""
    ctx = _cv_request.get(None)
    if ctx is None:
        from .globals import _no_req_msg

        raise RuntimeError(_no_req_msg)
    flashes = ctx.flashes
    if flashes is None:
        flashes = session.pop("_flashes") if "_flashes" in session else []
        ctx.flashes = flashes
    if category_filter:
        flashes = [f for f in flashes if f[0] in category_filter]
    if not with_categories:
        return [x[1] for x in flashes]
    return [tuple(x) for x in flashes]


def get_template_attribute(template_name: str, attribute: str) -> Any:
    """Load a macro (or other attribute) exported by a template."""
    return getattr(current_app.jinja_env.get_template(template_name).module, attribute)


__all__ = [
    "abort",
    "flash",
    "get_debug_flag",
    "get_flashed_messages",
    "get_load_dotenv",
    "get_root_path",
    "get_template_attribute",
    "make_response",
    "redirect",
    "send_file",
    "send_from_directory",
    "stream_request_body",
    "stream_with_context",
    "url_for",
]
