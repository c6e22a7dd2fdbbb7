"""Erlen: the typed scenarios as ``@typed`` views, and the same views written by hand.

One app object is both doors: ``def`` views run through the WSGI door and ``async def`` views
through the ASGI door.  The typed app declares its inputs in the signature (``order: Order`` is
the JSON body, ``q: str, limit: int = 10`` are query parameters) and serves its OpenAPI document,
as the peers serve theirs.  The "plain" app is the same API written in Flask style, by hand:
``request.args.get(...)`` for the query, ``Order.model_validate_json`` for the body, and a 422
with Pydantic's errors when it fails.  It is the baseline of "a typed view costs at most 1.2x
the same view written by hand".
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bench.apps.common import Variant
from bench.apps.typed_models import (
    CREATED,
    INVALID,
    ORDERS_PATH,
    SEARCH_PATH,
    Order,
    Receipt,
    receipt_for,
)
from erlen import Erlen, Response, request
from erlen.typed import OpenAPI, typed


def create_typed_app(*, asynchronous: bool = False) -> Erlen:
    """Build the typed app, with ``def`` views or ``async def`` views."""
    app = Erlen(__name__)
    OpenAPI(app, title="Shop", version="1.0")

    if asynchronous:

        @app.post(ORDERS_PATH)
        @typed(status_code=CREATED)
        async def create_order_async(order: Order) -> Receipt:
            return receipt_for(order)

        @app.get(SEARCH_PATH)
        @typed
        async def search_async(q: str, limit: int = 10) -> dict[str, Any]:
            return {"q": q, "limit": limit}

    else:

        @app.post(ORDERS_PATH)
        @typed(status_code=CREATED)
        def create_order(order: Order) -> Receipt:
            return receipt_for(order)

        @app.get(SEARCH_PATH)
        @typed
        def search(q: str, limit: int = 10) -> dict[str, Any]:
            return {"q": q, "limit": limit}

    return app


def _invalid(error: ValidationError) -> Response:
    return Response(error.json(), INVALID, mimetype="application/json")


def create_plain_app(*, asynchronous: bool = False) -> Erlen:
    """Build the same API written by hand, Flask style, with ``def`` or ``async def`` views."""
    app = Erlen(__name__)

    if asynchronous:

        @app.post(ORDERS_PATH)
        async def create_order_async() -> Any:
            try:
                order = Order.model_validate_json(request.get_data())
            except ValidationError as exc:
                return _invalid(exc)
            return receipt_for(order).model_dump(), CREATED

        @app.get(SEARCH_PATH)
        async def search_async() -> Any:
            q = request.args.get("q", "")
            limit = request.args.get("limit", 10, type=int)
            return {"q": q, "limit": limit}

    else:

        @app.post(ORDERS_PATH)
        def create_order() -> Any:
            try:
                order = Order.model_validate_json(request.get_data())
            except ValidationError as exc:
                return _invalid(exc)
            return receipt_for(order).model_dump(), CREATED

        @app.get(SEARCH_PATH)
        def search() -> Any:
            q = request.args.get("q", "")
            limit = request.args.get("limit", 10, type=int)
            return {"q": q, "limit": limit}

    return app


VARIANTS = [
    Variant(
        name="erlen-wsgi",
        framework="erlen",
        protocol="wsgi",
        views="sync",
        main=create_typed_app,
        description="Erlen, @typed def views, WSGI door",
    ),
    Variant(
        name="erlen-asgi",
        framework="erlen",
        protocol="asgi",
        views="async",
        main=lambda: create_typed_app(asynchronous=True),
        description="Erlen, @typed async def views, ASGI door",
    ),
    Variant(
        name="erlen-wsgi-plain",
        framework="erlen",
        protocol="wsgi",
        views="sync",
        main=create_plain_app,
        description="Erlen, the same def views written by hand (Flask style), WSGI door",
    ),
    Variant(
        name="erlen-asgi-plain",
        framework="erlen",
        protocol="asgi",
        views="async",
        main=lambda: create_plain_app(asynchronous=True),
        description="Erlen, the same async def views written by hand (Flask style), ASGI door",
    ),
]
