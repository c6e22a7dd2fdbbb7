"""The OpenAPI 3.1 document built from an app's routes, typed views, blueprints and auth."""

from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from pydantic import BaseModel, Field
from werkzeug.datastructures import FileStorage

from erlen import Blueprint, Erlen
from erlen.contrib.auth import TokenAuth, login_required
from erlen.typed import Cookie, Form, Header, Problem, Query, openapi_document, typed
from erlen.views import MethodView

REF = "#/components/schemas/"


class Tag(BaseModel):
    label: str


class Item(BaseModel):
    name: str = Field(max_length=50)
    price: float = Field(gt=0)
    tags: list[Tag] = []


class Pet(msgspec.Struct):
    kind: str


class Owner(msgspec.Struct):
    name: str
    pets: list[Pet] = []


class Page(BaseModel):
    page: int = 1
    size: int = Field(20, le=100)


class Customer(msgspec.Struct):
    name: str
    pet: Pet | None = None


tokens = TokenAuth(secret_key="not-a-secret")


class ThingAPI(MethodView):
    """Things."""

    @typed
    def get(self, thing_id: int) -> Item:
        """Read a thing."""
        return Item(name="a", price=1)

    @typed(responses={404: Problem})
    def delete(self, thing_id: int) -> None:
        """Delete a thing.

        For ever.
        """


