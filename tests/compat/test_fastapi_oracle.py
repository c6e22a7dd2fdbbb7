"""FastAPI as the oracle of typed views: same views, same requests, same answers and documents.

``fastapi_pairs`` holds each view twice, as a FastAPI user and as an Erlen user writes it,
over the same Pydantic models. Every request of ``CASES`` goes to FastAPI (in-process,
through httpx's ASGI transport) and to Erlen through both doors; the status codes must be
equal, valid requests must give equal JSON bodies, and 422 answers must name the same
errors (FastAPI's ``detail[*]``, Erlen's ``errors[*]``: location and type). Where Erlen
answers differently on purpose, the case says so (``erlen_status``, ``erlen_json``,
``erlen_errors``) and why; ``test_every_deliberate_difference_says_why`` keeps them honest.

The second half compares ``app.openapi()`` with ``erlen.typed.openapi_document(app)``:
same paths and methods, same parameters, and the same request and response schemas once
``$ref``\\ s are resolved and the names and titles each framework picks are set aside.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi_pairs import TOKEN, build_erlen, build_fastapi
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from erlen.typed import openapi_document

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_SAME: Any = object()
_UNDOCUMENTED: Any = object()
#: One validation error as compared: its location and its type.
Error = tuple[tuple[Any, ...], str]


@dataclass(frozen=True)
class Case:
    """One request, what FastAPI answers, and where Erlen answers otherwise on purpose."""

    id: str
    method: str
    url: str
    status: int  # FastAPI's status: the oracle is checked too, so a changed oracle shows
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    erlen_url: str | None = None  # the same view behind a differently written Erlen rule
    erlen_status: int | None = None  # a deliberate difference (``why`` says why)
    erlen_json: Any = _SAME  # a deliberate difference in a valid answer's body
    erlen_errors: frozenset[Error] | None = None  # ... in a 422's errors (loc, type)
    why: str = ""


def js(value: Any) -> bytes:
    """``value`` as a JSON body."""
    return json.dumps(value).encode()


def case(
    id: str,
    method: str,
    url: str,
    status: int,
    *,
    json_body: Any = _SAME,
    raw: bytes | None = None,
    ctype: str | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    **kwargs: Any,
) -> Any:
    """A :class:`Case` as a pytest parameter; ``json_body`` also sets the JSON content type."""
    body = raw
    hdrs = list(headers.items() if isinstance(headers, dict) else headers or [])
    if json_body is not _SAME:
        body = js(json_body)
        ctype = ctype or JSON
    if ctype is not None:
        hdrs.append(("Content-Type", ctype))
    c = Case(id, method, url, status, body=body, headers=tuple(hdrs), **kwargs)
    return pytest.param(c, id=id)


def multipart(fields: dict[str, str], boundary: str = "oracle-boundary") -> tuple[bytes, str]:
    """A multipart/form-data body of plain fields, and its Content-Type."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


ITEM = {"name": "Foo", "price": 2.5}
ORDER = {"customer": {"name": "Ann"}, "lines": [{"sku": "ABC-1", "qty": 2}]}
USER = {"username": "ann"}
BEARER = f"Bearer {TOKEN}"
KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")
MP_LOGIN, MP_LOGIN_TYPE = multipart({"username": "ann", "remember": "on"})
MP_SHORT, MP_SHORT_TYPE = multipart({"username": "a"})
MP_NOTE, MP_NOTE_TYPE = multipart({"note": "n"})
BATCH_TYPE = "multipart/form-data; boundary=bb"
BATCH = (
    b"".join(
        b'--bb\r\nContent-Disposition: form-data; name="files"; filename="%d.txt"\r\n\r\n%d\r\n'
        % (i, i)
        for i in (1, 2)
    )
    + b"--bb--\r\n"
)
UPLOAD_TYPE = "multipart/form-data; boundary=up"
UPLOAD = (
    b'--up\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nhello\r\n"
    b'--up\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--up--\r\n'
)

# Why Erlen answers some requests differently from FastAPI, on purpose.
WHY_415 = (
    "a body the view reads as JSON sent with a non-JSON Content-Type is 415 Unsupported "
    "Media Type in Erlen; FastAPI reads the bytes as a string and fails validation (422)"
)
WHY_CONVERTER = (
    "Flask's <int:...> converter is part of routing: a segment it does not match is no "
    "route (404) before any validation; FastAPI validates the path parameter (422). The "
    "same view on Erlen's untyped rule <item_id> answers 422 as FastAPI does (the /items cases)"
)
WHY_FIRST = (
    "a repeated scalar query parameter: Erlen reads the first value (Flask's request.args.get), "
    "Starlette the last"
)
WHY_SLASH = (
    "Flask's routing: a rule without a trailing slash does not match one with it (404); "
    "FastAPI redirects /search/ to /search (307)"
)
WHY_HEAD = "Flask answers HEAD for every GET rule; FastAPI's GET routes do not (405)"
WHY_NO_TYPE = (
    "a body without Content-Type is read as JSON by Erlen (curl -d without -H, old clients); "
    "FastAPI's strict_content_type (on by default) reads it as bytes and fails validation (422)"
)
WHY_OTHER_PARAM = (
    "a query model that forbids extra fields: FastAPI counts the view's other query "
    "parameters (tag-name) as the model's extras too (422); Erlen leaves them to their own "
    "parameter"
)
WHY_COMMA = (
    "a list-typed header: WSGI (and Erlen's ASGI door) join repeated header lines with "
    "commas, so Erlen splits the value on commas (RFC 9110 5.3 makes both forms equal); "
    "Starlette keeps each line whole"
)
WHY_NOT_OBJECT = (
    "embedded bodies sent a JSON array: Erlen reports one error at the body (it must be an "
    "object); FastAPI reports each embedded name as missing"
)

