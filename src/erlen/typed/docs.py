"""``OpenAPI``: serve an app's OpenAPI document and an interactive documentation page.

The page is Swagger UI, whose files come from the ``swagger-ui-py`` package (the
``openapi`` extra) and are served by the app itself, so the page works offline and
under a strict Content-Security-Policy (no inline script, no CDN).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import NotFound

from ..globals import _cv_app
from .openapi import openapi_document

if TYPE_CHECKING:
    from ..app import Erlen
    from ..response import Response

#: The endpoints this extension adds (left out of the document).
ENDPOINTS = frozenset({"openapi_document", "openapi_docs", "openapi_assets"})

_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'self'; form-action 'self'"
)

_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")

_INIT_JS = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    tryItOutEnabled: true,
    displayRequestDuration: true
  });
});
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/erlen-init.js"></script>
</body>
</html>
"""


def swagger_ui_dir() -> str | None:
    """The folder of Swagger UI's files from ``swagger-ui-py``, or None if not installed."""
    try:
        import swagger_ui  # type: ignore[import-untyped]
    except ImportError:
        return None
    folder = os.path.join(os.path.dirname(swagger_ui.__file__), "static")
    return folder if os.path.isfile(os.path.join(folder, "swagger-ui-bundle.js")) else None


class OpenAPI:
    """Serve the OpenAPI document at ``OPENAPI_URL`` and its page at ``OPENAPI_DOCS_URL``.

    ``OpenAPI(app, title="Shop", version="1.0")`` or ``init_app(app)`` in a factory.
    The URLs default to ``/openapi.json`` and ``/docs``; set either config key to None
    to leave that route out. ``blueprints=["api"]`` documents only those blueprints'
    routes, ``exclude_blueprints`` leaves some out. The document is built at its first request and rebuilt
    when routes are added.
    """

    def __init__(
        self,
        app: Erlen | None = None,
        *,
        title: str | None = None,
        version: str | None = None,
        description: str | None = None,
        servers: list[dict[str, Any]] | None = None,
        blueprints: Iterable[str] | None = None,
        exclude_blueprints: Iterable[str] = (),
    ) -> None:
        self.blueprints = list(blueprints) if blueprints is not None else None
        self.exclude_blueprints = list(exclude_blueprints)
        self.title = title
        self.version = version
        self.description = description
        self.servers = servers
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Erlen) -> None:
        """Register the document's and the page's routes on ``app``."""
        app.config.setdefault("OPENAPI_URL", "/openapi.json")
        app.config.setdefault("OPENAPI_DOCS_URL", "/docs")
        app.extensions["erlen.openapi"] = self
        url = app.config["OPENAPI_URL"]
        docs_url = app.config["OPENAPI_DOCS_URL"]
        if url:
            app.add_url_rule(url, "openapi_document", self._serve_document)
        if url and docs_url:
            app.add_url_rule(docs_url, "openapi_docs", self._serve_page)
            app.add_url_rule(
                docs_url.rstrip("/") + "/assets/<path:filename>",
                "openapi_assets",
                self._serve_asset,
            )

    def document(self, app: Erlen | None = None) -> dict[str, Any]:
        """The OpenAPI document of ``app`` (the current app by default)."""
        if app is None:
            app = _cv_app.get().app
        rules = len(app.url_map._rules)
        cached = self._cache.get(id(app))
        if cached is not None and cached[0] == rules:
            return cached[1]
        document = openapi_document(
            app,
            title=self.title,
            version=self.version,
            description=self.description,
            servers=self.servers,
            hidden_endpoints=ENDPOINTS,
            blueprints=self.blueprints,
            exclude_blueprints=self.exclude_blueprints,
        )
        self._cache[id(app)] = (rules, document)
        return document

    def _serve_document(self) -> Response:
        app = _cv_app.get().app
        body = json.dumps(self.document(app), indent=2 if app.debug else None)
        response: Response = app.response_class(body, mimetype="application/json")
        return response

    def _serve_page(self) -> Response:
        from ..helpers import url_for

        app = _cv_app.get().app
        document = self.document(app)
        page = _PAGE.format(
            title=html.escape(str(document["info"]["title"])),
            url=html.escape(url_for("openapi_document")),
            assets=html.escape(url_for("openapi_assets", filename="").rstrip("/")),
        )
        response: Response = app.response_class(page, mimetype="text/html")
        # Swagger UI draws its icons as data: images; everything else is this origin's.
        # (An app-wide policy, e.g. SecurityHeaders', leaves a view's own header alone.)
        response.headers["Content-Security-Policy"] = _PAGE_CSP
        return response

    def _serve_asset(self, filename: str) -> Response:
        from ..helpers import send_from_directory

        app = _cv_app.get().app
        response: Response
        if filename == "erlen-init.js":
            response = app.response_class(_INIT_JS, mimetype="text/javascript")
        else:
            folder = swagger_ui_dir()
            if folder is None or filename not in _ASSETS:
                raise NotFound(
                    "The documentation page's files come from the swagger-ui-py package:"
                    " pip install 'erlen[openapi]'."
                    if folder is None
                    else None
                )
            response = send_from_directory(folder, filename, max_age=86400)
        return response


__all__ = ["ENDPOINTS", "OpenAPI", "swagger_ui_dir"]
