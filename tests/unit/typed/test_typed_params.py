"""Typed views read path, query, header and cookie parameters, converted and validated."""

import asyncio
import json
import uuid
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from erlen import Blueprint, Erlen
from erlen.typed import Cookie, Header, Path, Query, typed


def problem_locs(response: Any) -> list[list[Any]]:
    """The ``loc`` of every error of a 422 problem document."""
    assert response.status_code == 422, response.data
    assert response.mimetype == "application/problem+json"
    return [e["loc"] for e in response.get_json()["errors"]]


# -- path ------------------------------------------------------------------------------------


def test_path_converter_typed(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/items/<int:item_id>")
    @typed
    @as_view
    def show(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "type": type(item_id).__name__}

    c = client(app)
    assert c.get("/items/42").get_json() == {"id": 42, "type": "int"}
    assert c.get("/items/abc").status_code == 404  # the converter refuses it first


def test_path_untyped_rule_annotated_int(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/items/<item_id>")
    @typed
    @as_view
    def show(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "double": item_id * 2}

    c = client(app)
    assert c.get("/items/21").get_json() == {"id": 21, "double": 42}
    r = c.get("/items/abc")
    assert problem_locs(r) == [["path", "item_id"]]
    assert r.get_json()["errors"][0]["type"] == "int_parsing"


def test_path_uuid_and_constraints(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/things/<thing>/<int:n>")
    @typed
    def show(thing: uuid.UUID, n: Annotated[int, Path(ge=1, le=10)]) -> dict[str, Any]:
        return {"thing": thing.hex, "n": n}

    c = client(app)
    u = uuid.uuid4()
    assert c.get(f"/things/{u}/3").get_json() == {"thing": u.hex, "n": 3}
    assert problem_locs(c.get("/things/nope/3")) == [["path", "thing"]]
    r = c.get(f"/things/{u}/11")
    assert problem_locs(r) == [["path", "n"]]
    assert r.get_json()["errors"][0]["type"] == "less_than_equal"


# -- query -----------------------------------------------------------------------------------


def test_query_scalars_defaults_and_required(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/search")
    @typed
    @as_view
    def search(q: str, limit: int = 10, ratio: float = 0.5, tag: str | None = None) -> Any:
        return {"q": q, "limit": limit, "ratio": ratio, "tag": tag}

    c = client(app)
    assert c.get("/search?q=x").get_json() == {"q": "x", "limit": 10, "ratio": 0.5, "tag": None}
    assert c.get("/search?q=x&limit=3&ratio=2.5&tag=t").get_json() == {
        "q": "x",
        "limit": 3,
        "ratio": 2.5,
        "tag": "t",
    }
    r = c.get("/search")
    assert problem_locs(r) == [["query", "q"]]
    assert r.get_json()["errors"][0] == {
        "loc": ["query", "q"],
        "msg": "Field required",
        "type": "missing",
    }
    # Every bad parameter is reported, not only the first.
    assert problem_locs(c.get("/search?limit=many&ratio=half")) == [
        ["query", "q"],
        ["query", "limit"],
        ["query", "ratio"],
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_query_bool_parsing(client: Any, raw: str, expected: bool) -> None:
    app = Erlen(__name__)

    @app.get("/flag")
    @typed
    def flag(on: bool = False) -> Any:
        return {"on": on}

    assert client(app).get(f"/flag?on={raw}").get_json() == {"on": expected}


def test_query_bool_rejects_nonsense(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/flag")
    @typed
    def flag(on: bool = False) -> Any:
        return {"on": on}

    r = client(app).get("/flag?on=maybe")
    assert problem_locs(r) == [["query", "on"]]
    assert r.get_json()["errors"][0]["type"] == "bool_parsing"


def test_query_list_repeated(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/ids")
    @typed
    @as_view
    def ids(id: list[int], tag: list[str] | None = None) -> Any:
        return {"id": id, "tag": tag}

    c = client(app)
    assert c.get("/ids?id=3&id=1&id=2").get_json() == {"id": [3, 1, 2], "tag": None}
    assert c.get("/ids?id=1&tag=a&tag=b").get_json() == {"id": [1], "tag": ["a", "b"]}
    assert problem_locs(c.get("/ids")) == [["query", "id"]]
    assert problem_locs(c.get("/ids?id=1&id=x&id=3")) == [["query", "id", 1]]


class Page(BaseModel):
    page: int = 1
    size: int = 20
    sort: list[str] = []


def test_query_model(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/list")
    @typed
    @as_view
    def listing(p: Annotated[Page, Query()]) -> Any:
        return p.model_dump()

    c = client(app)
    assert c.get("/list").get_json() == {"page": 1, "size": 20, "sort": []}
    assert c.get("/list?page=3&sort=a&sort=-b&other=1").get_json() == {
        "page": 3,
        "size": 20,
        "sort": ["a", "-b"],
    }
    assert problem_locs(c.get("/list?page=x&size=y")) == [["query", "page"], ["query", "size"]]


def test_query_alias(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/a")
    @typed
    def a(item_query: Annotated[str, Query(alias="item-query")]) -> Any:
        return {"v": item_query}

    c = client(app)
    assert c.get("/a?item-query=x").get_json() == {"v": "x"}
    assert problem_locs(c.get("/a?item_query=x")) == [["query", "item-query"]]


# -- markers as defaults and in Annotated; constraints ---------------------------------------


def test_marker_as_default_with_constraint(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/page")
    @typed
    @as_view
    def page(limit: int = Query(10, ge=1, le=100)) -> Any:
        return {"limit": limit}

    c = client(app)
    assert c.get("/page").get_json() == {"limit": 10}
    assert c.get("/page?limit=100").get_json() == {"limit": 100}
    r = c.get("/page?limit=0")
    assert problem_locs(r) == [["query", "limit"]]
    assert r.get_json()["errors"][0]["type"] == "greater_than_equal"
    assert c.get("/page?limit=101").get_json()["errors"][0]["type"] == "less_than_equal"


def test_annotated_marker_with_default(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/page")
    @typed
    def page(limit: Annotated[int, Query(ge=1)] = 5) -> Any:
        return {"limit": limit}

    c = client(app)
    assert c.get("/page").get_json() == {"limit": 5}
    assert c.get("/page?limit=7").get_json() == {"limit": 7}
    assert problem_locs(c.get("/page?limit=-1")) == [["query", "limit"]]


def test_string_default_marker_constraints(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/s")
    @typed
    @as_view
    def s(
        q: str = Query("none", max_length=3), code: str = Query("AAA", pattern=r"^[A-Z]+$")
    ) -> Any:
        return {"q": q, "code": code}

    c = client(app)
    assert c.get("/s").get_json() == {"q": "none", "code": "AAA"}
    assert c.get("/s?q=abc&code=XYZ").get_json() == {"q": "abc", "code": "XYZ"}
    assert problem_locs(c.get("/s?q=abcdef&code=xyz")) == [["query", "q"], ["query", "code"]]


def test_string_constraints(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/s")
    @typed
    def s(
        code: Annotated[str, Query(pattern=r"^[A-Z]{3}$")],
        note: Annotated[str | None, Query(max_length=5)] = None,
    ) -> Any:
        return {"code": code, "note": note}

    c = client(app)
    assert c.get("/s?code=EUR&note=hello").get_json() == {"code": "EUR", "note": "hello"}
    r = c.get("/s?code=eur&note=toolong")
    assert problem_locs(r) == [["query", "code"], ["query", "note"]]
    assert [e["type"] for e in r.get_json()["errors"]] == [
        "string_pattern_mismatch",
        "string_too_long",
    ]


# -- headers ---------------------------------------------------------------------------------


def test_headers_underscores_and_alias(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/h")
    @typed
    @as_view
    def h(
        x_token: Annotated[str, Header()],
        user_agent: Annotated[str | None, Header()] = None,
        trace: Annotated[int, Header(alias="X-Trace-Id")] = 0,
    ) -> Any:
        return {"token": x_token, "ua": user_agent, "trace": trace}

    c = client(app)
    r = c.get("/h", headers={"X-Token": "t1", "User-Agent": "ua/1", "X-Trace-Id": "7"})
    assert r.get_json() == {"token": "t1", "ua": "ua/1", "trace": 7}
    r = c.get("/h", headers={"x-token": "t2", "User-Agent": "ua/2"})  # names are case-insensitive
    assert r.get_json() == {"token": "t2", "ua": "ua/2", "trace": 0}
    assert problem_locs(c.get("/h")) == [["header", "x-token"]]
    assert problem_locs(c.get("/h", headers={"X-Token": "t", "X-Trace-Id": "n"})) == [
        ["header", "X-Trace-Id"]
    ]


def test_header_convert_underscores_false(asgi_call: Any) -> None:
    # Through a real ASGI server the header's own name arrives (the test client, like a
    # WSGI environ, cannot tell "raw_name" from "raw-name"), so this runs on the raw door.
    app = Erlen(__name__)

    @app.get("/h")
    @typed
    def h(raw_name: Annotated[str | None, Header(convert_underscores=False)] = None) -> Any:
        return {"raw": raw_name}

    status, _, body = asyncio.run(asgi_call(app, "GET", "/h", headers=[(b"raw_name", b"r")]))
    assert (status, json.loads(body)) == (200, {"raw": "r"})
    status, _, body = asyncio.run(asgi_call(app, "GET", "/h", headers=[(b"raw-name", b"x")]))
    assert (status, json.loads(body)) == (200, {"raw": None})


def test_header_as_default_marker(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/h")
    @typed
    def h(x_request_id: str = Header("none", max_length=8)) -> Any:
        return {"id": x_request_id}

    c = client(app)
    assert c.get("/h").get_json() == {"id": "none"}
    assert c.get("/h", headers={"X-Request-Id": "abc"}).get_json() == {"id": "abc"}
    assert problem_locs(c.get("/h", headers={"X-Request-Id": "123456789"})) == [
        ["header", "x-request-id"]
    ]


# -- cookies ---------------------------------------------------------------------------------


def test_cookies(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/c")
    @typed
    @as_view
    def c_view(
        theme: Annotated[str, Cookie()] = "light", visits: Annotated[int, Cookie()] = 0
    ) -> Any:
        return {"theme": theme, "visits": visits}

    c = client(app)
    assert c.get("/c").get_json() == {"theme": "light", "visits": 0}
    c.set_cookie("theme", "dark")
    c.set_cookie("visits", "3")
    assert c.get("/c").get_json() == {"theme": "dark", "visits": 3}
    c.set_cookie("visits", "many")
    assert problem_locs(c.get("/c")) == [["cookie", "visits"]]


def test_required_cookie_missing(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/c")
    @typed
    def c_view(sid: str = Cookie()) -> Any:
        return {"sid": sid}

    c = client(app)
    assert problem_locs(c.get("/c")) == [["cookie", "sid"]]
    c.set_cookie("sid", "abc")
    assert c.get("/c").get_json() == {"sid": "abc"}


def test_sources_mixed_in_one_view(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/u/<int:uid>/posts")
    @typed
    @as_view
    def posts(
        uid: int,
        limit: int = Query(5, ge=1),
        x_api_key: str = Header(),
        lang: Annotated[str, Cookie()] = "en",
    ) -> Any:
        return [uid, limit, x_api_key, lang]

    c = client(app)
    c.set_cookie("lang", "de")
    assert c.get("/u/9/posts?limit=2", headers={"X-Api-Key": "k"}).get_json() == [9, 2, "k", "de"]
    assert problem_locs(c.get("/u/9/posts?limit=0")) == [
        ["query", "limit"],
        ["header", "x-api-key"],
    ]


class StrictPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = 1


def test_query_model_forbidding_extras(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/list")
    @typed
    @as_view
    def listing(p: Annotated[StrictPage, Query()], q: str = "") -> Any:
        return {"page": p.page, "q": q}

    c = client(app)
    assert c.get("/list?page=2&q=x").get_json() == {"page": 2, "q": "x"}  # q is the view's own
    r = c.get("/list?page=2&other=1")
    assert problem_locs(r) == [["query", "other"]]
    assert r.get_json()["errors"][0]["type"] == "extra_forbidden"


class Prefs(BaseModel):
    theme: str = "light"
    lang: str = "en"


class Tracing(BaseModel):
    x_trace: str | None = Field(None, alias="X-Trace")


def test_cookie_and_header_models(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/prefs")
    @typed
    def prefs(p: Annotated[Prefs, Cookie()], t: Annotated[Tracing, Header()]) -> Any:
        return {"theme": p.theme, "lang": p.lang, "trace": t.x_trace}

    c = client(app)
    assert c.get("/prefs").get_json() == {"theme": "light", "lang": "en", "trace": None}
    c.set_cookie("lang", "fr")
    r = c.get("/prefs", headers={"X-Trace": "abc"})
    assert r.get_json() == {"theme": "light", "lang": "fr", "trace": "abc"}


def test_rule_defaults_and_url_value_preprocessor(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/page", defaults={"n": "1"})
    @app.get("/page/<n>")
    @typed
    @as_view
    def page(n: int) -> Any:
        return {"n": n}

    bp = Blueprint("bp", __name__, url_prefix="/<lang>")

    @bp.url_value_preprocessor
    def pull(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values is not None:
            values.pop("lang", None)

    @bp.get("/x")
    @typed
    @as_view
    def x(q: int = 0) -> Any:
        return {"q": q}

    app.register_blueprint(bp)
    c = client(app)
    assert c.get("/page").get_json() == {"n": 1}  # the rule's default is validated too
    assert c.get("/page/3").get_json() == {"n": 3}
    assert problem_locs(c.get("/page/x")) == [["path", "n"]]
    assert c.get("/en/x?q=2").get_json() == {"q": 2}
    head = c.head("/page/3")
    assert (head.status_code, head.data) == (200, b"")
