"""The OpenAPI extension serves the document and an offline Swagger UI page."""

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from erlen import Erlen
from erlen.typed import OpenAPI, openapi_document, typed
from erlen.typed.docs import ENDPOINTS


class Item(BaseModel):
    name: str


def make_app(**config: Any) -> tuple[Erlen, OpenAPI]:
    app = Erlen("shop")
    app.config.update(config)

    @app.get("/items/<int:item_id>")
    @typed
    def show(item_id: int) -> Item:
        """Show an item."""
        return Item(name=str(item_id))

    return app, OpenAPI(app, title="Shop <API>", version="1.2")


def test_document_served(client: Any) -> None:
    app, ext = make_app()
    r = client(app).get("/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    served = r.get_json()
    assert served["info"] == {"title": "Shop <API>", "version": "1.2"}
    # The extension's own routes are not part of the API it documents.
    assert set(served["paths"]) == {"/items/{item_id}"}
    assert served["paths"]["/items/{item_id}"]["get"]["summary"] == "Show an item."
    assert served == json.loads(json.dumps(ext.document(app)))
    # openapi_document itself lists every route (the extension's too) unless told otherwise.
    assert "/openapi.json" in openapi_document(app)["paths"]
    hidden = openapi_document(app, title="Shop <API>", version="1.2", hidden_endpoints=ENDPOINTS)
    assert served == json.loads(json.dumps(hidden))


def test_page_is_self_contained(client: Any) -> None:
    app, _ = make_app()
    r = client(app).get("/docs")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "<title>Shop &lt;API&gt;</title>" in page
    assert 'data-openapi-url="/openapi.json"' in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert [src for src, _ in scripts] == [
        ' src="/docs/assets/swagger-ui-bundle.js"',
        ' src="/docs/assets/erlen-init.js"',
    ]
    assert all(body.strip() == "" for _, body in scripts)  # no inline script (strict CSP)
    assert 'href="/docs/assets/swagger-ui.css"' in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


@pytest.mark.parametrize(
    ("name", "mimetype", "marker"),
    [
        ("swagger-ui-bundle.js", "text/javascript", b"SwaggerUIBundle"),
        ("swagger-ui.css", "text/css", b".swagger-ui"),
        ("favicon-32x32.png", "image/png", b"\x89PNG"),
    ],
)
def test_assets_served(client: Any, name: str, mimetype: str, marker: bytes) -> None:
    app, _ = make_app()
    r = client(app).get(f"/docs/assets/{name}")
    assert r.status_code == 200
    # Older mimetypes tables call JavaScript application/javascript.
    assert r.mimetype == mimetype or (mimetype, r.mimetype) == (
        "text/javascript",
        "application/javascript",
    )
    assert marker in r.data
    assert "max-age" in r.headers.get("Cache-Control", "")
    r.close()


def test_init_script(client: Any) -> None:
    app, _ = make_app()
    r = client(app).get("/docs/assets/erlen-init.js")
    assert r.status_code == 200
    assert r.mimetype == "text/javascript"
    text = r.get_data(as_text=True)
    assert "SwaggerUIBundle(" in text
    assert 'getAttribute("data-openapi-url")' in text


@pytest.mark.parametrize(
    "name",
    [
        "nope.js",
        "index.html",
        # Files of the package that the page does not use (the stock initializer loads
        # a demo document from the internet) are not served either.
        "swagger-initializer.js",
        "oauth2-redirect.html",
        "LICENSE",
        "../docs.py",
        "%2e%2e/docs.py",
        "swagger-ui-bundle.js.map",
        "sub/swagger-ui.css",
    ],
)
def test_unknown_assets_are_404(client: Any, name: str) -> None:
    app, _ = make_app()
    r = client(app).get(f"/docs/assets/{name}")
    assert r.status_code == 404


def test_urls_from_config(client: Any) -> None:
    app, _ = make_app(OPENAPI_URL="/api/spec.json", OPENAPI_DOCS_URL="/api/docs/")
    c = client(app)
    assert c.get("/openapi.json").status_code == 404
    assert c.get("/docs").status_code == 404
    assert c.get("/api/spec.json").get_json()["info"]["version"] == "1.2"
    page = c.get("/api/docs/").get_data(as_text=True)
    assert 'data-openapi-url="/api/spec.json"' in page
    assert 'src="/api/docs/assets/swagger-ui-bundle.js"' in page
    assert c.get("/api/docs/assets/erlen-init.js").status_code == 200


def test_docs_url_none_removes_the_page(client: Any) -> None:
    app, _ = make_app(OPENAPI_DOCS_URL=None)
    c = client(app)
    assert c.get("/openapi.json").status_code == 200
    assert c.get("/docs").status_code == 404
    assert c.get("/docs/assets/erlen-init.js").status_code == 404
    assert "openapi_docs" not in app.view_functions


def test_openapi_url_none_removes_both(client: Any) -> None:
    app, _ = make_app(OPENAPI_URL=None)
    c = client(app)
    assert c.get("/openapi.json").status_code == 404
    assert c.get("/docs").status_code == 404


def test_init_app_factory(client: Any) -> None:
    ext = OpenAPI(title="Factory", version="3")

    def create_app() -> Erlen:
        app = Erlen("made")

        @app.get("/ping")
        def ping() -> str:
            return "pong"

        ext.init_app(app)
        return app

    first, second = create_app(), create_app()
    assert first.extensions["erlen.openapi"] is ext
    for app in (first, second):
        served = client(app).get("/openapi.json").get_json()
        assert served["info"] == {"title": "Factory", "version": "3"}
        assert set(served["paths"]) == {"/ping"}


def test_document_rebuilt_when_routes_are_added(client: Any) -> None:
    app, ext = make_app()
    with app.app_context():
        before = ext.document()
        assert ext.document() is before  # cached while the routes stay the same
    assert set(before["paths"]) == {"/items/{item_id}"}

    @app.post("/items")
    @typed(status_code=201)
    def create(item: Item) -> Item:
        return item

    served = client(app).get("/openapi.json").get_json()
    assert set(served["paths"]) == {"/items/{item_id}", "/items"}
    assert "201" in served["paths"]["/items"]["post"]["responses"]


def test_debug_document_is_indented(client: Any) -> None:
    app, _ = make_app()
    app.debug = True
    data = client(app).get("/openapi.json").data
    assert data.startswith(b"{\n  ")
    app2, _ = make_app()
    assert b"\n" not in client(app2).get("/openapi.json").data.strip()
