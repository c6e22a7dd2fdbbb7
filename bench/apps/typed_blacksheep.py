"""BlackSheep: the typed scenarios with ``async def`` request handlers, through ASGI.

``FromJSON[Order]`` binds the body and BlackSheep validates it with ``Order.model_validate``;
the ``Receipt`` goes out through ``json()``, whose encoder dumps Pydantic models.  BlackSheep
answers a body that fails validation with 400 (``InvalidRequestBody``, raised from Pydantic's
``ValidationError``); the app registers a handler that makes it the 422 every app in this
benchmark answers, with Pydantic's error list.  Query parameters ``q`` and ``limit`` bind from
the query string by name and annotation.
"""

from __future__ import annotations

from blacksheep import Application, Content, FromJSON, Request, Response, json
from blacksheep.server.bindings import InvalidRequestBody
from blacksheep.server.routing import Router
from pydantic import ValidationError

from bench.apps.common import Variant
from bench.apps.typed_models import CREATED, INVALID, ORDERS_PATH, SEARCH_PATH, receipt_for
from bench.apps.typed_models import Order as Order  # resolved by name from the annotations


async def unprocessable(app: Application, request: Request, error: InvalidRequestBody) -> Response:
    """Answer a body that failed validation with 422 and Pydantic's error list."""
    cause = error.__cause__
    if isinstance(cause, ValidationError):
        return Response(INVALID, content=Content(b"application/json", cause.json().encode()))
    return Response(400, content=Content(b"text/plain", f"Bad Request: {error}".encode()))


def create_app() -> Application:
    """Build the app (its own ``Router``: BlackSheep's default one is shared process-wide)."""
    app = Application(router=Router())
    app.exceptions_handlers[InvalidRequestBody] = unprocessable

    @app.router.post(ORDERS_PATH)
    async def create_order(order: FromJSON[Order]) -> Response:
        return json(receipt_for(order.value), status=CREATED)

    @app.router.get(SEARCH_PATH)
    async def search(q: str, limit: int = 10) -> Response:
        return json({"q": q, "limit": limit})

    return app


VARIANTS = [
    Variant(
        name="blacksheep",
        framework="blacksheep",
        protocol="asgi",
        views="async",
        main=create_app,
        description="BlackSheep, async def handlers, FromJSON[Order], ASGI",
    ),
]
