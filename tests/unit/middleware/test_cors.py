"""CORS (erlen.middleware.cors), through both doors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from erlen import Erlen, abort
from erlen.contrib import passwords as sec
from erlen.middleware.cors import CORS, cross_origin

DOCS = Path(__file__).resolve().parents[3] / "docs"


def make_client(app: Erlen, protocol: str, **kwargs: Any) -> Any:
    return app.test_client(asgi=(protocol == "asgi"), **kwargs)


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as if argon2-cffi were not installed."""
    monkeypatch.setattr(sec, "_argon2_module", False)
    monkeypatch.setattr(sec, "_argon2_hashers", {})


# -- CORS -----------------------------------------------------------------------------------------


def cors_app(**options: Any) -> Erlen:
    app = Erlen(__name__)
    CORS(app, **options)

    @app.route("/api/items", methods=["GET", "POST", "DELETE"])
    def items() -> dict[str, Any]:
        return {"items": []}

    @app.route("/api/async")
    async def async_items() -> dict[str, Any]:
        return {"items": []}

    @app.route("/api/secret")
    def secret() -> str:
        abort(401)

    @app.route("/page")
    def page() -> str:
        return "page"

    return app


def preflight(client: Any, path: str, origin: str, method: str = "POST", **headers: str) -> Any:
    return client.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, **headers},
    )


def test_preflight_answered(protocol: str) -> None:
    app = cors_app(origins=["https://app.example"], max_age=600)
    client = make_client(app, protocol)
    r = preflight(
        client, "/api/secret", "https://app.example", "DELETE",
        **{"Access-Control-Request-Headers": "Content-Type, X-Token"},
    )  # fmt: skip
    assert r.status_code == 204
    assert r.data == b""
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Token"
    assert r.headers["Access-Control-Max-Age"] == "600"
    vary = {v.strip() for v in r.headers["Vary"].split(",")}
    assert {"Origin", "Access-Control-Request-Method"} <= vary
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_preflight_refused(protocol: str) -> None:
    app = cors_app(origins=["https://app.example"], methods=["GET"], allow_headers=["X-Ok"])
    client = make_client(app, protocol)
    refused = [
        preflight(client, "/api/items", "https://evil.example", "GET"),
        preflight(client, "/api/items", "https://app.example", "DELETE"),
        preflight(client, "/api/items", "https://app.example", "GET",
                  **{"Access-Control-Request-Headers": "X-Ok, X-Other"}),
    ]  # fmt: skip
    for r in refused:
        assert "Access-Control-Allow-Origin" not in r.headers
        assert r.status_code == 200  # the ordinary OPTIONS answer
    ok = preflight(client, "/api/items", "https://app.example", "GET",
                   **{"Access-Control-Request-Headers": "x-ok"})  # fmt: skip
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Headers"] == "x-ok"


