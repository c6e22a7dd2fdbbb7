"""FastAPI: the typed scenarios with ``async def`` path operations, through ASGI.

The body parameter ``order: Order`` is validated by Pydantic; the return annotation ``-> Receipt``
is FastAPI's response model.  Invalid input gets FastAPI's own 422.  FastAPI also serves its
documentation routes (``/openapi.json``, ``/docs``) as it does by default.
"""

from fastapi import FastAPI

from bench.apps.common import Variant
from bench.apps.typed_models import CREATED, ORDERS_PATH, SEARCH_PATH, Order, Receipt, receipt_for


def create_app() -> FastAPI:
    """Build the app."""
    app = FastAPI(title="Shop", version="1.0")

    @app.post(ORDERS_PATH, status_code=CREATED)
    async def create_order(order: Order) -> Receipt:
        return receipt_for(order)

    @app.get(SEARCH_PATH)
    async def search(q: str, limit: int = 10) -> dict[str, object]:
        return {"q": q, "limit": limit}

    return app


VARIANTS = [
    Variant(
        name="fastapi",
        framework="fastapi",
        protocol="asgi",
        views="async",
        main=create_app,
        description="FastAPI, async def path operations, ASGI",
    ),
]
