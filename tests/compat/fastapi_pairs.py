"""The same models and views written for FastAPI and for Erlen's ``@typed``, side by side.

:func:`build_fastapi` and :func:`build_erlen` return two apps with the same routes, each
view written the way a user of that framework writes it (FastAPI's ``{item_id}`` and
``Query(...)``; Erlen's ``<item_id>``, ``@typed`` below the route and the markers of
:mod:`erlen.typed`). The models are shared, so the only difference between the two
answers is the framework. ``tests/compat/test_fastapi_oracle.py`` sends both the same
requests and compares the answers and the OpenAPI documents.
"""

import datetime
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal

import fastapi
from pydantic import BaseModel, ConfigDict, Field, computed_field
from typing_extensions import NotRequired, TypedDict
from werkzeug.datastructures import FileStorage

import erlen

# -- the shared models --------------------------------------------------------------------------


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


class Customer(BaseModel):
    name: str = Field(min_length=1)
    email: str | None = None


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d+$")
    qty: int = Field(ge=1, le=99)


class Order(BaseModel):
    customer: Customer
    lines: list[Line] = Field(min_length=1)
    note: str | None = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    level: int = 0


class User(BaseModel):
    username: str
    full_name: str | None = None


class UserIn(BaseModel):
    username: str
    password: str


class UserOut(BaseModel):
    username: str


class Search(BaseModel):
    q: str
    limit: int
    offset: int
    exact: bool
    ratio: float | None


class Tagged(BaseModel):
    ids: list[int]
    tags: list[str]


class Who(BaseModel):
    token: str
    count: int


class Session(BaseModel):
    session_id: str
    theme: str


class Maybe(BaseModel):
    present: bool
    item: Item | None


class Combined(BaseModel):
    item: Item
    user: User
    importance: int


class Login(BaseModel):
    username: str
    remember: bool


class Placed(BaseModel):
    order_id: int
    q: str | None
    item: Item


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(1, ge=1)
    size: int = Field(20, le=50)
    order: Literal["asc", "desc"] = "asc"


class Uploaded(BaseModel):
    filename: str | None
    size: int
    note: str


@dataclass
class Point:
    x: float
    y: float = 0.0


class Settings(TypedDict):
    theme: str
    size: NotRequired[int]


class Color(str, Enum):
    RED = "red"
    GREEN = "green"


class Message(BaseModel):
    message: str


#: The one bearer token both apps accept, and the user it stands for.
TOKEN = "s3cret"
TOKEN_USER = User(username="ann", full_name="Ann Example")


class Aliased(BaseModel):
    item_name: str = Field(alias="itemName")
    n: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return self.n * 2


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=20)
    pinned: bool = False


class Note(NoteIn):
    id: int


NOTES = [Note(id=1, text="one"), Note(id=2, text="two", pinned=True), Note(id=3, text="three")]


class ClientHeaders(BaseModel):
    x_token: str
    x_count: int = Field(0, ge=0)
    accept_language: str | None = None


class Prefs(BaseModel):
    session_id: str
    theme: Literal["light", "dark"] = "light"


class Signup(BaseModel):
    username: str = Field(min_length=2)
    tags: list[str] = []
    remember: bool = False


CATALOG = [
    Item(name="Foo", price=1.5, tags=["a"]),
    Item(name="Bar", price=2.0),
    Item(name="Baz", price=3.25, tags=["b", "c"]),
]


# -- FastAPI ------------------------------------------------------------------------------------