CASES = [
    # -- path int and a constrained optional query string (GET /items/{item_id}) --
    case("path-int", "GET", "/items/3", 200),
    case("path-negative", "GET", "/items/-4", 200),
    case("path-not-int", "GET", "/items/abc", 422),
    case("path-float", "GET", "/items/3.5", 422),
    case("path-query", "GET", "/items/3?q=abc", 200),
    case("path-query-empty", "GET", "/items/3?q=", 200),
    case("path-query-too-long", "GET", "/items/3?q=toolong", 422),
    case("path-unknown-query", "GET", "/items/3?other=1", 200),
    case(
        "converter-not-int",
        "GET",
        "/items/abc",
        422,
        erlen_url="/converted/abc",
        erlen_status=404,
        why=WHY_CONVERTER,
    ),
    case(
        "converter-negative",
        "GET",
        "/items/-4",
        200,
        erlen_url="/converted/-4",
        erlen_status=404,
        why=WHY_CONVERTER,
    ),
    case("converter-int", "GET", "/items/7", 200, erlen_url="/converted/7"),
    # -- query scalars with defaults and constraints (GET /search) --
    case("query-defaults", "GET", "/search?q=abc", 200),
    case("query-all", "GET", "/search?q=abc&limit=100&offset=5&exact=true&ratio=0.5", 200),
    case("query-bool-words", "GET", "/search?q=abc&exact=yes", 200),
    case("query-bool-digit", "GET", "/search?q=abc&exact=0", 200),
    case("query-bool-bad", "GET", "/search?q=abc&exact=maybe", 422),
    case("query-missing", "GET", "/search", 422),
    case("query-too-short", "GET", "/search?q=a", 422),
    case("query-too-long", "GET", "/search?q=abcdefghijk", 422),
    case("query-pattern", "GET", "/search?q=ABC", 422),
    case("query-below-ge", "GET", "/search?q=abc&limit=0", 422),
    case("query-above-le", "GET", "/search?q=abc&limit=101", 422),
    case("query-not-int", "GET", "/search?q=abc&limit=ten", 422),
    case("query-float-for-int", "GET", "/search?q=abc&offset=1.5", 422),
    case("query-not-float", "GET", "/search?q=abc&ratio=half", 422),
    case("query-many-errors", "GET", "/search?q=A&limit=0&offset=x&exact=2", 422),
    case("query-percent-encoded", "GET", "/search?q=%61bc", 200),
    case("query-unicode", "GET", "/search?q=%C3%A9t%C3%A9", 422),
    case("query-plus-space", "GET", "/search?q=ab+cd", 422),
    case(
        "query-repeated-scalar",
        "GET",
        "/search?q=abc&q=def",
        200,
        erlen_json={"q": "abc", "limit": 10, "offset": 0, "exact": False, "ratio": None},
        why=WHY_FIRST,
    ),
    case("query-wrong-method", "DELETE", "/search?q=abc", 405),
    case("query-slash", "GET", "/search/?q=abc", 307, erlen_status=404, why=WHY_SLASH),
    case("query-head", "HEAD", "/search?q=abc", 405, erlen_status=200, why=WHY_HEAD),
    case("no-route", "GET", "/nothing", 404),
    # -- list query parameters (GET /tagged) --
    case("list-one", "GET", "/tagged?ids=1", 200),
    case("list-many", "GET", "/tagged?ids=1&ids=2&tags=a&tags=b", 200),
    case("list-missing", "GET", "/tagged", 422),
    case("list-missing-with-other", "GET", "/tagged?tags=a", 422),
    case("list-bad-item", "GET", "/tagged?ids=1&ids=y", 422),
    case("list-comma", "GET", "/tagged?ids=1,2", 422),
    case("list-too-long", "GET", "/tagged?ids=1&tags=a&tags=b&tags=c&tags=d", 422),
    # -- headers (GET /who) --
    case("header", "GET", "/who", 200, headers={"X-Token": "t"}),
    case("header-both", "GET", "/who", 200, headers={"x-token": "t", "x-count": "5"}),
    case("header-missing", "GET", "/who", 422),
    case("header-below-ge", "GET", "/who", 422, headers={"X-Token": "t", "X-Count": "-1"}),
    case("header-not-int", "GET", "/who", 422, headers={"X-Count": "many"}),
    # -- cookies (GET /session) --
    case("cookie", "GET", "/session", 200, headers={"Cookie": "session_id=s1"}),
    case("cookie-both", "GET", "/session", 200, headers={"Cookie": "session_id=s1; theme=dark"}),
    case("cookie-missing", "GET", "/session", 422),
    case("cookie-pattern", "GET", "/session", 422, headers={"Cookie": "session_id=s; theme=blue"}),
    # -- a nested body, async, 201 (POST /orders) --
    case("body", "POST", "/orders", 201, json_body=ORDER),
    case(
        "body-full",
        "POST",
        "/orders",
        201,
        json_body={
            "customer": {"name": "Ann", "email": "ann@example.org"},
            "lines": [{"sku": "ABC-1", "qty": 2}, {"sku": "XYZ-22", "qty": 99}],
            "note": "fast",
        },
    ),
    case("body-extra-ignored", "POST", "/orders", 201, json_body={**ORDER, "coupon": "X"}),
    case(
        "body-lax-int",
        "POST",
        "/orders",
        201,
        json_body={**ORDER, "lines": [{"sku": "ABC-1", "qty": "3"}]},
    ),
    case("body-missing-field", "POST", "/orders", 422, json_body={"lines": ORDER["lines"]}),
    case("body-empty-object", "POST", "/orders", 422, json_body={}),
    case("body-empty-list", "POST", "/orders", 422, json_body={**ORDER, "lines": []}),
    case(
        "body-nested-errors",
        "POST",
        "/orders",
        422,
        json_body={
            "customer": {"name": ""},
            "lines": [{"sku": "abc", "qty": 1}, {"sku": "ABC-2", "qty": 0}, {"qty": "x"}],
        },
    ),
    case("body-wrong-type", "POST", "/orders", 422, json_body={**ORDER, "customer": "Ann"}),
    case("body-array", "POST", "/orders", 422, json_body=[ORDER]),
    case("body-null", "POST", "/orders", 422, json_body=None),
    case("body-malformed", "POST", "/orders", 422, raw=b'{"customer": ', ctype=JSON),
    case("body-trailing-data", "POST", "/orders", 422, raw=js(ORDER) + b" x", ctype=JSON),
    case(
        "body-whitespace-around", "POST", "/orders", 201, raw=b" \n" + js(ORDER) + b"\n", ctype=JSON
    ),
    case("body-whitespace-only", "POST", "/orders", 422, raw=b"   ", ctype=JSON),
    case("body-string", "POST", "/orders", 422, json_body="an order"),
    case("body-utf8-bom", "POST", "/orders", 201, raw=b"\xef\xbb\xbf" + js(ORDER), ctype=JSON),
    case("body-utf16", "POST", "/orders", 201, raw=json.dumps(ORDER).encode("utf-16"), ctype=JSON),
    case(
        "body-lax-json",
        "POST",
        "/orders",
        201,
        raw=b'{"customer": {"name": "A"}, "lines": [{"sku": "ABC-1", "qty": 1e1}, '
        b'{"sku": "ABC-2", "qty": true}, {"sku": "ABC-3", "qty": 2.0}]}',
        ctype=JSON,
    ),
    case(
        "body-strict-json",
        "POST",
        "/orders",
        422,
        raw=b'{"customer": {"name": 5}, "lines": [{"sku": "ABC-1", "qty": 2.5}]}',
        ctype=JSON,
    ),
    case("body-unicode", "POST", "/orders", 201, json_body={**ORDER, "note": "Ünïcødé ✓ 🚲"}),
    case("body-empty", "POST", "/orders", 422, raw=b"", ctype=JSON),
    case("body-none", "POST", "/orders", 422),
    case(
        "body-no-content-type",
        "POST",
        "/orders",
        422,
        raw=js(ORDER),
        erlen_status=201,
        why=WHY_NO_TYPE,
    ),
    case(
        "body-charset",
        "POST",
        "/orders",
        201,
        raw=js(ORDER),
        ctype="application/json; charset=utf-8",
    ),
    case("body-plus-json", "POST", "/orders", 201, raw=js(ORDER), ctype="application/vnd.api+json"),
    case(
        "body-text-plain",
        "POST",
        "/orders",
        422,
        raw=js(ORDER),
        ctype="text/plain",
        erlen_status=415,
        why=WHY_415,
    ),
    case(
        "body-form-type",
        "POST",
        "/orders",
        422,
        raw=b"customer=Ann",
        ctype=FORM,
        erlen_status=415,
        why=WHY_415,
    ),
    # -- an optional body (PUT /maybe) --
    case("optional-absent", "PUT", "/maybe", 200),
    case("optional-empty", "PUT", "/maybe", 200, raw=b"", ctype=JSON),
    case("optional-null", "PUT", "/maybe", 200, json_body=None),
    case("optional-present", "PUT", "/maybe", 200, json_body={**ITEM, "tags": ["x"]}),
    case("optional-invalid", "PUT", "/maybe", 422, json_body={"name": "Foo", "price": -1}),
    case("optional-malformed", "PUT", "/maybe", 422, raw=b"{", ctype=JSON),
    # -- several bodies, embedded by name (POST /combined) --
    case(
        "embedded",
        "POST",
        "/combined",
        200,
        json_body={"item": ITEM, "user": USER, "importance": 5},
    ),
    case(
        "embedded-missing-one",
        "POST",
        "/combined",
        422,
        json_body={"item": ITEM, "user": USER},
    ),
    case("embedded-empty-object", "POST", "/combined", 422, json_body={}),
    case("embedded-empty", "POST", "/combined", 422, raw=b"", ctype=JSON),
    case(
        "embedded-nested-error",
        "POST",
        "/combined",
        422,
        json_body={"item": {"name": "Foo", "price": "x"}, "user": {}, "importance": 0},
    ),
    case(
        "embedded-array",
        "POST",
        "/combined",
        422,
        json_body=[ITEM, USER, 5],
        erlen_errors=frozenset({(("body",), "dict_type")}),
        why=WHY_NOT_OBJECT,
    ),
    case("embedded-malformed", "POST", "/combined", 422, raw=b"[1,", ctype=JSON),
    case(
        "embedded-text-plain",
        "POST",
        "/combined",
        422,
        raw=js({"item": ITEM, "user": USER, "importance": 5}),
        ctype="text/plain",
        erlen_status=415,
        why=WHY_415,
    ),
    # -- one body embedded by name (POST /embedded) --
    case("embed-one", "POST", "/embedded", 200, json_body={"item": ITEM}),
    case("embed-one-bare", "POST", "/embedded", 422, json_body=ITEM),
    case("embed-one-empty", "POST", "/embedded", 422, raw=b"", ctype=JSON),
    case("embed-one-null", "POST", "/embedded", 422, json_body={"item": None}),
    # -- extra fields forbidden by the model (POST /strict) --
    case("strict", "POST", "/strict", 200, json_body={"code": "a"}),
    case("strict-extra", "POST", "/strict", 422, json_body={"code": "a", "more": 1, "less": 2}),
    # -- a list of models as the response (GET /catalog) --
    case("list-response", "GET", "/catalog", 200),
    case("list-response-empty", "GET", "/catalog?n=0", 200),
    case("list-response-bad", "GET", "/catalog?n=4", 422),
    # -- header, cookie and form models; aliases --
    case("header-model", "GET", "/client", 200, headers={"X-Token": "t"}),
    case(
        "header-model-all",
        "GET",
        "/client",
        200,
        headers={"X-Token": "t", "X-Count": "3", "Accept-Language": "de"},
    ),
    case("header-model-invalid", "GET", "/client", 422, headers={"X-Count": "-3"}),
    case("cookie-model", "GET", "/prefs", 200, headers={"Cookie": "session_id=s; theme=dark"}),
    case("cookie-model-invalid", "GET", "/prefs", 422, headers={"Cookie": "theme=blue"}),
    case(
        "form-model",
        "POST",
        "/signup",
        200,
        raw=b"username=ann&tags=a&tags=b&remember=1",
        ctype=FORM,
    ),
    case("form-model-invalid", "POST", "/signup", 422, raw=b"username=a&remember=x", ctype=FORM),
    case("form-model-empty", "POST", "/signup", 422, raw=b"", ctype=FORM),
    case("alias", "GET", "/sized?pageSize=5", 200, headers={"X-API-Key": "k"}),
    case("alias-not-name", "GET", "/sized?page_size=5", 200),
    case("alias-invalid", "GET", "/sized?pageSize=0&page_size=3", 422),
    # -- left out of both documents, still served --
    case("hidden", "GET", "/hidden?n=1", 200),
    case("hidden-bad", "GET", "/hidden?n=x", 422),
    # -- response_model filters the answer (POST /users, 201) --
    case("response-model", "POST", "/users", 201, json_body={"username": "ann", "password": "pw"}),
    case("response-model-missing", "POST", "/users", 422, json_body={"username": "ann"}),
    case(
        "response-model-from-input-model",
        "POST",
        "/users/as-model",
        200,
        json_body={"username": "ann", "password": "pw"},
    ),
    case("response-model-from-input-model-bad", "POST", "/users/as-model", 422, json_body={}),
    # -- form fields (POST /login) --
    case("form", "POST", "/login", 200, raw=b"username=ann&remember=true", ctype=FORM),
    case("form-default", "POST", "/login", 200, raw=b"username=ann", ctype=FORM),
    case("form-multipart", "POST", "/login", 200, raw=MP_LOGIN, ctype=MP_LOGIN_TYPE),
    case("form-too-short", "POST", "/login", 422, raw=b"username=a", ctype=FORM),
    case("form-multipart-too-short", "POST", "/login", 422, raw=MP_SHORT, ctype=MP_SHORT_TYPE),
    case("form-missing", "POST", "/login", 422, raw=b"remember=true", ctype=FORM),
    case("form-bad-bool", "POST", "/login", 422, raw=b"username=ann&remember=maybe", ctype=FORM),
    case("form-empty", "POST", "/login", 422),
    case("form-json-body", "POST", "/login", 422, json_body={"username": "ann"}),
    # -- path, body and query together, async (PUT /items/{item_id}) --
    case("put", "PUT", "/items/3?q=ab", 200, json_body=ITEM),
    case("put-all-wrong", "PUT", "/items/x?q=toolong", 422, json_body={"price": 0}),
    case("put-no-body", "PUT", "/items/3", 422),
    # -- 204 without a body, a constrained path parameter (DELETE /items/{item_id}) --
    case("delete-204", "DELETE", "/items/3", 204),
    case("delete-path-ge", "DELETE", "/items/0", 422),
    # -- a query model that forbids extra fields, an aliased query parameter (GET /pages) --
    case("query-model-defaults", "GET", "/pages", 200),
    case("query-model", "GET", "/pages?page=2&size=10&order=desc", 200),
    case("query-model-errors", "GET", "/pages?page=0&size=51&order=up", 422),
    case("query-model-extra", "GET", "/pages?extra=1", 422),
    case(
        "query-model-and-alias",
        "GET",
        "/pages?page=2&tag-name=x",
        422,
        erlen_status=200,
        why=WHY_OTHER_PARAM,
    ),
    case("alias-alone", "GET", "/pages?tag-name=x", 422, erlen_status=200, why=WHY_OTHER_PARAM),
    # -- an uploaded file with a form field (POST /upload) --
    case("upload", "POST", "/upload", 200, raw=UPLOAD, ctype=UPLOAD_TYPE),
    case("upload-no-file", "POST", "/upload", 422, raw=MP_NOTE, ctype=MP_NOTE_TYPE),
    case("upload-urlencoded", "POST", "/upload", 422, raw=b"note=x", ctype=FORM),
    case("upload-nothing", "POST", "/upload", 422),
    # -- a dataclass as the body (POST /points) --
    case("dataclass", "POST", "/points", 200, json_body={"x": 1}),
    case("dataclass-invalid", "POST", "/points", 422, json_body={"x": "a", "y": [1]}),
    case("dataclass-missing", "POST", "/points", 422, json_body={"y": 1}),
    # -- a TypedDict as the body (POST /settings) --
    case("typeddict", "POST", "/settings", 200, json_body={"theme": "dark", "size": 3}),
    case("typeddict-partial", "POST", "/settings", 200, json_body={"theme": "dark"}),
    case("typeddict-invalid", "POST", "/settings", 422, json_body={"theme": 1, "size": "big"}),
    # -- a response model with aliases and a computed field (POST /alias) --
    case("alias-response", "POST", "/alias", 200, json_body={"itemName": "x", "n": 2}),
    case("alias-by-name", "POST", "/alias", 422, json_body={"item_name": "x"}),
    # -- a list of models as the body, a dict body, an optional model answer --
    case("list-body", "POST", "/bulk", 200, json_body=[ITEM, {**ITEM, "tags": ["t"]}]),
    case("list-body-empty", "POST", "/bulk", 200, json_body=[]),
    case(
        "list-body-errors", "POST", "/bulk", 422, json_body=[{"name": "a"}, 3, {**ITEM, "price": 0}]
    ),
    case("list-body-object", "POST", "/bulk", 422, json_body=ITEM),
    case("list-body-null", "POST", "/bulk", 422, json_body=None),
    case("dict-body", "POST", "/counts", 200, json_body={"a": 1, "b": "2"}),
    case("dict-body-invalid", "POST", "/counts", 422, json_body={"a": "x", "b": 1.5}),
    case("optional-answer-none", "GET", "/first", 200),
    case("optional-answer", "GET", "/first?n=2", 200),
    case("optional-answer-bad-query", "GET", "/first?n=two", 422),
    # -- dates, UUIDs and literals in the query (GET /kinds) --
    case("kinds", "GET", f"/kinds?day=2024-02-29&key={KEY}", 200),
    case(
        "kinds-all",
        "GET",
        f"/kinds?day=2024-01-01&key={KEY.hex}&mode=b&at=2024-01-01T10:00:00Z",
        200,
    ),
    case("kinds-invalid", "GET", "/kinds?day=2023-02-29&key=zz&mode=c&at=noon", 422),
    case("kinds-missing", "GET", "/kinds?mode=a", 422),
    # -- a list header, list form fields, several files --
    case("header-list", "GET", "/labels", 200, headers={"X-Tag": "a"}),
    case("header-list-none", "GET", "/labels", 200),
    case("header-list-repeated", "GET", "/labels", 200, headers=[("X-Tag", "a"), ("X-Tag", "b")]),
    case("header-list-too-long", "GET", "/labels", 422, headers=[("X-Tag", "a")] * 3),
    case(
        "header-list-comma",
        "GET",
        "/labels",
        200,
        headers={"X-Tag": "a, b"},
        erlen_json={"tags": ["a", "b"]},
        why=WHY_COMMA,
    ),
    case("form-list", "POST", "/checklist", 200, raw=b"item=a&item=b&n=3", ctype=FORM),
    case("form-list-missing", "POST", "/checklist", 422, raw=b"n=3", ctype=FORM),
    case("form-list-bad-int", "POST", "/checklist", 422, raw=b"item=a&n=x", ctype=FORM),
    case("files", "POST", "/batch", 200, raw=BATCH, ctype=BATCH_TYPE),
    case("files-missing", "POST", "/batch", 422, raw=MP_NOTE, ctype=MP_NOTE_TYPE),
    # -- a MethodView with a typed get and an async typed post (/notes) --
    case("methodview-get", "GET", "/notes", 200),
    case("methodview-get-limit", "GET", "/notes?limit=3", 200),
    case("methodview-get-invalid", "GET", "/notes?limit=0", 422),
    case("methodview-post", "POST", "/notes", 201, json_body={"text": "four", "pinned": True}),
    case("methodview-post-invalid", "POST", "/notes", 422, json_body={"text": "", "pinned": "x"}),
    case("methodview-put", "PUT", "/notes", 405),
    # -- a blueprint (a FastAPI router) with a bearer-token guard, an enum path parameter --
    case("bearer", "GET", "/shop/me", 200, headers={"Authorization": BEARER}),
    case("bearer-query", "GET", "/shop/me?verbose=on", 200, headers={"Authorization": BEARER}),
    case("bearer-bad-query", "GET", "/shop/me?verbose=x", 422, headers={"Authorization": BEARER}),
    case("bearer-missing", "GET", "/shop/me", 401),
    case("bearer-wrong", "GET", "/shop/me?verbose=x", 401, headers={"Authorization": "Bearer x"}),
    case("bearer-basic", "GET", "/shop/me", 401, headers={"Authorization": "Basic YTpi"}),
    case("enum-path", "GET", "/shop/colors/red", 200),
    case("enum-path-declared-404", "GET", "/shop/colors/green", 404),
    case("enum-path-invalid", "GET", "/shop/colors/blue", 422),
    case("enum-path-case", "GET", "/shop/colors/RED", 422),
]


