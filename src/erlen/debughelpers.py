"""Errors and log messages that explain common mistakes, used in debug mode.

This module answers for ``flask.debughelpers``: a form posted without
``enctype="multipart/form-data"`` (:class:`DebugFilesKeyError`), a form posted to a URL
that redirects in a way that loses the body (:class:`FormDataRoutingRedirect`), and the
search for a template (:func:`explain_template_loading_attempts`, with
``EXPLAIN_TEMPLATE_LOADING``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import MultiDict

from .globals import _cv_app, _cv_request
from .request import _EMPTY_ARGS

if TYPE_CHECKING:
    from jinja2 import BaseLoader

    from .app import Erlen
    from .request import Request


class UnexpectedUnicodeError(AssertionError, UnicodeError):
    """Raised where text or bytes of the wrong kind arrived and a plain error would mislead."""


class DebugFilesKeyError(KeyError, AssertionError):
    """A file was looked up in ``request.files`` of a request that could not carry files.

    Raised instead of the usual ``KeyError`` (a 400) in debug mode, when the body was not
    ``multipart/form-data``: the form most likely lacks its ``enctype``.
    """

    def __init__(self, request: Request, key: str) -> None:
        names = request.form.getlist(key)
        msg = (
            f"request.files has no file {key!r}: the request's mimetype is"
            f" {request.mimetype!r}, not 'multipart/form-data', so no file contents were"
            " transmitted. Give the HTML form the attribute"
            ' enctype="multipart/form-data" to send files.'
        )
        if names:
            submitted = ", ".join(repr(name) for name in names)
            msg += (
                "\n\nThe form sent only the file's name as a text field instead."
                f" This was submitted: {submitted}"
            )
        super().__init__(msg)
        self.msg = msg

    def __str__(self) -> str:
        return self.msg


class FormDataRoutingRedirect(AssertionError):
    """A request with a body was answered by a routing redirect that browsers follow with GET.

    Raised in debug mode instead of such a redirect (a status other than 307 or 308 for a
    method other than GET, HEAD or OPTIONS): the browser would drop the form's data.
    """

    def __init__(self, request: Request) -> None:
        exc = request.routing_exception
        new_url = getattr(exc, "new_url", "")
        parts = [
            f"A request was sent to '{request.url}', but routing issued a redirect"
            f" to the canonical URL '{new_url}'."
        ]
        if new_url.partition("?")[0] == request.base_url + "/":
            parts.append(" The rule ends with a slash, so the URL without one redirects to it.")
        parts.append(
            " Send the request to the canonical URL, or make routing redirects use"
            " 307 or 308, which keep the body; with other codes the browser drops"
            " the form data.\n\nThis exception is only raised in debug mode."
        )
        super().__init__("".join(parts))


class _DebugFiles:
    """Mixin for ``request.files``: a missing key that the form has raises DebugFilesKeyError."""

    __slots__ = ()
    _erlen_request: Request

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)  # type: ignore[misc]
        except KeyError as e:
            request = self._erlen_request
            if key not in request.form:
                raise
            raise DebugFilesKeyError(request, key).with_traceback(e.__traceback__) from None


_debug_classes: dict[type[Any], type[Any]] = {}


def attach_enctype_error_multidict(request: Request) -> None:
    """Make a missing key of ``request.files`` that the form has raise
    :class:`DebugFilesKeyError` instead of a ``KeyError``."""
    files = request.files
    cls = type(files)
    if issubclass(cls, _DebugFiles):
        return
    if files is _EMPTY_ARGS:  # type: ignore[comparison-overlap]
        # The empty instance requests share (erlen.request._empty): give this one its own.
        files = request._files = cls()
    debug_cls = _debug_classes.get(cls)
    if debug_cls is None:
        debug_cls = type(cls.__name__, (_DebugFiles, cls), {"__module__": cls.__module__})
        _debug_classes[cls] = debug_cls
    files.__class__ = debug_cls
    files._erlen_request = request  # type: ignore[attr-defined]


def _check_files(request: Request) -> None:
    """Attach the enctype explanation to an empty ``files`` of a non-multipart request, in
    debug mode (the request calls this after parsing its body)."""
    app_ctx = _cv_app.get(None)
    if (
        app_ctx is not None
        and app_ctx.app.debug
        and request.mimetype != "multipart/form-data"
        and isinstance(request._files, MultiDict)
        and not request._files
    ):
        attach_enctype_error_multidict(request)


def _loader_details(loader: BaseLoader) -> Iterator[str]:
    """Describe a loader: its class, then its simple settings (search paths, encoding...)."""
    cls = type(loader)
    yield f"class: {cls.__module__}.{cls.__name__}"
    for key, value in sorted(vars(loader).items()):
        if key.startswith("_"):
            continue
        if isinstance(value, (tuple, list)):
            if not all(isinstance(item, str) for item in value):
                continue
            yield f"{key}:"
            for item in value:
                yield f"  - {item}"
        elif isinstance(value, (str, int, float, bool)):
            yield f"{key}: {value!r}"


def explain_template_loading_attempts(
    app: Erlen, template: str, attempts: list[tuple[BaseLoader, Any, Any]]
) -> None:
    """Log, on the app's logger at INFO, where a template was looked for and what was found.

    *attempts* holds ``(loader, source, result)`` per loader tried, in order: *source* is the
    app or blueprint the loader belongs to and *result* is what ``get_source`` returned, or
    None when it found nothing. When the template was found nowhere, or in more than one
    place, and the request belongs to a blueprint, the message says so.
    """
    from .blueprints import Blueprint

    lines = [f"Locating template {template!r}:"]
    found = 0
    for number, (loader, source, result) in enumerate(attempts, 1):
        if isinstance(source, Blueprint):
            where = f"blueprint {source.name!r} ({source.import_name})"
        elif hasattr(source, "import_name") and hasattr(source, "url_map"):
            where = f"application {source.import_name!r}"
        else:
            where = repr(source)
        lines.append(f"{number:5}: trying loader of {where}")
        lines.extend(f"       {line}" for line in _loader_details(loader))
        if result is None:
            lines.append("       -> no match")
        else:
            found += 1
            lines.append(f"       -> found ({result[1] or '<string>'!r})")
    doubtful = True
    if found == 0:
        lines.append("Error: the template could not be found.")
    elif found > 1:
        lines.append("Warning: more than one loader has the template; the first one wins.")
    else:
        doubtful = False
    req_ctx = _cv_request.get(None)
    blueprint = req_ctx.request.blueprint if req_ctx is not None else None
    if doubtful and blueprint is not None:
        lines.append(
            "  The template was looked up from an endpoint that belongs to the blueprint"
            f" {blueprint!r}."
        )
        lines.append(
            "  A blueprint's templates go in its template folder, usually in a"
            " subfolder named after the blueprint so that names don't clash."
        )
        lines.append("  See https://flask.palletsprojects.com/blueprints/#templates")
    app.logger.info("\n".join(lines))


__all__ = [
    "DebugFilesKeyError",
    "FormDataRoutingRedirect",
    "UnexpectedUnicodeError",
    "attach_enctype_error_multidict",
    "explain_template_loading_attempts",
]
