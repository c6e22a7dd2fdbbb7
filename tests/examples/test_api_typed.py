"""Erlenblog's typed JSON API (``examples/blog/erlenblog/api.py``) and its OpenAPI document.

The API's flows (tokens, writing, 401/403/404) are in ``test_blog.py``; these tests pin what
the typed views add: validation answered as 422 problem documents with each error's
location, answers shaped by the models, the document at ``/api/openapi.json`` and the
documentation page at ``/api/docs``. Every test runs through both doors.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from erlen import Erlen
from erlen.contrib.passwords import generate_password_hash

BLOG = Path(__file__).resolve().parents[2] / "examples" / "blog"
if str(BLOG) not in sys.path:
    sys.path.insert(0, str(BLOG))

from erlenblog import create_app  # noqa: E402
from erlenblog.extensions import db, limiter  # noqa: E402
from erlenblog.models import User  # noqa: E402

PASSWORD = "correct horse"
API_OPERATIONS = {
    ("/api/posts", "get"),
    ("/api/posts", "post"),
    ("/api/posts/{post_id}", "get"),
    ("/api/posts/{post_id}", "put"),
    ("/api/posts/{post_id}", "patch"),
    ("/api/posts/{post_id}", "delete"),
    ("/api/tokens", "post"),
}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Erlen]:
    monkeypatch.setenv("ERLENBLOG_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'blog.sqlite'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        limiter.reset()  # one limiter object serves every app built in this process
        db.session.add(User(username="ann", password_hash=generate_password_hash(PASSWORD)))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api(app: Erlen, protocol: str) -> Any:
    return app.test_client(asgi=(protocol == "asgi"))


@pytest.fixture
def auth(api: Any) -> dict[str, str]:
    """The ``Authorization`` header of a fresh token of ann's."""
    raw = base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    response = api.post("/api/tokens", headers={"Authorization": f"Basic {raw}"})
    assert response.status_code == 201
    assert set(response.json) == {"token", "expires_in", "user"}
    return {"Authorization": f"Bearer {response.json['token']}"}


def errors_of(response: Any) -> list[tuple[list[Any], str]]:
    """The ``(loc, type)`` of each error of a 422 problem document."""
    assert response.status_code == 422, response.text
    assert response.content_type == "application/problem+json"
    problem = response.json
    assert problem["status"] == 422
    assert problem["type"] == "about:blank"
    return [(error["loc"], error["type"]) for error in problem["errors"]]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or the component its ``$ref`` names."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: Any = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


# -- validation -------------------------------------------------------------------------------------


def test_query_parameters_are_checked_against_their_bounds(api: Any) -> None:
    assert api.get("/api/posts?page=1&per_page=50").status_code == 200
    assert errors_of(api.get("/api/posts?per_page=51")) == [
        (["query", "per_page"], "less_than_equal")
    ]
    assert errors_of(api.get("/api/posts?per_page=0&page=0")) == [
        (["query", "page"], "greater_than_equal"),
        (["query", "per_page"], "greater_than_equal"),
    ]
    assert errors_of(api.get("/api/posts?page=two")) == [(["query", "page"], "int_parsing")]
    # A page number whose offset would overflow the database's integers is refused, not run.
    assert errors_of(api.get("/api/posts?page=100000000000")) == [
        (["query", "page"], "less_than_equal")
    ]


def test_post_ids_out_of_the_databases_range_are_refused(api: Any, auth: dict[str, str]) -> None:
    assert errors_of(api.get("/api/posts/0")) == [(["path", "post_id"], "greater_than_equal")]
    # Larger than SQLite's 64-bit integers: before typed views this was a 500.
    huge = f"/api/posts/{2**63}"
    assert errors_of(api.get(huge)) == [(["path", "post_id"], "less_than_equal")]
    assert errors_of(api.delete(huge, headers=auth)) == [(["path", "post_id"], "less_than_equal")]
    assert api.get(f"/api/posts/{2**63 - 1}").status_code == 404


def test_bodies_are_checked_field_by_field(api: Any, auth: dict[str, str]) -> None:
    def create(**kwargs: Any) -> Any:
        return api.post("/api/posts", headers=auth, **kwargs)

    assert errors_of(create(json={})) == [
        (["body", "title"], "missing"),
        (["body", "body"], "missing"),
    ]
    assert errors_of(create(json={"title": "x" * 201, "body": 3})) == [
        (["body", "title"], "string_too_long"),
        (["body", "body"], "string_type"),
    ]
    # White space only: the pattern says so to clients; str.strip has the last word.
    assert errors_of(create(json={"title": "   ", "body": "\x1c"})) == [
        (["body", "title"], "string_pattern_mismatch"),
        (["body", "body"], "value_error"),
    ]
    # NUL: SQLite would store it, PostgreSQL would fail (a 500).
    assert errors_of(create(json={"title": "a\x00b", "body": "b"})) == [
        (["body", "title"], "value_error")
    ]
    assert errors_of(create(json=["title", "body"])) == [(["body"], "model_type")]
    assert errors_of(create(data="not json")) == [(["body"], "json_invalid")]
    assert errors_of(create()) == [(["body"], "missing")]
    # Authentication comes first: without a token even a bad body is a 401.
    assert api.post("/api/posts", json={}).status_code == 401


def test_a_problem_document_names_every_error(api: Any) -> None:
    response = api.get("/api/posts?per_page=51")
    problem = response.json
    assert problem["title"] == "Unprocessable Entity"
    assert problem["instance"] == "/api/posts"
    assert problem["detail"] == "query.per_page: Input should be less than or equal to 50"
    # The members the API's errors had before it answered RFC 9457 problem documents.
    assert problem["error"] == "Unprocessable Entity"
    assert problem["message"] == problem["detail"]


