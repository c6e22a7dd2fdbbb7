"""Typed views read JSON bodies (Pydantic, dataclass, TypedDict, msgspec), form fields and files."""

import dataclasses
import io
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, Field
from typing_extensions import NotRequired, TypedDict
from werkzeug.datastructures import FileStorage

from erlen import Erlen
from erlen.typed import Body, File, Form, typed


def problem_errors(response: Any) -> list[dict[str, Any]]:
    """The errors of a 422 problem document."""
    assert response.status_code == 422, response.data
    assert response.mimetype == "application/problem+json"
    return list(response.get_json()["errors"])


def locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in problem_errors(response)]


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


class Order(BaseModel):
    customer: str
    items: list[Item]


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class User(msgspec.Struct):
    name: str
    age: int
    email: str | None = None


# -- JSON bodies -----------------------------------------------------------------------------


def test_pydantic_model_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/orders")
    @typed
    @as_view
    def create(order: Order) -> Any:
        assert isinstance(order, Order)
        return {"customer": order.customer, "total": sum(i.price for i in order.items)}

    c = client(app)
    good = {"customer": "ann", "items": [{"name": "a", "price": 1.5}, {"name": "b", "price": 2}]}
    assert c.post("/orders", json=good).get_json() == {"customer": "ann", "total": 3.5}
    bad = {
        "customer": "ann",
        "items": [
            {"name": "a", "price": 1},
            {"name": "b", "price": 1},
            {"name": "c", "price": "x"},
        ],
    }
    errors = problem_errors(c.post("/orders", json=bad))
    assert [e["loc"] for e in errors] == [["body", "items", 2, "price"]]
    assert errors[0]["type"] == "float_parsing"
    nested = {"items": [{"price": -1}]}
    assert locs(c.post("/orders", json=nested)) == [
        ["body", "customer"],
        ["body", "items", 0, "name"],
        ["body", "items", 0, "price"],
    ]


def test_dataclass_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/points")
    @typed
    @as_view
    def create(p: Point) -> Any:
        assert isinstance(p, Point)
        return {"sum": p.x + p.y}

    c = client(app)
    assert c.post("/points", json={"x": 2, "y": 3}).get_json() == {"sum": 5}
    assert c.post("/points", json={"x": 2}).get_json() == {"sum": 2}
    assert locs(c.post("/points", json={"y": "z"})) == [["body", "x"], ["body", "y"]]


def test_typeddict_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/movies")
    @typed
    @as_view
    def create(m: Movie) -> Any:
        assert type(m) is dict
        return {"got": m}

    c = client(app)
    r = c.post("/movies", json={"title": "Heat", "year": "1995"})
    assert r.get_json() == {"got": {"title": "Heat", "year": 1995}}
    assert locs(c.post("/movies", json={"title": "Heat", "rating": "high"})) == [
        ["body", "year"],
        ["body", "rating"],
    ]


def test_msgspec_struct_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/users")
    @typed
    @as_view
    def create(user: User) -> Any:
        assert isinstance(user, User)
        return {"name": user.name, "age": user.age, "email": user.email}

    c = client(app)
    r = c.post("/users", json={"name": "bo", "age": 30})
    assert r.get_json() == {"name": "bo", "age": 30, "email": None}
    errors = problem_errors(c.post("/users", json={"name": "bo", "age": "old"}))
    assert [e["loc"] for e in errors] == [["body", "age"]]
    errors = problem_errors(c.post("/users", json={"age": 3}))
    assert errors == [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]


def test_list_of_msgspec_structs_error_location(client: Any) -> None:
    app = Erlen(__name__)

    @app.post("/users")
    @typed
    def create(users: list[User]) -> Any:
        return {"n": len(users)}

    c = client(app)
    assert c.post("/users", json=[{"name": "a", "age": 1}]).get_json() == {"n": 1}
    body = [{"name": "a", "age": 1}, {"name": "b", "age": 2}, {"name": "c", "age": "x"}]
    assert locs(c.post("/users", json=body)) == [["body", 2, "age"]]


def test_list_of_models_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    @as_view
    def create(items: list[Item]) -> Any:
        return {"names": [i.name for i in items]}

    c = client(app)
    r = c.post("/items", json=[{"name": "a", "price": 1}, {"name": "b", "price": 2}])
    assert r.get_json() == {"names": ["a", "b"]}
    assert locs(c.post("/items", json=[{"name": "a", "price": 1}, {"name": "b", "price": 0}])) == [
        ["body", 1, "price"]
    ]
    errors = problem_errors(c.post("/items", json={"name": "a", "price": 1}))
    assert [e["loc"] for e in errors] == [["body"]]
    assert errors[0]["type"] == "list_type"


