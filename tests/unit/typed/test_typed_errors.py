"""Invalid input is a 422 RFC 9457 problem document, customizable like any Flask error."""

from typing import Any

import msgspec
import pytest
from pydantic import BaseModel
from werkzeug.datastructures import FileStorage

from erlen import Blueprint, Erlen, abort, g, jsonify, request
from erlen.typed import PROBLEM_JSON, RequestValidationError, typed


class Item(BaseModel):
    name: str
    price: float


class Cart(BaseModel):
    items: list[Item]


def make_app() -> Erlen:
    app = Erlen(__name__)

    @app.post("/cart")
    @typed
    def cart(cart: Cart, limit: int = 10) -> Any:
        return {"n": len(cart.items), "limit": limit}

    return app


def test_problem_document_shape(client: Any) -> None:
    c = client(make_app())
    body = {
        "items": [{"name": "a", "price": 1}, {"name": "b", "price": 2}, {"name": "c", "price": "x"}]
    }
    r = c.post("/cart?limit=3", json=body)
    assert r.status_code == 422
    assert r.headers["Content-Type"] == PROBLEM_JSON
    doc = r.get_json()
    assert set(doc) == {"type", "title", "status", "detail", "instance", "errors"}
    assert doc["type"] == "about:blank"
    assert doc["title"] == "Unprocessable Content"
    assert doc["status"] == 422
    assert doc["instance"] == "/cart"
    assert isinstance(doc["detail"], str) and "items.2.price" in doc["detail"]
    assert doc["errors"] == [
        {
            "loc": ["body", "items", 2, "price"],
            "msg": "Input should be a valid number, unable to parse string as a number",
            "type": "float_parsing",
        }
    ]


def test_problem_lists_every_error_from_every_source(client: Any) -> None:
    c = client(make_app())
    r = c.post("/cart?limit=many", json={"items": [{"price": 1}]})
    doc = r.get_json()
    assert [e["loc"] for e in doc["errors"]] == [["query", "limit"], ["body", "items", 0, "name"]]
    assert "(and 1 more)" in doc["detail"]