def test_simple_requests(protocol: str) -> None:
    client = make_client(cors_app(expose_headers=["X-Total"]), protocol)
    r = client.get("/api/items", headers={"Origin": "https://any.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Expose-Headers"] == "X-Total"
    assert "Vary" not in r.headers  # the answer does not depend on the origin
    assert "Access-Control-Allow-Origin" not in client.get("/api/items").headers

    client = make_client(cors_app(origins=["https://app.example"]), protocol)
    for path in ("/api/items", "/api/async", "/api/secret"):
        r = client.get(path, headers={"Origin": "https://app.example"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example", path
        assert r.headers["Vary"] == "Origin"
    r = client.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["Vary"] == "Origin"


def test_credentials(protocol: str) -> None:
    app = cors_app(origins=["https://app.example", re.compile(r"https://\w+\.app\.example")],
                   supports_credentials=True)  # fmt: skip
    client = make_client(app, protocol)
    r = client.get("/api/items", headers={"Origin": "https://eu.app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://eu.app.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = preflight(client, "/api/items", "https://app.example")
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    r = client.get("/api/items", headers={"Origin": "https://x.eu.app.example.evil"})
    assert "Access-Control-Allow-Origin" not in r.headers
    with pytest.raises(ValueError, match="explicit list of origins"):
        cors_app(supports_credentials=True)
    with pytest.raises(ValueError):
        cross_origin(origins="*", supports_credentials=True)


def test_resources(protocol: str) -> None:
    app = cors_app(
        origins=["https://app.example"],
        resources={r"/api/.*": {}, r"/api/async": {"origins": "*"}},
    )
    client = make_client(app, protocol)
    headers = {"Origin": "https://other.example"}
    assert client.get("/api/async", headers=headers).headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/api/items", headers=headers).headers
    r = client.get("/page", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in r.headers and "Vary" not in r.headers
    assert preflight(client, "/page", "https://app.example").status_code == 200


def test_config_keys(protocol: str) -> None:
    app = Erlen(__name__)
    app.config["CORS_ORIGINS"] = ["https://cfg.example"]
    CORS(app, origins=["https://arg.example"])
    app.route("/")(lambda: "hi")
    client = make_client(app, protocol)
    assert (
        client.get("/", headers={"Origin": "https://cfg.example"}).headers[
            "Access-Control-Allow-Origin"
        ]
        == "https://cfg.example"
    )
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/", headers={"Origin": "https://arg.example"}).headers
    )


def test_cross_origin_standalone(protocol: str) -> None:
    app = Erlen(__name__)

    @app.route("/open", methods=["GET", "PUT"])
    @cross_origin(origins=["https://app.example"], max_age=60)
    def open_view() -> str:
        return "open"

    @app.route("/async")
    @cross_origin()
    async def async_view() -> str:
        return "async"

    @app.route("/closed")
    def closed() -> str:
        return "closed"

    client = make_client(app, protocol)
    r = preflight(client, "/open", "https://app.example", "PUT")
    assert r.status_code == 204 and r.headers["Access-Control-Max-Age"] == "60"
    r = client.get("/open", headers={"Origin": "https://app.example"})
    assert r.text == "open" and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    r = client.get("/async", headers={"Origin": "https://x.example"})
    assert r.text == "async" and r.headers["Access-Control-Allow-Origin"] == "*"
    r = client.options("/open")  # a plain OPTIONS request still gets the methods
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "PUT", "OPTIONS"}
    assert (
        "Access-Control-Allow-Origin"
        not in preflight(client, "/open", "https://evil.example").headers
    )
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/closed", headers={"Origin": "https://app.example"}).headers
    )


def test_cross_origin_with_extension(protocol: str) -> None:
    app = Erlen(__name__)
    CORS(app, origins=["https://app.example"], resources=[r"/api/.*"])

    @app.route("/public")
    @cross_origin(origins="*")
    def public() -> str:
        abort(404)

    client = make_client(app, protocol)
    r = client.get("/public", headers={"Origin": "https://x.example"})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # error responses too
    assert preflight(client, "/public", "https://x.example", "GET").status_code == 204
    with pytest.raises(TypeError):
        cross_origin(origin="*")


def test_view_policy_inherits_the_apps(protocol: str) -> None:
    app = Erlen(__name__)
    CORS(app, origins=["https://app.example"], supports_credentials=True)

    @app.route("/feed")
    @cross_origin(origins="*")  # public: the app's credentials are dropped, not an error
    def feed() -> str:
        return "feed"

    @app.route("/mine")
    @cross_origin(expose_headers=["X-Mine"])
    def mine() -> str:
        return "mine"

    client = make_client(app, protocol)
    r = client.get("/feed", headers={"Origin": "https://x.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = client.get("/mine", headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Expose-Headers"] == "X-Mine"


def test_preflight_skips_views_and_login(protocol: str) -> None:
    from erlen.contrib.auth import LoginManager, login_required

    app = Erlen(__name__)
    app.secret_key = "k"
    LoginManager(app)
    CORS(app, origins=["https://app.example"], supports_credentials=True)
    calls = []

    @app.route("/me", methods=["POST"])
    @login_required
    def me() -> str:
        calls.append(1)
        return "me"

    client = make_client(app, protocol)
    r = preflight(client, "/me", "https://app.example")
    assert r.status_code == 204 and not calls
    r = client.post("/me", headers={"Origin": "https://app.example"})
    assert r.status_code == 401  # no login view: 401, still readable by the allowed origin
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