def build_fastapi() -> fastapi.FastAPI:
    """The oracle: the views as a FastAPI user writes them."""
    from fastapi import Body, Cookie, File, Form, Header, Path, Query, UploadFile
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    app = fastapi.FastAPI(title="Oracle", version="1.0")

    @app.get("/items/{item_id}")
    def get_item(item_id: int, q: Annotated[str | None, Query(max_length=5)] = None) -> Placed:
        return Placed(order_id=item_id, q=q, item=CATALOG[0])

    @app.get("/search")
    def search(
        q: Annotated[str, Query(min_length=2, max_length=10, pattern="^[a-z]+$")],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: int = 0,
        exact: bool = False,
        ratio: float | None = None,
    ) -> Search:
        return Search(q=q, limit=limit, offset=offset, exact=exact, ratio=ratio)

    @app.get("/tagged")
    def tagged(
        ids: Annotated[list[int], Query()],
        tags: Annotated[list[str] | None, Query(max_length=3)] = None,
    ) -> Tagged:
        return Tagged(ids=ids, tags=tags or [])

    @app.get("/who")
    def who(
        x_token: Annotated[str, Header()],
        x_count: Annotated[int, Header(ge=0)] = 0,
    ) -> Who:
        return Who(token=x_token, count=x_count)

    @app.get("/session")
    def session(
        session_id: Annotated[str, Cookie()],
        theme: Annotated[str, Cookie(pattern="^(light|dark)$")] = "light",
    ) -> Session:
        return Session(session_id=session_id, theme=theme)

    @app.post("/orders", status_code=201)
    async def create_order(order: Order) -> Order:
        return order

    @app.put("/maybe")
    def maybe(item: Item | None = None) -> Maybe:
        return Maybe(present=item is not None, item=item)

    @app.post("/combined")
    def combined(item: Item, user: User, importance: Annotated[int, Body(gt=0)]) -> Combined:
        return Combined(item=item, user=user, importance=importance)

    @app.post("/embedded")
    def embedded(item: Annotated[Item, Body(embed=True)]) -> Item:
        return item

    @app.post("/strict")
    def strict(body: Strict) -> Strict:
        return body

    @app.get(
        "/catalog",
        summary="The catalog",
        description="The first *n* items.",
        operation_id="listCatalog",
    )
    def catalog(n: Annotated[int, Query(ge=0, le=3)] = 3) -> list[Item]:
        return CATALOG[:n]

    @app.post("/users", response_model=UserOut, status_code=201)
    def create_user(user: UserIn) -> Any:
        return user.model_dump()

    @app.post("/users/as-model", response_model=UserOut)
    def create_user_model(user: UserIn) -> Any:
        return user

    @app.post("/login")
    def login(
        username: Annotated[str, Form(min_length=2)],
        remember: Annotated[bool, Form()] = False,
    ) -> Login:
        return Login(username=username, remember=remember)

    @app.put("/items/{item_id}")
    async def replace_item(
        item_id: int, item: Item, q: Annotated[str | None, Query(max_length=5)] = None
    ) -> Placed:
        return Placed(order_id=item_id, q=q, item=item)

    @app.delete("/items/{item_id}", status_code=204)
    def delete_item(item_id: Annotated[int, Path(ge=1)]) -> None:
        return None

    @app.get("/pages")
    def pages(
        p: Annotated[Page, Query()],
        tag: Annotated[str | None, Query(alias="tag-name")] = None,
    ) -> Page:
        return p

    @app.post("/upload")
    async def upload(
        file: Annotated[UploadFile, File()], note: Annotated[str, Form()] = ""
    ) -> Uploaded:
        return Uploaded(filename=file.filename, size=len(await file.read()), note=note)

    @app.post("/points")
    def points(point: Point) -> Point:
        return point

    @app.post("/settings")
    def settings(body: Settings) -> Settings:
        return body

    @app.post("/alias")
    def alias(body: Aliased) -> Aliased:
        return body

    @app.post("/bulk")
    def bulk(items: list[Item]) -> list[Item]:
        return items

    @app.post("/counts")
    def counts(body: dict[str, int]) -> dict[str, int]:
        return body

    @app.get("/first", deprecated=True)
    def first(n: int = 0) -> Item | None:
        return CATALOG[n - 1] if n else None

    @app.get("/kinds")
    def kinds(
        day: datetime.date,
        key: uuid.UUID,
        mode: Literal["a", "b"] = "a",
        at: datetime.datetime | None = None,
    ) -> dict[str, Any]:
        return {"day": day, "key": key, "mode": mode, "at": at}

    @app.get("/labels")
    def labels(x_tag: Annotated[list[str] | None, Header(max_length=2)] = None) -> dict[str, Any]:
        return {"tags": x_tag}

    @app.post("/checklist")
    def checklist(
        item: Annotated[list[str], Form()], n: Annotated[int, Form()] = 1
    ) -> dict[str, Any]:
        return {"item": item, "n": n}

    @app.post("/batch")
    async def batch(files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        return {"names": [f.filename for f in files]}

    @app.get("/client")
    def client(h: Annotated[ClientHeaders, Header()]) -> ClientHeaders:
        return h

    @app.get("/prefs")
    def prefs(c: Annotated[Prefs, Cookie()]) -> Prefs:
        return c

    @app.post("/signup")
    def signup(f: Annotated[Signup, Form()]) -> Signup:
        return f

    @app.get("/sized")
    def sized(
        page_size: Annotated[int, Query(alias="pageSize", ge=1)] = 10,
        api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> dict[str, Any]:
        return {"size": page_size, "key": api_key}

    @app.get("/hidden", include_in_schema=False)
    def hidden(n: int = 0) -> Item:
        return CATALOG[n]

    @app.get("/notes")
    def list_notes(limit: Annotated[int, Query(ge=1)] = 2) -> list[Note]:
        return NOTES[:limit]

    @app.post("/notes", status_code=201)
    async def add_note(note: NoteIn) -> Note:
        return Note(id=len(NOTES) + 1, **note.model_dump())

    # A router with a tag, a bearer-token guard and a declared 404 (Erlen: a blueprint).
    shop = fastapi.APIRouter(prefix="/shop", tags=["shop"])
    bearer = HTTPBearer()

    def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials, fastapi.Depends(bearer)],
    ) -> User:
        if credentials.credentials != TOKEN:
            raise fastapi.HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
        return TOKEN_USER

    @shop.get("/me")
    def me(user: Annotated[User, fastapi.Depends(current_user)], verbose: bool = False) -> User:
        return user if verbose else User(username=user.username)

    @shop.get("/colors/{color}", responses={404: {"model": Message}})
    def color(color: Color) -> Message:
        if color is Color.GREEN:
            raise fastapi.HTTPException(404, "out of green")
        return Message(message=color.value)

    app.include_router(shop)
    return app


