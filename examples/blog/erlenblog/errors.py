"""Error pages: HTML for the site, RFC 9457 problem documents (JSON) for the API."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException, InternalServerError

from erlen import Erlen, render_template, request
from erlen.typed import RequestValidationError, problem_response


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _headers(error: HTTPException) -> list[tuple[str, str]]:
    # Keep what tells a client how to go on (WWW-Authenticate, Retry-After, Allow).
    return [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]


def http_error(error: HTTPException) -> Any:
    """Answer an HTTP error with the site's page, or with a problem document under ``/api/``."""
    code = error.code or 500
    if _wants_json():
        # RFC 9457 problem details, as the typed views' 422; "error" and "message" are the
        # members this API answered before, kept for its clients.
        members: dict[str, Any] = {"error": error.name, "message": error.description}
        if isinstance(error, RequestValidationError):
            members["errors"] = error.errors
        body = problem_response(code, error.name, error.description or "", **members)
        return body, code, _headers(error)
    template = "errors/404.html" if code == 404 else "errors/error.html"
    page = render_template(template, code=code, name=error.name, description=error.description)
    return page, code, _headers(error)


def server_error(error: InternalServerError) -> Any:
    """The page for unhandled exceptions: self-contained, so it renders whatever failed."""
    if _wants_json():
        return problem_response(
            500,
            "Internal Server Error",
            "Something broke on the server.",
            error="Internal Server Error",
        )
    return render_template("errors/500.html"), 500


def init_app(app: Erlen) -> None:
    """Register the handlers on ``app``."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(500, server_error)
