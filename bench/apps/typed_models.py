"""What every typed benchmark app shares (``python -m bench.typed``): the Pydantic models, the
requests the scenarios send and the answers they expect.

Every framework validates the same ``Order`` model and answers with the same ``Receipt``, so the
comparison is of the frameworks, not of the models.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field


class Customer(BaseModel):
    """Who placed the order."""

    name: str
    email: str


class Line(BaseModel):
    """One line of an order."""

    sku: str
    qty: Annotated[int, Field(ge=1)]
    price: Annotated[float, Field(ge=0)]


class Order(BaseModel):
    """The body of ``POST /orders``: a small nested model."""

    id: int
    customer: Customer
    items: list[Line]


class Receipt(BaseModel):
    """What ``POST /orders`` answers."""

    order_id: int
    total: float
    lines: int


def receipt_for(order: Order) -> Receipt:
    """The view's work, the same in every framework."""
    total = sum(line.qty * line.price for line in order.items)
    return Receipt(order_id=order.id, total=total, lines=len(order.items))


ORDERS_PATH = "/orders"
SEARCH_PATH = "/search"
CREATED = 201  # every app answers a valid order with 201 Created
INVALID = 422  # and an invalid one with 422 (Litestar and BlackSheep through an error handler)

ORDER: dict[str, Any] = {
    "id": 7,
    "customer": {"name": "Ada", "email": "ada@example.com"},
    "items": [
        {"sku": "A-1", "qty": 2, "price": 9.5},
        {"sku": "B-2", "qty": 1, "price": 20.25},
        {"sku": "C-3", "qty": 3, "price": 1.0},
    ],
}
ORDER_BODY = json.dumps(ORDER).encode()
RECEIPT: dict[str, Any] = {"order_id": 7, "total": 42.25, "lines": 3}

# The third line's price is negative: the error is at ["body", "items", 2, "price"] (FastAPI's
# and Erlen's location; every framework's error body names the field).
BAD_ORDER: dict[str, Any] = {
    **ORDER,
    "items": [*ORDER["items"][:2], {"sku": "C-3", "qty": 3, "price": -1.0}],
}
BAD_ORDER_BODY = json.dumps(BAD_ORDER).encode()
BAD_FIELD = "price"

# GET /search?q=erlen&limit=5 with two typed query parameters (``q: str, limit: int = 10``).
SEARCH_QUERY = "q=erlen&limit=5"
SEARCH_RESULT: dict[str, Any] = {"q": "erlen", "limit": 5}
