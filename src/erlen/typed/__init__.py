"""Typed views: request validation, serialization and an OpenAPI document from type hints.

Opt in per view with :func:`typed` below the route decorator; plain Flask views are
unchanged. Needs Pydantic v2 (``pip install 'erlen[typed]'``); msgspec ``Struct``\\ s are
supported where msgspec is installed. :class:`OpenAPI` serves the document and an
interactive documentation page whose assets the app serves itself.
"""

from __future__ import annotations

from .docs import OpenAPI as OpenAPI
from .errors import PROBLEM_JSON as PROBLEM_JSON
from .errors import RequestValidationError as RequestValidationError
from .errors import ResponseValidationError as ResponseValidationError
from .errors import problem_response as problem_response
from .openapi import Problem as Problem
from .openapi import exclude_from_openapi as exclude_from_openapi
from .openapi import openapi_document as openapi_document
from .params import Body as Body
from .params import Cookie as Cookie
from .params import File as File
from .params import Form as Form
from .params import Header as Header
from .params import Path as Path
from .params import Query as Query
from .view import typed as typed
from .view import typed_spec as typed_spec
