"""Error pages: HTML for the site, JSON for the API."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException, InternalServerError

from erlen import Erlen, jsonify, render_template, request


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _headers(error: HTTPException) -> list[tuple[str, str]]:
    # Keep what tells a client how to go on (WWW-Authenticate, Retry-After, Allow).
    return [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]


def http_error(error: HTTPException) -> Any:
    """Answer an HTTP error with the site's page, or with JSON under ``/api/``."""
    code = error.code or 500
    if _wants_json():
        body = jsonify(error=error.name, message=error.description, status=code)
        return body, code, _headers(error)
    template = "errors/404.html" if code == 404 else "errors/error.html"
    page = render_template(template, code=code, name=error.name, description=error.description)
    return page, code, _headers(error)


def server_error(error: InternalServerError) -> Any:
    """The page for unhandled exceptions: self-contained, so it renders whatever failed."""
    if _wants_json():
        return jsonify(error="Internal Server Error", status=500), 500
    return render_template("errors/500.html"), 500


def init_app(app: Erlen) -> None:
    """Register the handlers on ``app``."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(500, server_error)
