"""The request and response classes, under the module name Flask users import them from."""

from __future__ import annotations

from .request import Request as Request
from .response import Response as Response

__all__ = ["Request", "Response"]