def _errors(errors: list[dict[str, Any]], *, erlen: bool) -> set[Error]:
    """The errors' locations and types, in the one vocabulary both frameworks share."""
    found = set()
    for error in errors:
        loc, kind = list(error["loc"]), error["type"]
        if erlen and loc and loc[0] in ("form", "file"):
            # Erlen says where a form field or file was read; FastAPI puts every part of
            # the request body under "body". A deliberate difference of vocabulary only.
            loc[0] = "body"
        if kind == "json_invalid":
            # FastAPI adds the decoder's character offset after "body"; Erlen does not.
            loc = loc[:1]
        if kind == "model_attributes_type":
            # FastAPI validates the decoded body in from_attributes mode, Erlen the JSON
            # bytes: Pydantic names the same "not an object" error differently.
            kind = "model_type"
        found.add((tuple(loc), kind))
    return found


# -- the clients --------------------------------------------------------------------------------


Send = Callable[[Case], tuple[int, dict[str, str], bytes]]


@pytest.fixture(scope="module")
def fastapi_send() -> Iterator[Send]:
    """FastAPI in-process through httpx's ASGI transport; answers are kept per case."""
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_fastapi()), base_url="http://testserver"
    )
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def send(c: Case) -> tuple[int, dict[str, str], bytes]:
        if c.id not in answers:
            r = loop.run_until_complete(
                client.request(c.method, c.url, content=c.body, headers=list(c.headers))
            )
            answers[c.id] = (r.status_code, dict(r.headers), r.content)
        return answers[c.id]

    yield send
    loop.run_until_complete(client.aclose())
    loop.close()