def test_optional_body(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/maybe")
    @typed
    @as_view
    def maybe(item: Item | None = None) -> Any:
        return {"name": item.name if item else None}

    c = client(app)
    assert c.post("/maybe").get_json() == {"name": None}
    assert c.post("/maybe", json={"name": "x", "price": 1}).get_json() == {"name": "x"}
    assert locs(c.post("/maybe", json={"name": "x"})) == [["body", "price"]]


def test_required_body_missing(client: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    def create(item: Item) -> Any:
        return item.name

    errors = problem_errors(client(app).post("/items"))
    assert errors == [{"loc": ["body"], "msg": "Field required", "type": "missing"}]


def test_several_body_params_are_embedded(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/buy")
    @typed
    @as_view
    def buy(item: Item, user: Point, note: Annotated[str, Body()] = "") -> Any:
        return {"item": item.name, "x": user.x, "note": note}

    c = client(app)
    body = {"item": {"name": "a", "price": 1}, "user": {"x": 4}, "note": "hi"}
    assert c.post("/buy", json=body).get_json() == {"item": "a", "x": 4, "note": "hi"}
    assert c.post(
        "/buy", json={"item": {"name": "a", "price": 1}, "user": {"x": 4}}
    ).get_json() == {
        "item": "a",
        "x": 4,
        "note": "",
    }
    assert locs(c.post("/buy", json={"item": {"name": "a", "price": -1}})) == [
        ["body", "item", "price"],
        ["body", "user"],
    ]
    errors = problem_errors(c.post("/buy", json=[1, 2]))
    assert errors[0]["loc"] == ["body"]
    assert errors[0]["type"] == "dict_type"


def test_body_embed_single(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    @as_view
    def create(item: Annotated[Item, Body(embed=True)]) -> Any:
        return {"name": item.name}

    c = client(app)
    assert c.post("/items", json={"item": {"name": "n", "price": 1}}).get_json() == {"name": "n"}
    assert locs(c.post("/items", json={"name": "n", "price": 1})) == [["body", "item"]]


def test_scalar_body_marker(client: Any) -> None:
    app = Erlen(__name__)

    @app.post("/n")
    @typed
    def n(count: int = Body(embed=True, ge=1)) -> Any:
        return {"count": count}

    c = client(app)
    assert c.post("/n", json={"count": "3"}).get_json() == {"count": 3}
    assert locs(c.post("/n", json={"count": 0})) == [["body", "count"]]


def test_json_suffix_media_type_accepted(client: Any) -> None:
    app = Erlen(__name__)

    @app.post("/items")
    @typed
    def create(item: Item) -> Any:
        return {"name": item.name}

    r = client(app).post(
        "/items", data=b'{"name": "m", "price": 2}', content_type="application/merge-patch+json"
    )
    assert r.get_json() == {"name": "m"}


# -- forms and files -------------------------------------------------------------------------


def test_form_fields(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/login")
    @typed
    @as_view
    def login(
        username: Annotated[str, Form(min_length=2)],
        remember: Annotated[bool, Form()] = False,
        roles: Annotated[list[str], Form()] = [],  # noqa: B006 - a default, never mutated
    ) -> Any:
        return {"u": username, "remember": remember, "roles": roles}

    c = client(app)
    r = c.post("/login", data={"username": "ann", "remember": "on", "roles": ["a", "b"]})
    assert r.get_json() == {"u": "ann", "remember": True, "roles": ["a", "b"]}
    assert c.post("/login", data={"username": "bo"}).get_json() == {
        "u": "bo",
        "remember": False,
        "roles": [],
    }
    assert locs(c.post("/login", data={"username": "x"})) == [["form", "username"]]
    assert locs(c.post("/login", data={})) == [["form", "username"]]


class Signup(BaseModel):
    email: str = Field(pattern=r"^[^@]+@[^@]+$")
    age: int
    newsletter: bool = False


def test_form_model(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/signup")
    @typed
    @as_view
    def signup(form: Annotated[Signup, Form()]) -> Any:
        assert isinstance(form, Signup)
        return form.model_dump()

    c = client(app)
    r = c.post("/signup", data={"email": "a@b", "age": "30"})
    assert r.get_json() == {"email": "a@b", "age": 30, "newsletter": False}
    assert locs(c.post("/signup", data={"email": "nope", "age": "x"})) == [
        ["form", "email"],
        ["form", "age"],
    ]


def test_file_upload(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/upload")
    @typed
    @as_view
    def upload(doc: FileStorage, title: Annotated[str, Form()] = "untitled") -> Any:
        assert isinstance(doc, FileStorage)
        return {"name": doc.filename, "size": len(doc.read()), "title": title}

    c = client(app)
    r = c.post("/upload", data={"doc": (io.BytesIO(b"hello"), "a.txt"), "title": "T"})
    assert r.get_json() == {"name": "a.txt", "size": 5, "title": "T"}
    assert locs(c.post("/upload", data={"title": "T"})) == [["file", "doc"]]


def test_several_files(client: Any, as_view: Any) -> None:
    app = Erlen(__name__)

    @app.post("/upload")
    @typed
    @as_view
    def upload(
        docs: Annotated[list[FileStorage], File()],
        extra: FileStorage | None = None,
    ) -> Any:
        return {"names": [d.filename for d in docs], "extra": extra.filename if extra else None}

    c = client(app)
    data = {"docs": [(io.BytesIO(b"1"), "one.txt"), (io.BytesIO(b"22"), "two.txt")]}
    assert c.post("/upload", data=data).get_json() == {
        "names": ["one.txt", "two.txt"],
        "extra": None,
    }
    data = {"docs": [(io.BytesIO(b"1"), "one.txt")], "extra": (io.BytesIO(b"x"), "x.bin")}
    assert c.post("/upload", data=data).get_json() == {"names": ["one.txt"], "extra": "x.bin"}
    assert locs(c.post("/upload", data={})) == [["file", "docs"]]