def build() -> Erlen:
    """A shop with blueprints, a MethodView, auth, forms, files and both model libraries."""
    app = Erlen("shop")
    items = Blueprint("items", __name__, url_prefix="/items")
    users = Blueprint("users", __name__, url_prefix="/users")

    @items.get("/")
    @typed
    def list_items(
        q: Annotated[str | None, Query(max_length=20, description="Search text")] = None,
        limit: int = Query(10, ge=1, le=100),
        x_request_id: Annotated[str | None, Header()] = None,
        theme: Annotated[str, Cookie()] = "light",
    ) -> list[Item]:
        """List the items.

        Filtered by ``q``;
        at most ``limit``.
        """
        return []

    @items.post("/")
    @typed(status_code=201, responses={409: Problem})
    @tokens.auth_required
    def create_item(item: Item) -> Item:
        """Create an item."""
        return item

    @items.get("/<int:item_id>")
    @typed(responses={404: Problem}, tags=["catalogue"], summary="One item")
    async def show_item(item_id: int) -> Item:
        return Item(name="a", price=1)

    @items.get("/by/<uuid:key>/<any(small,large):size>/<float:weight>/<path:rest>")
    def by_key(key: Any, size: str, weight: float, rest: str) -> str:
        return "x"

    @users.post("/<int:uid>/avatar")
    @typed
    @login_required
    def avatar(
        uid: int, image: FileStorage, caption: Annotated[str, Form(max_length=80)] = ""
    ) -> dict[str, Any]:
        return {}

    @users.post("/login")
    @typed
    def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
        return {}

    @users.get("/pages")
    @typed
    def pages(p: Annotated[Page, Query()]) -> list[Owner]:
        return []

    @users.post("/customers")
    @typed
    def customers(customer: Customer, item: Item) -> Owner:
        return Owner(name="x")

    @users.get("/hidden")
    @typed(include_in_schema=False)
    def hidden() -> Item:
        return Item(name="a", price=1)

    app.add_url_rule("/things/<int:thing_id>", view_func=ThingAPI.as_view("thing"))

    @app.get("/plain")
    def plain() -> str:
        """A plain Flask view."""
        return "plain"

    @app.route("/both", methods=["GET", "POST"])
    @tokens.auth_required(scheme=("bearer", "basic"))
    def both() -> str:
        return "x"

    app.add_url_rule("/old", endpoint="old", redirect_to="/plain")
    app.register_blueprint(items)
    app.register_blueprint(users)
    return app


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document(build(), title="Shop", version="1.0")


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` to its component (a schema without one is returned as it is)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith(REF), ref
    return dict(doc["components"]["schemas"][ref.removeprefix(REF)])


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found.extend(all_refs(value))
        return found
    if isinstance(node, list):
        return [ref for value in node for ref in all_refs(value)]
    return []


def json_body(op: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return dict(op["requestBody"]["content"][media_type]["schema"])


def params(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in op.get("parameters", [])}


# -- the whole document ----------------------------------------------------------------------


def test_document_is_valid_openapi_31(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Shop", "version": "1.0"}
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = all_refs(doc)
    assert refs
    schemas = doc["components"]["schemas"]
    for ref in refs:
        assert ref.startswith(REF)
        assert ref.removeprefix(REF) in schemas, ref


def test_paths_and_methods(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert set(paths) == {
        "/items/",
        "/items/{item_id}",
        "/items/by/{key}/{size}/{weight}/{rest}",
        "/users/{uid}/avatar",
        "/users/login",
        "/users/pages",
        "/users/customers",
        "/things/{thing_id}",
        "/plain",
        "/both",
    }  # no static route, no redirect, no include_in_schema=False view
    assert set(paths["/items/"]) == {"get", "post"}
    assert set(paths["/both"]) == {"get", "post"}  # HEAD and OPTIONS are left out
    assert set(paths["/things/{thing_id}"]) == {"get", "delete"}
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert paths["/items/"]["get"]["operationId"] == "items_list_items"
    assert paths["/both"]["post"]["operationId"] == "both_post"


def test_blueprints_become_tags(doc: dict[str, Any]) -> None:
    assert doc["tags"] == [{"name": "catalogue"}, {"name": "items"}, {"name": "users"}]
    assert doc["paths"]["/items/"]["get"]["tags"] == ["items"]
    assert doc["paths"]["/users/login"]["post"]["tags"] == ["users"]
    assert doc["paths"]["/items/{item_id}"]["get"]["tags"] == ["catalogue"]  # typed(tags=...)
    assert "tags" not in doc["paths"]["/plain"]["get"]


def test_docstrings_give_summary_and_description(doc: dict[str, Any]) -> None:
    listing = doc["paths"]["/items/"]["get"]
    assert listing["summary"] == "List the items."
    assert listing["description"] == "Filtered by ``q``;\nat most ``limit``."
    assert doc["paths"]["/items/"]["post"]["summary"] == "Create an item."  # through auth_required
    assert "description" not in doc["paths"]["/items/"]["post"]
    assert doc["paths"]["/items/{item_id}"]["get"]["summary"] == "One item"  # typed(summary=...)
    assert doc["paths"]["/plain"]["get"]["summary"] == "A plain Flask view."
    assert doc["paths"]["/users/login"]["post"]["summary"] == "Login"  # from the name


def test_methodview_handlers(doc: dict[str, Any]) -> None:
    thing = doc["paths"]["/things/{thing_id}"]
    assert thing["get"]["summary"] == "Read a thing."
    assert thing["delete"]["summary"] == "Delete a thing."
    assert thing["delete"]["description"] == "For ever."
    assert params(thing["get"])[("path", "thing_id")]["schema"] == {"type": "integer"}
    assert set(thing["delete"]["responses"]) == {"204", "404", "422"}  # -> None: no content
    assert "content" not in thing["delete"]["responses"]["204"]
    ok = thing["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert resolve(doc, ok)["title"] == "Item"


def test_declared_and_validation_responses(doc: dict[str, Any]) -> None:
    create = doc["paths"]["/items/"]["post"]["responses"]
    assert set(create) == {"201", "401", "409", "422"}  # 401: the route is guarded
    assert create["409"] == {
        "description": "Conflict",
        "content": {"application/problem+json": {"schema": {"$ref": REF + "Problem"}}},
    }
    assert create["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": REF + "ValidationProblem"
    }
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "instance"}
    validation = doc["components"]["schemas"]["ValidationProblem"]
    assert "errors" in validation["required"]
    loc = validation["properties"]["errors"]["items"]["properties"]["loc"]
    assert loc["items"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    # Plain views declare a bare 200 and no 422.
    assert doc["paths"]["/plain"]["get"]["responses"] == {
        "200": {"description": "Successful response"}
    }


def test_security_from_the_auth_battery(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert paths["/items/"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/users/{uid}/avatar"]["post"]["security"] == [{"sessionCookie": []}]
    assert paths["/both"]["get"]["security"] == [{"bearerAuth": []}, {"basicAuth": []}]
    assert "security" not in paths["/items/"]["get"]
    assert doc["components"]["securitySchemes"] == {
        "basicAuth": {"type": "http", "scheme": "basic"},
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
    }


def test_session_cookie_scheme_follows_config() -> None:
    app = Erlen("x")
    app.config["SESSION_COOKIE_NAME"] = "sid"

    @app.get("/me")
    @login_required
    def me() -> str:
        return "me"

    document = openapi_document(app)
    assert document["components"]["securitySchemes"]["sessionCookie"]["name"] == "sid"
    assert "components" in document and "schemas" not in document["components"]


def test_path_converter_schemas(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/items/by/{key}/{size}/{weight}/{rest}"]["get"]
    found = params(op)
    assert found[("path", "key")] == {
        "name": "key",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    size = found[("path", "size")]["schema"]
    assert size["type"] == "string"
    assert (
        size["pattern"].startswith("^")
        and "small" in size["pattern"]
        and "large" in size["pattern"]
    )
    assert found[("path", "weight")]["schema"] == {"type": "number"}
    assert found[("path", "rest")]["schema"] == {"type": "string"}
    item = params(doc["paths"]["/items/{item_id}"]["get"])
    assert item[("path", "item_id")]["schema"] == {"type": "integer"}


def test_untyped_rule_variable_gets_annotation_schema() -> None:
    app = Erlen("x")

    @app.get("/n/<n>")
    @typed
    def n(n: Annotated[int, Field(ge=0)]) -> Any:
        return {}

    op = openapi_document(app)["paths"]["/n/{n}"]["get"]
    assert params(op)[("path", "n")]["schema"] == {"type": "integer", "minimum": 0}


def test_query_header_cookie_parameters(doc: dict[str, Any]) -> None:
    found = params(doc["paths"]["/items/"]["get"])
    assert set(found) == {
        ("query", "q"),
        ("query", "limit"),
        ("header", "x-request-id"),
        ("cookie", "theme"),
    }
    q = found[("query", "q")]
    assert q["required"] is False
    assert q["description"] == "Search text"
    assert {"maxLength": 20, "type": "string"} in q["schema"]["anyOf"]
    limit = found[("query", "limit")]
    assert limit["required"] is False
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    assert found[("cookie", "theme")]["schema"] == {"type": "string", "default": "light"}
    assert found[("header", "x-request-id")]["required"] is False


def test_query_model_becomes_one_parameter_per_field(doc: dict[str, Any]) -> None:
    found = params(doc["paths"]["/users/pages"]["get"])
    assert set(found) == {("query", "page"), ("query", "size")}
    assert found[("query", "size")]["schema"]["maximum"] == 100
    assert found[("query", "size")]["required"] is False


def test_form_and_multipart_bodies(doc: dict[str, Any]) -> None:
    login = doc["paths"]["/users/login"]["post"]
    assert set(login["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}
    form = json_body(login, "application/x-www-form-urlencoded")
    assert form["properties"] == {"username": {"type": "string"}, "password": {"type": "string"}}
    assert form["required"] == ["username", "password"]
    avatar = doc["paths"]["/users/{uid}/avatar"]["post"]
    assert set(avatar["requestBody"]["content"]) == {"multipart/form-data"}
    multipart = json_body(avatar, "multipart/form-data")
    assert multipart["properties"]["image"] == {
        "type": "string",
        "contentMediaType": "application/octet-stream",
    }
    assert multipart["properties"]["caption"]["maxLength"] == 80
    assert multipart["required"] == ["image"]


def test_json_bodies_and_responses(doc: dict[str, Any]) -> None:
    create = doc["paths"]["/items/"]["post"]
    assert create["requestBody"]["required"] is True
    body = resolve(doc, json_body(create))
    assert body["required"] == ["name", "price"]
    assert body["properties"]["price"]["exclusiveMinimum"] == 0
    listing = doc["paths"]["/items/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listing["schema"] == {"type": "array", "items": {"$ref": REF + "Item"}}


def test_embedded_body_of_msgspec_and_pydantic(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/users/customers"]["post"]
    body = json_body(op)
    assert body["type"] == "object"
    assert body["required"] == ["customer", "item"]
    assert body["properties"]["customer"] == {"$ref": REF + "Customer"}
    assert resolve(doc, body["properties"]["item"])["title"] == "Item"
    schemas = doc["components"]["schemas"]
    # Structs and Pydantic models are components side by side; Pet, used by two
    # Structs in two operations, is one component.
    assert {"Customer", "Owner", "Pet", "Item", "Tag"} <= set(schemas)
    assert REF + "Pet" in all_refs(schemas["Customer"])
    assert REF + "Pet" in all_refs(schemas["Owner"])
    assert schemas["Pet"]["properties"] == {"kind": {"type": "string"}}
    assert REF + "Tag" in all_refs(schemas["Item"])
    response = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert response == {"$ref": REF + "Owner"}
    pages = doc["paths"]["/users/pages"]["get"]["responses"]["200"]["content"]
    assert pages["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": REF + "Owner"},
    }


def test_models_are_components(doc: dict[str, Any]) -> None:
    create = doc["paths"]["/items/"]["post"]
    assert json_body(create) == {"$ref": REF + "Item"}
    ok = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": REF + "Item"} or ok == {"$ref": REF + "Item-Output"}


def _other_item() -> type[BaseModel]:
    class Item(BaseModel):  # the same name as the module's Item, another model
        sku: int

    return Item


def test_same_named_models_stay_distinct() -> None:
    other = _other_item()
    app = Erlen("x")

    @app.post("/a")
    @typed
    def a(x: list[Item]) -> Any:
        return {}

    @app.post("/b")
    @typed
    def b(x: list[other]) -> Any:  # type: ignore[valid-type]
        return {}

    document = openapi_document(app)
    validate(document, cls=OpenAPIV31SpecValidator)
    schema_a = json_body(document["paths"]["/a"]["post"])["items"]
    schema_b = json_body(document["paths"]["/b"]["post"])["items"]
    assert schema_a != schema_b
    assert set(resolve(document, schema_a)["properties"]) == {"name", "price", "tags"}
    assert set(resolve(document, schema_b)["properties"]) == {"sku"}


def test_config_title_version_description() -> None:
    app = Erlen("cfg")
    app.config.update(OPENAPI_TITLE="T", OPENAPI_VERSION="2.0", OPENAPI_DESCRIPTION="D")
    assert openapi_document(app)["info"] == {"title": "T", "version": "2.0", "description": "D"}
    assert openapi_document(Erlen("bare"))["info"] == {"title": "bare", "version": "0.1.0"}
    document = openapi_document(Erlen("bare"), servers=[{"url": "https://api.example"}])
    assert document["servers"] == [{"url": "https://api.example"}]
    validate(document, cls=OpenAPIV31SpecValidator)


def test_operation_options() -> None:
    app = Erlen("x")

    @app.get("/old")
    @typed(deprecated=True, operation_id="legacyRead", description="Use /new.")
    def old(n: Annotated[int, Query(deprecated=True, examples=[1, 2])] = 0) -> Any:
        """Old."""
        return {}

    op = openapi_document(app)["paths"]["/old"]["get"]
    assert op["deprecated"] is True
    assert op["operationId"] == "legacyRead"
    assert (op["summary"], op["description"]) == ("Old.", "Use /new.")
    n = params(op)[("query", "n")]
    assert n["deprecated"] is True
    assert n["examples"] == {"0": {"value": 1}, "1": {"value": 2}}


def test_hidden_parameter() -> None:
    app = Erlen("x")

    @app.get("/h")
    @typed
    def h(secret: Annotated[str, Query(include_in_schema=False)] = "", shown: int = 0) -> Any:
        return {}

    op = openapi_document(app)["paths"]["/h"]["get"]
    assert set(params(op)) == {("query", "shown")}


def test_routing_and_guards_declare_their_own_answers() -> None:
    from erlen.contrib.auth import TokenAuth

    app = Erlen(__name__)
    auth = TokenAuth(app)

    @auth.verify_token
    def verify(token: str) -> Any:
        return token == "ok" or None

    @app.get("/items/<int:item_id>")
    @typed
    def show(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/secret")
    @auth.auth_required
    @typed
    def secret() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/open")
    @typed
    def opened() -> dict[str, bool]:
        return {"ok": True}

    paths = openapi_document(app)["paths"]
    assert paths["/items/{item_id}"]["get"]["responses"]["404"] == {"description": "Not Found"}
    assert "401" not in paths["/items/{item_id}"]["get"]["responses"]
    assert paths["/secret"]["get"]["responses"]["401"] == {"description": "Unauthorized"}
    assert set(paths["/open"]["get"]["responses"]) == {"200"}
    c = app.test_client()
    assert c.get("/items/-1").status_code == 404  # the converter refuses it: no route
    assert c.get("/secret").status_code == 401