@pytest.fixture(scope="module")
def erlen_app() -> Any:
    return build_erlen()


@pytest.fixture
def erlen_send(erlen_app: Any, protocol: str) -> Send:
    """Erlen through the current door, without a cookie jar (cookies are sent by hand)."""
    client = erlen_app.test_client(asgi=(protocol == "asgi"), use_cookies=False)

    def send(c: Case) -> tuple[int, dict[str, str], bytes]:
        r = client.open(c.erlen_url or c.url, method=c.method, data=c.body, headers=list(c.headers))
        try:
            return r.status_code, dict(r.headers), r.get_data()
        finally:
            r.close()

    return send


# -- the requests -------------------------------------------------------------------------------


def _operation_for(doc: dict[str, Any], method: str, url: str) -> tuple[str, dict[str, Any]]:
    """The path template and operation of ``doc`` that answer ``method url``."""
    path = url.split("?", 1)[0]
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        op = item.get(method.lower())
        if op is not None and re.match(pattern, path):
            return template, op
    raise LookupError(f"{method} {url}: no operation in the document")


def _declared_schema(doc: dict[str, Any], method: str, url: str, status: int) -> Any:
    """The schema ``doc`` declares for the answer to ``method url`` with ``status``, or None."""
    try:
        _, op = _operation_for(doc, method, url)
    except LookupError:  # a route left out of the document
        return _UNDOCUMENTED
    response = op["responses"].get(str(status), {})
    for content in response.get("content", {}).values():
        return _resolve(doc, content["schema"])
    return None