def test_unsupported_media_type(client: Any) -> None:
    c = client(make_app())
    r = c.post("/cart", data="items=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert r.mimetype == PROBLEM_JSON
    doc = r.get_json()
    assert doc["status"] == 415
    assert doc["title"] == "Unsupported Media Type"
    assert "application/json" in doc["detail"]
    assert client(make_app()).post("/cart", data="{}", content_type="text/plain").status_code == 415


def test_malformed_json(client: Any) -> None:
    c = client(make_app())
    unclosed = b'{"items": ['
    for raw in (unclosed, b"not json", unclosed + b"}", b"{'items': []}"):
        r = c.post("/cart", data=raw, content_type="application/json")
        assert r.status_code == 422, raw
        errors = r.get_json()["errors"]
        assert [e["loc"] for e in errors] == [["body"]], raw
        assert errors[0]["type"] == "json_invalid", raw


def test_empty_body_and_null_body(client: Any) -> None:
    c = client(make_app())
    r = c.post("/cart", data=b"", content_type="application/json")
    assert r.get_json()["errors"] == [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
    r = c.post("/cart", data=b"null", content_type="application/json")
    assert r.status_code == 422
    assert [e["loc"] for e in r.get_json()["errors"]] == [["body"]]


def test_errorhandler_for_request_validation_error(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/n")
    @typed
    @as_view
    def n(n: int) -> Any:
        return {"n": n}

    @app.errorhandler(RequestValidationError)
    def invalid(e: RequestValidationError) -> Any:
        return {"bad": [".".join(map(str, err["loc"])) for err in e.errors]}, 400

    r = client(app).get("/n?n=x")
    assert r.status_code == 400
    assert r.mimetype == "application/json"
    assert r.get_json() == {"bad": ["query.n"]}


def test_errorhandler_for_422(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/n")
    @typed
    def n(n: int) -> Any:
        return {"n": n}

    @app.errorhandler(422)
    def invalid(e: Any) -> Any:
        assert isinstance(e, RequestValidationError)
        return jsonify(message="nope", count=len(e.errors)), 422

    r = client(app).get("/n")
    assert r.status_code == 422
    assert r.get_json() == {"message": "nope", "count": 1}


def test_hooks_and_teardown_run_around_a_422(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)
    seen: list[str] = []

    @app.before_request
    def before() -> None:
        g.started = True
        seen.append("before")

    @app.after_request
    def after(response: Any) -> Any:
        seen.append(f"after {response.status_code}")
        response.headers["X-After"] = "1"
        return response

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append("teardown")

    @app.get("/n")
    @typed
    @as_view
    def n(n: int) -> Any:
        seen.append("view")
        return {"n": n}

    c = client(app)
    r = c.get("/n?n=x")
    assert r.status_code == 422
    assert r.headers["X-After"] == "1"
    assert seen == ["before", "after 422", "teardown"]
    seen.clear()
    assert c.get("/n?n=1").get_json() == {"n": 1}
    assert seen == ["before", "view", "after 200", "teardown"]


def test_before_request_runs_before_validation(client: Any) -> None:
    app = Erlen(__name__)

    @app.before_request
    def gate() -> Any:
        if request.args.get("block"):
            return {"blocked": True}, 403
        return None

    @app.get("/n")
    @typed
    def n(n: int) -> Any:
        return {"n": n}

    c = client(app)
    assert c.get("/n?block=1").status_code == 403  # the view's parameters are never read
    assert c.get("/n").status_code == 422


def test_blueprint_errorhandler(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.errorhandler(RequestValidationError)
    def invalid(e: RequestValidationError) -> Any:
        return {"api_error": e.errors[0]["loc"]}, 400

    @bp.get("/n")
    @typed
    @as_view
    def api_n(n: int) -> Any:
        return {"n": n}

    @app.get("/n")
    @typed
    @as_view
    def n(n: int) -> Any:
        return {"n": n}

    app.register_blueprint(bp)
    c = client(app)
    r = c.get("/api/n?n=x")
    assert (r.status_code, r.get_json()) == (400, {"api_error": ["query", "n"]})
    r = c.get("/n?n=x")  # outside the blueprint: the default problem document
    assert (r.status_code, r.mimetype) == (422, PROBLEM_JSON)


def test_view_errors_are_not_validation_errors(client: Any, as_view: Any) -> None:
    # A ValueError raised by the view itself is a 500, never dressed up as a 422.
    app = Erlen(__name__)

    @app.get("/boom")
    @typed
    @as_view
    def boom(n: int = 1) -> Any:
        raise ValueError("from the view")

    r = client(app).get("/boom")
    assert r.status_code == 500
    assert r.mimetype != PROBLEM_JSON


class Counter(msgspec.Struct):
    n: int


DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/model", b"\xff\xfe", "application/json", 422),
        ("/model", DEEP, "application/json", 422),
        ("/model", b'{"name": "x"', "application/json; charset=utf-8", 422),
        ("/struct", b"\xff", "application/json", 422),
        ("/struct", b"", "application/json", 422),
        ("/struct", b"[1]", "application/json", 422),
        ("/struct", DEEP, "application/json", 422),
        ("/struct", b'{"n": 1}', "text/plain", 415),
        ("/embedded", b"\xff", "application/json", 422),
        ("/embedded", DEEP, "application/json", 422),
        ("/embedded", b"null", "application/json", 422),
        ("/embedded", b'{"a": 1}', "application/xml", 415),
    ],
    ids=[
        "model-not-utf8",
        "model-deep",
        "model-truncated",
        "struct-not-utf8",
        "struct-empty",
        "struct-array",
        "struct-deep",
        "struct-text",
        "embedded-not-utf8",
        "embedded-deep",
        "embedded-null",
        "embedded-xml",
    ],
)
def test_hostile_bodies_are_4xx(
    client: Any, path: str, body: bytes, content_type: str, status: int
) -> None:
    app = Erlen(__name__)

    @app.post("/model")
    @typed
    def model(item: Item) -> Any:
        return {"ok": True}

    @app.post("/struct")
    @typed
    def struct(c: Counter) -> Any:
        return {"ok": True}

    @app.post("/embedded")
    @typed
    def embedded(a: Item, b: Item) -> Any:
        return {"ok": True}

    r = client(app).post(path, data=body, content_type=content_type)
    assert r.status_code == status, r.data[:300]
    assert r.mimetype == PROBLEM_JSON
    if status == 422:
        assert r.get_json()["errors"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    "query",
    ["n=%ff", "n=" + "9" * 5000, "n=1e3", "n=", "ids=1&ids=%zz", "ids=" + "&ids=".join("x" * 50)],
)
def test_hostile_query_strings_are_422(client: Any, query: str) -> None:
    app = Erlen(__name__)

    @app.get("/q")
    @typed
    def q(n: int = 0, ids: list[int] | None = None) -> Any:
        return {"n": n}

    r = client(app).get(f"/q?{query}")
    assert r.status_code == 422, r.data[:300]
    assert r.get_json()["errors"][0]["loc"][0] == "query"


def test_form_field_where_a_file_is_expected(client: Any) -> None:
    app = Erlen(__name__)

    @app.post("/upload")
    @typed
    def upload(doc: FileStorage) -> Any:
        return {"name": doc.filename}

    c = client(app)
    r = c.post("/upload", data={"doc": "just text"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.get_json()["errors"]] == [["file", "doc"]]
    r = c.post("/upload", json={"doc": "x"})
    assert r.status_code == 422


def test_http_errors_raised_in_a_typed_view_are_problem_documents(
    client: Any, as_view: Any
) -> None:
    app = Erlen(__name__)

    def find(n: int) -> Any:
        if n == 1:
            abort(404, "No order 1.")
        if n == 2:
            abort(405, valid_methods=["GET", "HEAD"])
        return {"n": n}

    app.get("/orders/<int:n>")(typed(as_view(find)))
    c = client(app)
    r = c.get("/orders/1")
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"
    assert r.get_json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No order 1.",
        "instance": "/orders/1",
    }
    r = c.get("/orders/2")
    assert (r.status_code, r.content_type) == (405, "application/problem+json")
    assert r.headers["Allow"] == "GET, HEAD"  # the class's own headers are kept
    assert c.get("/orders/3").get_json() == {"n": 3}


def test_handlers_for_the_original_error_still_answer_it(client: Any) -> None:
    from werkzeug.exceptions import NotFound

    app = Erlen(__name__)
    seen: list[type] = []

    @app.errorhandler(NotFound)
    def not_found(e: NotFound) -> Any:
        seen.append(type(e))
        return {"missing": True}, 404

    @app.get("/gone")
    @typed
    def gone() -> Any:
        abort(404)

    r = client(app).get("/gone")
    assert (r.status_code, r.get_json()) == (404, {"missing": True})
    assert issubclass(seen[0], NotFound)


def test_errors_with_their_own_body_or_a_response_are_left_alone(client: Any) -> None:
    from werkzeug.exceptions import HTTPException

    class Teapot(HTTPException):
        code = 418

        def get_body(self, environ: Any = None, scope: Any = None) -> str:
            return "short and stout"

        def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
            return [("Content-Type", "text/plain")]

    app = Erlen(__name__)

    @app.get("/tea")
    @typed
    def tea() -> Any:
        raise Teapot()

    @app.get("/made")
    @typed
    def made() -> Any:
        abort(app.response_class("made by hand", 403))

    c = client(app)
    r = c.get("/tea")
    assert (r.status_code, r.content_type, r.get_data(as_text=True)) == (
        418,
        "text/plain",
        "short and stout",
    )
    r = c.get("/made")
    assert (r.status_code, r.get_data(as_text=True)) == (403, "made by hand")