# -- Erlen --------------------------------------------------------------------------------------


def build_erlen() -> erlen.Erlen:
    """The same views on Erlen: the route decorator, then ``@typed``."""
    from erlen.contrib.auth import TokenAuth
    from erlen.typed import Body, Cookie, File, Form, Header, Path, Query, typed
    from erlen.views import MethodView

    app = erlen.Erlen(__name__)
    app.config["TESTING"] = True

    @app.get("/items/<item_id>")
    @typed
    def get_item(item_id: int, q: Annotated[str | None, Query(max_length=5)] = None) -> Placed:
        return Placed(order_id=item_id, q=q, item=CATALOG[0])

    # The same view behind Werkzeug's int converter: the router, not the validator, decides.
    @app.get("/converted/<int:item_id>")
    @typed
    def get_converted(item_id: int) -> Placed:
        return Placed(order_id=item_id, q=None, item=CATALOG[0])

    @app.get("/search")
    @typed
    def search(
        q: Annotated[str, Query(min_length=2, max_length=10, pattern="^[a-z]+$")],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: int = 0,
        exact: bool = False,
        ratio: float | None = None,
    ) -> Search:
        return Search(q=q, limit=limit, offset=offset, exact=exact, ratio=ratio)

    @app.get("/tagged")
    @typed
    def tagged(
        ids: Annotated[list[int], Query()],
        tags: Annotated[list[str] | None, Query(max_length=3)] = None,
    ) -> Tagged:
        return Tagged(ids=ids, tags=tags or [])

    @app.get("/who")
    @typed
    def who(
        x_token: Annotated[str, Header()],
        x_count: Annotated[int, Header(ge=0)] = 0,
    ) -> Who:
        return Who(token=x_token, count=x_count)

    @app.get("/session")
    @typed
    def session(
        session_id: Annotated[str, Cookie()],
        theme: Annotated[str, Cookie(pattern="^(light|dark)$")] = "light",
    ) -> Session:
        return Session(session_id=session_id, theme=theme)

    @app.post("/orders")
    @typed(status_code=201)
    async def create_order(order: Order) -> Order:
        return order

    @app.put("/maybe")
    @typed
    def maybe(item: Item | None = None) -> Maybe:
        return Maybe(present=item is not None, item=item)

    @app.post("/combined")
    @typed
    def combined(item: Item, user: User, importance: Annotated[int, Body(gt=0)]) -> Combined:
        return Combined(item=item, user=user, importance=importance)

    @app.post("/embedded")
    @typed
    def embedded(item: Annotated[Item, Body(embed=True)]) -> Item:
        return item

    @app.post("/strict")
    @typed
    def strict(body: Strict) -> Strict:
        return body

    @app.get("/catalog")
    @typed(summary="The catalog", description="The first *n* items.", operation_id="listCatalog")
    def catalog(n: Annotated[int, Query(ge=0, le=3)] = 3) -> list[Item]:
        return CATALOG[:n]

    @app.post("/users")
    @typed(response_model=UserOut, status_code=201)
    def create_user(user: UserIn) -> Any:
        return user.model_dump()

    @app.post("/users/as-model")
    @typed(response_model=UserOut)
    def create_user_model(user: UserIn) -> Any:
        return user

    @app.post("/login")
    @typed
    def login(
        username: Annotated[str, Form(min_length=2)],
        remember: Annotated[bool, Form()] = False,
    ) -> Login:
        return Login(username=username, remember=remember)

    @app.put("/items/<item_id>")
    @typed
    async def replace_item(
        item_id: int, item: Item, q: Annotated[str | None, Query(max_length=5)] = None
    ) -> Placed:
        return Placed(order_id=item_id, q=q, item=item)

    @app.delete("/items/<item_id>")
    @typed(status_code=204)
    def delete_item(item_id: Annotated[int, Path(ge=1)]) -> None:
        return None

    @app.get("/pages")
    @typed
    def pages(
        p: Annotated[Page, Query()],
        tag: Annotated[str | None, Query(alias="tag-name")] = None,
    ) -> Page:
        return p

    @app.post("/upload")
    @typed
    def upload(file: Annotated[FileStorage, File()], note: Annotated[str, Form()] = "") -> Uploaded:
        return Uploaded(filename=file.filename, size=len(file.read()), note=note)

    @app.post("/points")
    @typed
    def points(point: Point) -> Point:
        return point

    @app.post("/settings")
    @typed
    def settings(body: Settings) -> Settings:
        return body

    @app.post("/alias")
    @typed
    def alias(body: Aliased) -> Aliased:
        return body

    @app.post("/bulk")
    @typed
    def bulk(items: list[Item]) -> list[Item]:
        return items

    @app.post("/counts")
    @typed
    def counts(body: dict[str, int]) -> dict[str, int]:
        return body

    @app.get("/first")
    @typed(deprecated=True)
    def first(n: int = 0) -> Item | None:
        return CATALOG[n - 1] if n else None

    @app.get("/kinds")
    @typed
    def kinds(
        day: datetime.date,
        key: uuid.UUID,
        mode: Literal["a", "b"] = "a",
        at: datetime.datetime | None = None,
    ) -> dict[str, Any]:
        return {"day": day, "key": key, "mode": mode, "at": at}

    @app.get("/labels")
    @typed
    def labels(x_tag: Annotated[list[str] | None, Header(max_length=2)] = None) -> dict[str, Any]:
        return {"tags": x_tag}

    @app.post("/checklist")
    @typed
    def checklist(
        item: Annotated[list[str], Form()], n: Annotated[int, Form()] = 1
    ) -> dict[str, Any]:
        return {"item": item, "n": n}

    @app.post("/batch")
    @typed
    def batch(files: Annotated[list[FileStorage], File()]) -> dict[str, Any]:
        return {"names": [f.filename for f in files]}

    @app.get("/client")
    @typed
    def client(h: Annotated[ClientHeaders, Header()]) -> ClientHeaders:
        return h

    @app.get("/prefs")
    @typed
    def prefs(c: Annotated[Prefs, Cookie()]) -> Prefs:
        return c

    @app.post("/signup")
    @typed
    def signup(f: Annotated[Signup, Form()]) -> Signup:
        return f

    @app.get("/sized")
    @typed
    def sized(
        page_size: Annotated[int, Query(alias="pageSize", ge=1)] = 10,
        api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> dict[str, Any]:
        return {"size": page_size, "key": api_key}

    @app.get("/hidden")
    @typed(include_in_schema=False)
    def hidden(n: int = 0) -> Item:
        return CATALOG[n]

    # Both methods of /notes in one MethodView, as a Flask user groups them.
    class Notes(MethodView):
        @typed
        def get(self, limit: Annotated[int, Query(ge=1)] = 2) -> list[Note]:
            return NOTES[:limit]

        @typed(status_code=201)
        async def post(self, note: NoteIn) -> Note:
            return Note(id=len(NOTES) + 1, **note.model_dump())

    app.add_url_rule("/notes", view_func=Notes.as_view("notes"))

    shop = erlen.Blueprint("shop", __name__, url_prefix="/shop")
    tokens = TokenAuth(secret_key="oracle")

    @tokens.verify_token
    def verify(token: str) -> User | None:
        return TOKEN_USER if token == TOKEN else None

    @shop.get("/me")
    @tokens.auth_required
    @typed
    def me(verbose: bool = False) -> User:
        return TOKEN_USER if verbose else User(username=TOKEN_USER.username)

    @shop.get("/colors/<color>")
    @typed(responses={404: Message})
    def color(color: Color) -> Message:
        if color is Color.GREEN:
            erlen.abort(404, "out of green")
        return Message(message=color.value)

    app.register_blueprint(shop)
    return app