# -- answers ----------------------------------------------------------------------------------------


def test_answers_follow_the_models(api: Any, auth: dict[str, str]) -> None:
    created = []
    for n in range(3):
        response = api.post("/api/posts", json={"title": f" Post {n} ", "body": "b"}, headers=auth)
        assert response.status_code == 201
        assert response.content_type == "application/json"
        post = response.json
        assert response.headers["Location"] == f"/api/posts/{post['id']}"
        created.append(post)
    post = created[0]
    assert post["title"] == "Post 0"  # stripped, as the site's form does
    assert set(post) == {
        "id", "title", "body", "author", "created", "updated", "attachment", "reading_minutes"
    }  # fmt: skip
    assert post["author"] == "ann"
    assert post["created"].endswith("Z")
    assert datetime.fromisoformat(post["created"]).utcoffset().total_seconds() == 0
    assert post["updated"] is None

    listing = api.get("/api/posts?per_page=2").json
    assert (listing["page"], listing["pages"], listing["total"]) == (1, 2, 3)
    assert [p["title"] for p in listing["posts"]] == ["Post 2", "Post 1"]
    assert listing["next"] == "/api/posts?page=2&per_page=2"  # the page size stays
    last = api.get("/api/posts?per_page=2&page=2").json
    assert [p["id"] for p in last["posts"]] == [post["id"]]
    assert last["next"] is None
    response = api.get("/api/posts?per_page=2&page=3")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"

    url = f"/api/posts/{post['id']}"
    # The post task ran in the request (no broker): the digest is there at the next read.
    assert api.get(url).json == post | {"reading_minutes": 1}
    changed = api.patch(url, json={"title": None, "body": "new text"}, headers=auth).json
    assert (changed["title"], changed["body"]) == ("Post 0", "new text")
    assert changed["updated"].endswith("Z")
    replaced = api.put(url, json={"title": "Replaced", "body": "all"}, headers=auth).json
    assert (replaced["title"], replaced["body"]) == ("Replaced", "all")
    response = api.delete(url, headers=auth)
    assert response.status_code == 204
    assert response.data == b""
    assert api.get(url).status_code == 404


# -- the document and its page ----------------------------------------------------------------------


def test_the_document_describes_the_api(api: Any) -> None:
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    document = response.json
    validate(document)  # OpenAPI 3.1, by openapi-spec-validator
    assert document["info"] == {"title": "Erlenblog API", "version": "1.0"}
    paths = document["paths"]
    found = {(path, method) for path, item in paths.items() for method in item}
    assert found == API_OPERATIONS  # the site's HTML pages are left out
    assert [tag["name"] for tag in document["tags"]] == ["api"]
    for path, method in API_OPERATIONS:
        assert paths[path][method]["tags"] == ["api"]

    security = {
        (path, method): paths[path][method].get("security") for path, method in API_OPERATIONS
    }
    assert security == {
        ("/api/posts", "get"): None,
        ("/api/posts", "post"): [{"bearerAuth": []}],
        ("/api/posts/{post_id}", "get"): None,
        ("/api/posts/{post_id}", "put"): [{"bearerAuth": []}],
        ("/api/posts/{post_id}", "patch"): [{"bearerAuth": []}],
        ("/api/posts/{post_id}", "delete"): [{"bearerAuth": []}],
        ("/api/tokens", "post"): [{"basicAuth": []}],
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}

    statuses = {
        (path, method): sorted(paths[path][method]["responses"]) for path, method in API_OPERATIONS
    }
    assert statuses == {
        ("/api/posts", "get"): ["200", "404", "422"],
        ("/api/posts", "post"): ["201", "401", "422"],
        ("/api/posts/{post_id}", "get"): ["200", "404", "422"],
        ("/api/posts/{post_id}", "put"): ["200", "401", "403", "404", "422"],
        ("/api/posts/{post_id}", "patch"): ["200", "401", "403", "404", "422"],
        ("/api/posts/{post_id}", "delete"): ["204", "401", "403", "404", "422"],
        ("/api/tokens", "post"): ["201", "401", "429"],
    }
    create = paths["/api/posts"]["post"]
    assert create["summary"] == "Publish a post (bearer token)."
    body = resolve(document, create["requestBody"]["content"]["application/json"]["schema"])
    assert body["title"] == "PostIn"
    assert body["required"] == ["title", "body"]
    assert body["properties"]["title"] | {"examples": None} == {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": r"\S",
        "title": "Title",
        "examples": None,
    }
    answer = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert resolve(document, answer)["title"] == "PostOut"
    problem = create["responses"]["401"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}


def test_the_document_states_the_parameters_bounds(api: Any) -> None:
    paths = api.get("/api/openapi.json").json["paths"]
    parameters = {p["name"]: p for p in paths["/api/posts"]["get"]["parameters"]}
    assert parameters["page"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 10**9, "default": 1
    }  # fmt: skip
    assert parameters["per_page"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 50, "default": 20
    }  # fmt: skip
    (post_id,) = paths["/api/posts/{post_id}"]["get"]["parameters"]
    assert post_id["in"] == "path"
    assert post_id["description"] == "The post's id."
    assert post_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def test_the_docs_page_loads_only_same_origin_files_under_the_csp(api: Any) -> None:
    response = api.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src" not in csp  # scripts: this origin only (default-src)
    assert "unsafe-inline" not in csp
    page = response.text
    assert "<title>Erlenblog API</title>" in page
    assert 'data-openapi-url="/api/openapi.json"' in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts
    assert all(not content.strip() for _, content in scripts), "inline script"
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith("/api/docs/assets/"), url
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert asset.data
