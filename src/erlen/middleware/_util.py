"""Helpers the middleware modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..app import Erlen
    from ..request import Request
    from ..response import Response

F = TypeVar("F", bound=Callable[..., Any])


def _add_vary(response: Response, value: str) -> None:
    current = response.headers.get("Vary")
    if not current:
        response.headers["Vary"] = value
    elif current.strip() != "*" and value.lower() not in (
        v.strip().lower() for v in current.split(",")
    ):
        response.headers["Vary"] = f"{current}, {value}"


def _view_of(app: Erlen, request: Request) -> Callable[..., Any] | None:
    endpoint = request.endpoint
    return app.view_functions.get(endpoint) if endpoint is not None else None


def _blueprint_names(target: Any) -> str | None:
    from ..blueprints import Blueprint

    return target.name if isinstance(target, Blueprint) else None


# -- security headers --------------------------------------------------------------------------
