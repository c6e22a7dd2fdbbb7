"""Litestar: the typed scenarios with ``async def`` route handlers, through ASGI.

``data: JSONBody[Order]`` is validated by Pydantic through Litestar's built-in Pydantic plugin, and the
``Receipt`` it returns is serialized by the same plugin.  Litestar answers invalid input with
400; an exception handler for its ``ValidationException`` makes that the 422 every app in this
benchmark answers, with Litestar's own error details.  Annotations are evaluated eagerly (no
``from __future__ import annotations``): Litestar reads them to build its signature models.
"""

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, JSONBody

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


def unprocessable(request: Request, exc: ValidationException) -> Response[dict[str, object]]:
    """Answer a validation failure with 422 and Litestar's error details."""
    return Response(
        {"status_code": INVALID, "detail": exc.detail, "extra": exc.extra},
        status_code=INVALID,
        media_type=MediaType.JSON,
    )


def create_app() -> Litestar:
    """Build the app."""

    @post(ORDERS_PATH, status_code=CREATED)
    async def create_order(data: JSONBody[Order]) -> Receipt:
        return receipt_for(data)

    @get(SEARCH_PATH)
    async def search(q: FromQuery[str], limit: FromQuery[int] = 10) -> dict[str, object]:
        return {"q": q, "limit": limit}

    return Litestar(
        route_handlers=[create_order, search],
        exception_handlers={ValidationException: unprocessable},
    )


VARIANTS = [
    Variant(
        name="litestar",
        framework="litestar",
        protocol="asgi",
        views="async",
        main=create_app,
        description="Litestar, async def handlers, Pydantic plugin, ASGI",
    ),
]
