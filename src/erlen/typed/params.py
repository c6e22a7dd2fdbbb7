"""Markers that say where a typed view's parameter comes from: ``Query``, ``Header`` ...

A marker goes in ``Annotated[T, Query(...)]`` or, as FastAPI users write it, as the
parameter's default (``limit: int = Query(10, ge=1)``). Its keyword constraints
(``ge``, ``max_length``, ``pattern`` ...) are Pydantic's ``Field`` constraints.
"""

from __future__ import annotations

from typing import Any

#: The marker of "no default": the parameter is required.
REQUIRED: Any = ...

#: Where a parameter may come from, as OpenAPI spells it ("body", "form" and "file"
#: are all in the request body).
SOURCES = ("path", "query", "header", "cookie", "body", "form", "file")


class Param:
    """Where a view parameter comes from, its default, alias and constraints."""

    source = "query"

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        alias: str | None = None,
        description: str | None = None,
        deprecated: bool = False,
        examples: list[Any] | None = None,
        include_in_schema: bool = True,
        **constraints: Any,
    ) -> None:
        self.default = default
        self.alias = alias
        self.description = description
        self.deprecated = deprecated
        self.examples = examples
        self.include_in_schema = include_in_schema
        self.constraints = constraints

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self.default!r}, alias={self.alias!r})"


class Path(Param):
    """A variable of the URL rule (``<int:item_id>``); the default for names in the rule."""

    source = "path"


class Query(Param):
    """A query-string parameter; the default for scalars and lists of scalars."""

    source = "query"


class Header(Param):
    """A request header; ``x_token`` reads ``X-Token`` unless ``convert_underscores=False``."""

    source = "header"

    def __init__(
        self, default: Any = REQUIRED, *, convert_underscores: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(default, **kwargs)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A cookie of the request."""

    source = "cookie"


class Body(Param):
    """The JSON body; the default for models. ``embed=True`` reads the body's key of that name."""

    source = "body"

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        embed: bool = False,
        media_type: str = "application/json",
        **kwargs: Any,
    ) -> None:
        super().__init__(default, **kwargs)
        self.embed = embed
        self.media_type = media_type


class Form(Param):
    """A field of a form body (urlencoded or multipart), or a model built from all fields."""

    source = "form"


class File(Param):
    """An uploaded file (``FileStorage``) of a multipart body; ``list[FileStorage]`` for several."""

    source = "file"


__all__ = ["Body", "Cookie", "File", "Form", "Header", "Param", "Path", "Query"]
