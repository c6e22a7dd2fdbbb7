"""The errors of typed views, answered as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    UnprocessableEntity,
    UnsupportedMediaType,
)

from ..globals import _cv_request

#: The media type of RFC 9457 problem details.
PROBLEM_JSON = "application/problem+json"


def problem_document(status: int, title: str, detail: str, **members: Any) -> str:
    """An RFC 9457 problem-details document as JSON text (``instance`` is the request's path)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    ctx = _cv_request.get(None)
    if ctx is not None:
        body["instance"] = ctx.request.path
    body.update(members)
    return json.dumps(body)


def problem_response(status: int, title: str, detail: str, **members: Any) -> Any:
    """A response carrying an RFC 9457 problem-details document."""
    from ..response import Response

    ctx = _cv_request.get(None)
    cls = ctx.app.response_class if ctx is not None else Response
    document = problem_document(status, title, detail, **members)
    return cls(document, status, mimetype=PROBLEM_JSON)


_PROBLEM_HEADERS = [("Content-Type", PROBLEM_JSON)]


def _where(loc: list[Any], whole: str = "request") -> str:
    return ".".join(str(part) for part in loc) or whole


class RequestValidationError(UnprocessableEntity):
    """The request did not match the typed view's parameters: a 422 with every error.

    ``errors`` is a list of ``{"loc": [...], "msg": ..., "type": ...}``; ``loc`` starts
    with where the value was read (``"path"``, ``"query"``, ``"header"``, ``"cookie"``,
    ``"body"``, ``"form"``, ``"file"``). Register ``errorhandler(RequestValidationError)``
    (or ``errorhandler(422)``) to answer differently.
    """

    code = 422
    description = "The request did not match what this endpoint expects."

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0] if errors else None
        detail = self.description
        if first is not None:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            detail = f"{_where(first['loc'])}: {first['msg']}{more}"
        super().__init__(detail)
        self.errors = errors

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        """The problem-details document, with every error."""
        return problem_document(
            422, "Unprocessable Content", self.description or "", errors=self.errors
        )

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        """``Content-Type: application/problem+json``."""
        return list(_PROBLEM_HEADERS)


class UnsupportedBodyType(UnsupportedMediaType):
    """The body's ``Content-Type`` is not one the typed view reads: a 415 problem document."""

    def __init__(self, got: str, expected: str) -> None:
        super().__init__(f"The body must be {expected}, not {got!r}.")

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        """The problem-details document."""
        return problem_document(415, "Unsupported Media Type", self.description or "")

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        """``Content-Type: application/problem+json``."""
        return list(_PROBLEM_HEADERS)


_problem_classes: dict[type[HTTPException], type[HTTPException]] = {}


def _problem_body(self: HTTPException, environ: Any = None, scope: Any = None) -> str:
    return problem_document(self.code or 500, self.name, self.description or "")


def _problem_headers(
    self: HTTPException, environ: Any = None, scope: Any = None
) -> list[tuple[str, str]]:
    # The class the view raised gives its own headers (Allow, WWW-Authenticate ...).
    base: type[HTTPException] = type(self).__mro__[1]
    kept = [
        (k, v) for k, v in base.get_headers(self, environ, scope) if k.lower() != "content-type"
    ]
    return [*kept, ("Content-Type", PROBLEM_JSON)]


def as_problem(e: HTTPException) -> HTTPException:
    """The same error, answered as an RFC 9457 problem document instead of an HTML page.

    Only for errors whose class renders Werkzeug's default page (``abort(404)``); one
    with its own body, a response, a redirect or no error status is returned as it is.
    The copy's class is a subclass of the original, so error handlers registered for
    the original class or its status code still answer it.
    """
    cls = type(e)
    code = e.code
    if (
        code is None
        or code < 400
        or getattr(e, "response", None) is not None
        or cls.get_body is not HTTPException.get_body
        or cls.get_response is not HTTPException.get_response
    ):
        return e
    problem_cls = _problem_classes.get(cls)
    if problem_cls is None:
        problem_cls = type(
            cls.__name__,
            (cls,),
            {
                "get_body": _problem_body,
                "get_headers": _problem_headers,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
            },
        )
        if len(_problem_classes) < 256:
            _problem_classes[cls] = problem_cls
    copy = problem_cls.__new__(problem_cls)
    copy.__dict__.update(e.__dict__)
    copy.args = e.args
    return copy


class ResponseValidationError(InternalServerError):
    """A typed view returned a value that does not match its return annotation (a 500)."""

    def __init__(self, endpoint: str | None, errors: list[dict[str, Any]]) -> None:
        where = "; ".join(f"{_where(e['loc'], 'the value')}: {e['msg']}" for e in errors[:5])
        super().__init__(
            f"The view {endpoint!r} returned a value that does not match its return"
            f" annotation: {where}"
        )
        self.errors = errors


__all__ = [
    "PROBLEM_JSON",
    "RequestValidationError",
    "ResponseValidationError",
    "UnsupportedBodyType",
    "as_problem",
    "problem_document",
    "problem_response",
]
