"""Type aliases for views, hooks and handlers (the names of ``flask.typing``)."""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

    from .response import Response

#: What a view may return as the body.
ResponseValue = Union[
    "Response",
    str,
    bytes,
    list[Any],
    Mapping[str, Any],
    Iterator[str],
    Iterator[bytes],
    Iterable[str],
    Iterable[bytes],
    AsyncIterable[str],
    AsyncIterable[bytes],
]
#: A single header value.
HeaderValue = Union[str, list[str], tuple[str, ...]]
#: Headers as a view may return them.
HeadersValue = Union[
    "Headers",
    Mapping[str, HeaderValue],
    Sequence[tuple[str, HeaderValue]],
]
#: Everything a view may return, including ``(body, status, headers)`` tuples.
ResponseReturnValue = Union[
    ResponseValue,
    tuple[ResponseValue, HeadersValue],
    tuple[ResponseValue, int],
    tuple[ResponseValue, int, HeadersValue],
    Callable[..., Any],
]
#: The type of ``app.response_class``.
ResponseClass = type["Response"]
#: The key of a registration dict: a blueprint name, or None for the app.
AppOrBlueprintKey = Union[str, None]

AfterRequestCallable = Union[
    Callable[[Any], Any],
    Callable[[Any], Awaitable[Any]],
]
BeforeFirstRequestCallable = Union[Callable[[], None], Callable[[], Awaitable[None]]]
BeforeRequestCallable = Union[
    Callable[[], ResponseReturnValue | None],
    Callable[[], Awaitable[ResponseReturnValue | None]],
]
ShellContextProcessorCallable = Callable[[], dict[str, Any]]
TeardownCallable = Union[
    Callable[[BaseException | None], None],
    Callable[[BaseException | None], Awaitable[None]],
]
TemplateContextProcessorCallable = Union[
    Callable[[], dict[str, Any]],
    Callable[[], Awaitable[dict[str, Any]]],
]
TemplateFilterCallable = Callable[..., Any]
TemplateGlobalCallable = Callable[..., Any]
TemplateTestCallable = Callable[..., bool]
URLDefaultCallable = Callable[[str, dict[str, Any]], None]
URLValuePreprocessorCallable = Callable[[str | None, dict[str, Any] | None], None]
ErrorHandlerCallable = Union[
    Callable[[Any], ResponseReturnValue],
    Callable[[Any], Awaitable[ResponseReturnValue]],
]
RouteCallable = Union[
    Callable[..., ResponseReturnValue],
    Callable[..., Awaitable[ResponseReturnValue]],
]