def test_every_route_has_valid_and_invalid_cases() -> None:
    doc = build_fastapi().openapi()
    seen: dict[tuple[str, str], set[int]] = {}
    for param in CASES:
        c = param.values[0]
        try:
            template, _ = _operation_for(doc, c.method, c.url)
        except LookupError:
            continue
        seen.setdefault((template, c.method.lower()), set()).add(c.status)
    missing = []
    for key, op in _operations(doc).items():
        statuses = seen.get(key, set())
        if not any(200 <= status < 300 for status in statuses):
            missing.append(f"{key}: no valid request")
        if (op.get("parameters") or op.get("requestBody")) and 422 not in statuses:
            missing.append(f"{key}: no invalid request")
    assert not missing


@pytest.mark.parametrize("c", CASES)
def test_answers_match_own_document(
    c: Case,
    fastapi_send: Send,
    erlen_send: Send,
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Each framework's JSON answers (valid or 422) follow the schema its document declares."""
    fastapi_doc, erlen_doc = documents
    for send, doc, url in (
        (fastapi_send, fastapi_doc, c.url),
        (erlen_send, erlen_doc, c.erlen_url or c.url),
    ):
        status, _, body = send(c)
        if c.method == "HEAD" or not body or not (200 <= status < 300 or status == 422):
            continue
        schema = _declared_schema(doc, c.method, url, status)
        if schema is _UNDOCUMENTED:
            continue
        assert schema is not None, f"{url}: no schema declared for {status}"
        OAS31Validator(schema).validate(json.loads(body))


@pytest.mark.parametrize("c", CASES)
def test_same_answer_as_fastapi(c: Case, fastapi_send: Send, erlen_send: Send) -> None:
    f_status, f_headers, f_body = fastapi_send(c)
    e_status, e_headers, e_body = erlen_send(c)
    assert f_status == c.status, f"the oracle changed: FastAPI answered {f_status}: {f_body!r}"
    expected = c.status if c.erlen_status is None else c.erlen_status
    assert e_status == expected, f"Erlen answered {e_status}, FastAPI {f_status}: {e_body[:500]!r}"
    if f_status == e_status == 401:  # both challenge the client for a bearer token
        assert f_headers["www-authenticate"].startswith("Bearer")
        assert e_headers["WWW-Authenticate"].startswith("Bearer")
    if c.method == "HEAD" or not 200 <= f_status < 300 or not 200 <= e_status < 300:
        if f_status == e_status == 422:
            problem = json.loads(e_body)
            assert e_headers["Content-Type"] == "application/problem+json"
            assert problem["status"] == 422
            want = c.erlen_errors or _errors(json.loads(f_body)["detail"], erlen=False)
            assert _errors(problem["errors"], erlen=True) == want
        return
    if f_status == 204:
        assert e_body == f_body == b""
        return
    assert e_headers["Content-Type"] == f_headers["content-type"] == JSON
    want = json.loads(f_body) if c.erlen_json is _SAME else c.erlen_json
    assert json.loads(e_body) == want


def test_every_deliberate_difference_says_why() -> None:
    for param in CASES:
        c = param.values[0]
        differs = (
            c.erlen_status is not None or c.erlen_json is not _SAME or c.erlen_errors is not None
        )
        assert differs == bool(c.why), c.id


# -- the documents ------------------------------------------------------------------------------

#: Erlen routes with no FastAPI twin (the converter variant of /items/{item_id}).
ERLEN_ONLY = {"/converted/{item_id}"}
#: Operations whose summary, description and operationId both views give explicitly.
EXPLICIT_TEXT = {"GET /catalog"}


@pytest.fixture(scope="module")
def documents(erlen_app: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return build_fastapi().openapi(), openapi_document(erlen_app)


def _resolve(doc: dict[str, Any], schema: Any, seen: tuple[str, ...] = ()) -> Any:
    """The schema with every ``$ref`` replaced by what it names, and with titles set aside.

    Each framework titles and describes schemas by its own convention (FastAPI titles a
    query parameter ``Limit`` and names an embedded body ``Body_combined_combined_post``);
    only the shape is compared. FastAPI also leaves ``"default": null`` out of a model
    field's schema where Pydantic (and so Erlen) writes it: a null default is set aside too.
    """
    if isinstance(schema, list):
        return [_resolve(doc, s, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:  # a recursive model: compare by the name's tail only
            return {"$recursive": name}
        target = doc["components"]["schemas"][name]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _resolve(doc, {**target, **rest}, (*seen, name))
    out = {}
    for key, value in schema.items():
        if key in ("title", "description") and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _resolve(doc, s, seen) for name, s in value.items()}
        else:
            out[key] = _resolve(doc, value, seen)
    return out


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): op
        for path, item in doc["paths"].items()
        if path not in ERLEN_ONLY
        for method, op in item.items()
    }


def _op_ids() -> list[str]:
    return [f"{m.upper()} {p}" for p, m in sorted(_operations(build_fastapi().openapi()))]


def test_documents_validate(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    validate(fastapi_doc)
    validate(erlen_doc)
    assert erlen_doc["openapi"].startswith("3.1")


def test_same_paths_and_methods(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    assert set(_operations(erlen_doc)) == set(_operations(fastapi_doc))
    assert set(erlen_doc["paths"]) >= ERLEN_ONLY


@pytest.mark.parametrize("key", _op_ids())
def test_same_parameters(key: str, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    method, path = key.split(" ", 1)
    f_op = _operations(fastapi_doc)[path, method.lower()]
    e_op = _operations(erlen_doc)[path, method.lower()]

    def params(doc: dict[str, Any], op: dict[str, Any]) -> dict[tuple[str, str], Any]:
        return {
            (p["name"], p["in"]): (p.get("required", False), _resolve(doc, p["schema"]))
            for p in op.get("parameters", [])
        }

    assert params(erlen_doc, e_op) == params(fastapi_doc, f_op)


@pytest.mark.parametrize("key", _op_ids())
def test_same_tags_and_security(key: str, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    method, path = key.split(" ", 1)
    f_op = _operations(fastapi_doc)[path, method.lower()]
    e_op = _operations(erlen_doc)[path, method.lower()]
    assert e_op.get("tags") == f_op.get("tags")
    assert e_op.get("deprecated", False) == f_op.get("deprecated", False)
    if key in EXPLICIT_TEXT:  # elsewhere each framework derives these by its own convention
        for field in ("summary", "description", "operationId"):
            assert e_op.get(field) == f_op.get(field), field

    def security(doc: dict[str, Any], op: dict[str, Any]) -> list[Any]:
        # Scheme names differ by convention (FastAPI's "HTTPBearer", Erlen's "bearerAuth"):
        # each requirement is compared by the scheme it names.
        schemes = doc.get("components", {}).get("securitySchemes", {})
        return [
            sorted(
                (json.dumps(schemes[name], sort_keys=True), scopes) for name, scopes in r.items()
            )
            for r in op.get("security", [])
        ]

    assert security(erlen_doc, e_op) == security(fastapi_doc, f_op)


@pytest.mark.parametrize("key", _op_ids())
def test_same_request_body(key: str, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    method, path = key.split(" ", 1)
    f_body = _operations(fastapi_doc)[path, method.lower()].get("requestBody")
    e_body = _operations(erlen_doc)[path, method.lower()].get("requestBody")
    assert (e_body is None) == (f_body is None)
    if f_body is None or e_body is None:
        return
    assert e_body.get("required", False) == f_body.get("required", False)
    assert set(e_body["content"]) == set(f_body["content"])
    for media_type, content in f_body["content"].items():
        want = _resolve(fastapi_doc, content["schema"])
        assert _resolve(erlen_doc, e_body["content"][media_type]["schema"]) == want, media_type


@pytest.mark.parametrize("key", _op_ids())
def test_same_responses(key: str, documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    fastapi_doc, erlen_doc = documents
    method, path = key.split(" ", 1)
    f_responses = _operations(fastapi_doc)[path, method.lower()]["responses"]
    e_responses = _operations(erlen_doc)[path, method.lower()]["responses"]
    # Erlen declares what its routing and guards answer before any view runs: 404 for a
    # path value the rule's converter refuses, 401 for missing credentials. FastAPI leaves
    # them out (a deliberate difference: its document under-declares there).
    implied = {"404", "401"} - set(f_responses)
    assert set(e_responses) - implied == set(f_responses)
    for status, f_response in f_responses.items():
        e_response = e_responses[status]
        if status == "422":
            # Erlen's 422 is an RFC 9457 problem document, FastAPI's a {"detail": [...]}:
            # a deliberate difference; both declare one.
            assert set(e_response["content"]) == {"application/problem+json"}
            assert set(f_response["content"]) == {JSON}
            continue
        assert set(e_response.get("content", {})) == set(f_response.get("content", {}))
        for media_type, content in f_response.get("content", {}).items():
            want = _resolve(fastapi_doc, content["schema"])
            got = _resolve(erlen_doc, e_response["content"][media_type]["schema"])
            assert got == want, f"{status} {media_type}"
