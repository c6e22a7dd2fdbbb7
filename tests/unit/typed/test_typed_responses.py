"""Return annotations validate and serialize what a typed view returns."""

import dataclasses
import logging
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from erlen import Erlen, Response, make_response
from erlen.typed import ResponseValidationError, typed
from erlen.views import MethodView


class Item(BaseModel):
    name: str
    price: float


class PublicUser(BaseModel):
    id: int
    name: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Tag(msgspec.Struct):
    label: str


ITEM = {"name": "a", "price": 1.5}


def test_model_return(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/item")
    @typed
    @as_view
    def item() -> Item:
        return Item(name="a", price=1.5)

    r = client(app).get("/item")
    assert (r.status_code, r.mimetype, r.get_json()) == (200, "application/json", ITEM)


def test_list_of_models(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/items")
    @typed
    @as_view
    def items() -> list[Item]:
        return [Item(name="a", price=1.5), Item(name="b", price=2)]

    r = client(app).get("/items")
    assert r.get_json() == [ITEM, {"name": "b", "price": 2.0}]


def test_dataclass_and_struct_returns(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/point")
    @typed
    @as_view
    def point() -> Point:
        return Point(1, 2)

    @app.get("/tags")
    @typed
    @as_view
    def tags() -> list[Tag]:
        return [Tag("x"), Tag("y")]

    c = client(app)
    assert c.get("/point").get_json() == {"x": 1, "y": 2}
    assert c.get("/tags").get_json() == [{"label": "x"}, {"label": "y"}]


def test_tuple_model_status(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    @as_view
    def create() -> tuple[Item, int]:
        return Item(name="a", price=1.5), 201

    r = client(app).post("/items")
    assert (r.status_code, r.get_json()) == (201, ITEM)


def test_tuple_model_status_headers(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    @as_view
    def create() -> tuple[Item, int, dict[str, str]]:
        return Item(name="a", price=1.5), 201, {"Location": "/items/a"}

    r = client(app).post("/items")
    assert (r.status_code, r.headers["Location"], r.get_json()) == (201, "/items/a", ITEM)
    assert r.mimetype == "application/json"


def test_tuple_model_headers_keeps_status_code(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed(status_code=201)
    @as_view
    def create() -> Item:
        return Item(name="a", price=1.5), {"X-Id": "a"}  # type: ignore[return-value]

    @app.get("/plain")
    @typed
    @as_view
    def plain() -> Item:
        return Item(name="b", price=1), {"X-Id": "b"}  # type: ignore[return-value]

    c = client(app)
    r = c.post("/items")
    assert (r.status_code, r.headers["X-Id"], r.get_json()) == (201, "a", ITEM)
    r = c.get("/plain")
    assert (r.status_code, r.headers["X-Id"]) == (200, "b")
    assert r.get_json() == {"name": "b", "price": 1.0}


def test_status_code_default_and_override(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed(status_code=201)
    @as_view
    def create(item: Item) -> Item:
        return item

    @app.post("/accepted")
    @typed(status_code=202)
    @as_view
    def accepted(item: Item) -> tuple[Item, int]:
        return item, 200

    c = client(app)
    r = c.post("/items", json=ITEM)
    assert (r.status_code, r.get_json()) == (201, ITEM)
    assert c.post("/accepted", json=ITEM).status_code == 200  # the view's own status wins


def test_status_204_returning_none(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.delete("/items")
    @typed(status_code=204)
    @as_view
    def delete() -> None:
        return None

    @app.post("/reset")
    @typed
    @as_view
    def reset() -> None:
        return None

    c = client(app)
    r = c.delete("/items")
    assert (r.status_code, r.data) == (204, b"")
    r = c.post("/reset")  # -> None without a status_code is a 204 too
    assert (r.status_code, r.data) == (204, b"")


def test_response_passes_through(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/r")
    @typed
    @as_view
    def r() -> Item:
        return Response("raw", 203, mimetype="text/plain")  # type: ignore[return-value]

    @app.get("/made")
    @typed(status_code=201)
    @as_view
    def made() -> Response:
        return make_response(("made", 202, {"X-M": "1"}))

    c = client(app)
    resp = c.get("/r")
    assert (resp.status_code, resp.mimetype, resp.data) == (203, "text/plain", b"raw")
    resp = c.get("/made")
    assert (resp.status_code, resp.headers["X-M"], resp.data) == (202, "1", b"made")


def test_dict_validated_and_extra_keys_filtered(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/me")
    @typed
    @as_view
    def me() -> PublicUser:
        return {"id": "7", "name": "ann", "password_hash": "secret"}  # type: ignore[return-value]

    r = client(app).get("/me")
    assert r.get_json() == {"id": 7, "name": "ann"}
    assert b"secret" not in r.data


def test_response_model_argument(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/me")
    @typed(response_model=PublicUser)
    def me() -> Any:
        return {"id": 1, "name": "bo", "token": "t"}

    assert client(app).get("/me").get_json() == {"id": 1, "name": "bo"}


def test_mismatch_is_500_when_testing(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)
    app.testing = True
    seen: list[BaseException] = []

    @app.errorhandler(ResponseValidationError)
    def mismatch(e: ResponseValidationError) -> Any:
        seen.append(e)
        return {"mismatch": [err["loc"] for err in e.errors]}, 500

    @app.get("/bad")
    @typed
    @as_view
    def bad() -> Item:
        return {"name": "a"}  # type: ignore[return-value]

    r = client(app).get("/bad")
    assert r.status_code == 500
    assert r.get_json() == {"mismatch": [["price"]]}
    assert len(seen) == 1 and "bad" in str(seen[0])


def test_mismatch_is_500_in_debug_without_handler(client: Any) -> None:
    app = Erlen(__name__)
    app.debug = True

    @app.get("/bad")
    @typed
    def bad() -> list[Item]:
        return [ITEM, {"name": "b", "price": "free"}]  # type: ignore[list-item]

    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = client(app).get("/bad")
    assert r.status_code == 500
    assert b"free" not in r.data


def test_mismatch_page_names_the_problem_when_testing(client: Any) -> None:
    # An HTTP error (a 500), so not propagated to the test; its page says what is wrong.
    app = Erlen(__name__)
    app.testing = True

    @app.get("/bad")
    @typed
    def bad() -> Item:
        return {"price": 1}  # type: ignore[return-value]

    r = client(app).get("/bad")
    assert r.status_code == 500
    assert b"&#39;bad&#39; returned a value that does not match" in r.data
    assert b"name: Field required" in r.data
    assert ResponseValidationError("bad", [{"loc": ["name"], "msg": "m", "type": "t"}]).code == 500


def test_mismatch_logged_and_a_plain_500_in_production(
    client: Any, as_view: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = Erlen(__name__)
    assert not app.debug and not app.testing

    @app.get("/bad")
    @typed
    @as_view
    def bad() -> Item:
        return {"name": "a", "price": "n/a"}  # type: ignore[return-value]

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        r = client(app).get("/bad")
    # A plain 500: the unvalidated value could carry fields the annotation hides.
    assert r.status_code == 500
    assert b"n/a" not in r.data and b"price" not in r.data
    messages = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert any("'bad'" in m and "price" in m for m in messages), messages


def test_untyped_returns_unchanged(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.get("/text")
    @typed
    @as_view
    def text(name: str = "x") -> str:
        return f"<b>{name}</b>"

    @app.get("/bytes")
    @typed
    @as_view
    def raw() -> bytes:
        return b"\x00\x01"

    @app.get("/dict")
    @typed
    @as_view
    def plain_dict() -> dict[str, Any]:
        return {"any": ["thing", 1]}

    @app.get("/none-annotated")
    @typed
    @as_view
    def no_annotation(n: int = 0):  # type: ignore[no-untyped-def]
        return f"n={n}"

    c = client(app)
    r = c.get("/text?name=y")
    assert (r.mimetype, r.data) == ("text/html", b"<b>y</b>")
    r = c.get("/bytes")
    assert r.data == b"\x00\x01"
    assert c.get("/dict").get_json() == {"any": ["thing", 1]}
    assert c.get("/none-annotated?n=4").data == b"n=4"


def test_unannotated_model_return_serialized(client: Any) -> None:
    app = Erlen(__name__)

    @app.get("/item")
    @typed
    def item():  # type: ignore[no-untyped-def]
        return Item(name="a", price=1.5)

    assert client(app).get("/item").get_json() == ITEM


class ItemAPI(MethodView):
    def get(self, item_id: int) -> Item:
        return Item(name=f"item{item_id}", price=item_id)

    @typed(status_code=201)
    def post(self, item_id: int, item: Item) -> Item:
        return Item(name=f"{item.name}-{item_id}", price=item.price)

    @typed
    async def put(self, item_id: int, item: Item, dry: bool = False) -> tuple[Item, int]:
        return item, 200 if dry else 202


ItemAPI.get = typed(ItemAPI.get)  # type: ignore[method-assign]


def test_methodview_with_typed_handlers(client: Any) -> None:
    app = Erlen(__name__)
    app.add_url_rule("/items/<item_id>", view_func=ItemAPI.as_view("item"))
    c = client(app)
    assert c.get("/items/3").get_json() == {"name": "item3", "price": 3.0}
    r = c.get("/items/x")
    assert r.status_code == 422
    assert [e["loc"] for e in r.get_json()["errors"]] == [["path", "item_id"]]
    r = c.post("/items/4", json=ITEM)
    assert (r.status_code, r.get_json()) == (201, {"name": "a-4", "price": 1.5})
    assert c.post("/items/4", json={"name": "a"}).status_code == 422
    r = c.put("/items/5?dry=1", json=ITEM)
    assert (r.status_code, r.get_json()) == (200, ITEM)
    assert c.put("/items/5", json=ITEM).status_code == 202


class UserIn(BaseModel):
    id: int
    name: str
    password: str


def test_other_model_filtered_by_response_model(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/users")
    @typed(status_code=201, response_model=PublicUser)
    @as_view
    def create(user: UserIn) -> Any:
        return user

    @app.get("/orm")
    @typed
    @as_view
    def orm() -> PublicUser:
        class Row:  # an ORM row: read by its attributes
            id = 5
            name = "row"
            secret = "s"

        return Row()  # type: ignore[return-value]

    c = client(app)
    r = c.post("/users", json={"id": 1, "name": "ann", "password": "hunter2"})
    assert (r.status_code, r.get_json()) == (201, {"id": 1, "name": "ann"})
    assert b"hunter2" not in r.data
    assert c.get("/orm").get_json() == {"id": 5, "name": "row"}
