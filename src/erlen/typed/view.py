"""The ``@typed`` decorator: a view's annotated parameters read from the request and validated.

``@typed`` wraps one view; plain views are untouched and pay nothing. The wrapper reads
each annotated parameter from where it belongs (the URL rule's variables, the query
string, headers, cookies, the JSON body, form fields or files), validates it with its
:class:`~erlen.typed.models.Adapter`, and calls the view; the return annotation then
validates and serializes what the view returns. Everything that depends only on the
view (the parameters, their sources and adapters) is compiled once, on first use, so
annotations may refer to models defined after the view.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin, overload

from werkzeug.exceptions import HTTPException, InternalServerError

from ..globals import _cv_request
from ..response import Response, complete_response
from . import params as markers
from .errors import (
    RequestValidationError,
    ResponseValidationError,
    UnsupportedBodyType,
    as_problem,
)
from .models import (
    Adapter,
    ValidationFailed,
    adapter_for,
    holds_model,
    is_file_type,
    is_model,
    is_sequence,
    strip_annotated,
)

F = TypeVar("F", bound=Callable[..., Any])

_MISSING: Any = markers.REQUIRED
_JSON = "application/json"
#: Annotations that leave the return value to Flask's rules (text, a response, anything).
_UNTYPED_RETURNS = (str, bytes, Response, Any, type(None))


class ParamSpec:
    """One parameter of a typed view: where it is read, under which name, and its type."""

    __slots__ = (
        "adapter",
        "alias",
        "annotation",
        "constrained",
        "default",
        "embed",
        "explicit",
        "marker",
        "model_fields",
        "name",
        "required",
        "sequence",
        "source",
    )

    def __init__(
        self,
        name: str,
        annotation: Any,
        marker: markers.Param | None,
        explicit: bool,
        namespace: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        #: True when a marker says where the value comes from (else the type decides).
        self.explicit = explicit
        self.annotation = annotation
        self.marker = marker
        bare = strip_annotated(annotation)
        if marker is not None:
            source = marker.source
        elif is_file_type(bare):
            source = "file"
        elif holds_model(bare) or get_origin(bare) is dict:
            source = "body"
        else:
            source = "query"
        self.source = source
        default = marker.default if marker is not None else _MISSING
        self.default = default
        self.required = default is _MISSING
        alias = marker.alias if marker is not None and marker.alias else name
        if (
            source == "header"
            and not (marker is not None and marker.alias)
            and getattr(marker, "convert_underscores", True)
        ):
            alias = name.replace("_", "-")
        self.alias = alias
        self.embed = bool(getattr(marker, "embed", False))
        self.sequence = is_sequence(bare)
        # A model read from several query parameters, headers, cookies or form fields.
        self.model_fields: ModelFields | None = None
        if source in ("query", "header", "cookie", "form") and is_model(bare):
            self.model_fields = ModelFields(
                bare, source == "header" and getattr(marker, "convert_underscores", True)
            )
        constrained = annotation
        if marker is not None and marker.constraints:
            from pydantic import Field

            constrained = typing.Annotated[annotation, Field(**marker.constraints)]
        #: The annotation with the marker's constraints, as validated and documented.
        self.constrained = constrained
        self.adapter: Adapter = adapter_for(constrained, namespace)

    def missing(self) -> dict[str, Any]:
        """The error for a required parameter that is absent."""
        return {"loc": [self.source, self.alias], "msg": "Field required", "type": "missing"}


class ModelFields:
    """How one model is read from several query parameters, headers, cookies or form fields.

    Each field is looked up under its alias or name (for headers, ``x_token`` is read
    from ``X-Token``); a list field takes every value. A Pydantic model that forbids extra
    fields also gets the keys that no other parameter of the view claims (``skip``), so
    an unknown query parameter is the error the model asks for.
    """

    __slots__ = ("extra", "fields", "locations", "skip")

    def __init__(self, model: Any, convert_underscores: bool) -> None:
        #: (key the model reads, key in the request, whether it holds a list)
        self.fields: list[tuple[str, str, bool]] = []
        pydantic_fields = getattr(model, "model_fields", None)
        if pydantic_fields is not None:
            for name, field in pydantic_fields.items():
                key = field.alias or name
                wire = key if field.alias or not convert_underscores else name.replace("_", "-")
                self.fields.append((key, wire, is_sequence(field.annotation)))
            self.extra = getattr(model, "model_config", {}).get("extra") == "forbid"
        else:
            for name, tp in typing.get_type_hints(model).items():
                wire = name.replace("_", "-") if convert_underscores else name
                self.fields.append((name, wire, is_sequence(tp)))
            self.extra = False
        self.skip: set[str] = {wire for _, wire, _ in self.fields}
        #: An error's location by the model's key -> by the request's key.
        self.locations = {key: wire for key, wire, _ in self.fields if key != wire}

    def collect(self, values: Any) -> dict[str, Any]:
        """The model's input from a multi-dict (query, form, cookies) or headers."""
        data: dict[str, Any] = {}
        if self.extra and hasattr(values, "lists"):
            skip = self.skip
            for key, found in values.lists():
                if key not in skip:
                    data[key] = found[0] if len(found) == 1 else found
        for key, wire, many in self.fields:
            if many:
                found = values.getlist(wire)
                if found:
                    data[key] = found
            else:
                value = values.get(wire)
                if value is not None:
                    data[key] = value
        return data

    def relocate(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Errors located by the request's keys (``x-token``) rather than the model's."""
        if self.locations:
            for error in errors:
                loc = error["loc"]
                if loc and loc[0] in self.locations:
                    loc[0] = self.locations[loc[0]]
        return errors


def _located(source: str, alias: str | None, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefix: list[Any] = [source] if alias is None else [source, alias]
    for error in errors:
        error["loc"] = prefix + error["loc"]
    return errors


class ViewSpec:
    """What ``@typed`` knows about a view: its parameters, return type and OpenAPI details."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        status_code: int | None,
        responses: dict[int, Any] | None,
        tags: list[str] | None,
        summary: str | None,
        description: str | None,
        deprecated: bool,
        operation_id: str | None,
        include_in_schema: bool,
        response_model: Any,
    ) -> None:
        self.func = func
        self.status_code = status_code
        self.responses = dict(responses or {})
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.include_in_schema = include_in_schema
        self._response_model = response_model
        self.compiled = False
        self.params: list[ParamSpec] = []
        self.body_params: list[ParamSpec] = []
        self.return_type: Any = None
        self.return_adapter: Adapter | None = None
        self.returns_none = False
        self._readers: list[Callable[[Any, dict[str, Any], list[dict[str, Any]]], None]] = []

    # -- compilation -------------------------------------------------------------------------

    def compile(self) -> ViewSpec:
        """Read the signature and build the readers (once; later calls return at once)."""
        if self.compiled:
            return self
        func = self.func
        namespace = _namespace_of(func)
        hints = typing.get_type_hints(func, globalns=namespace, include_extras=True)
        signature = inspect.signature(func)
        specs: list[ParamSpec] = []
        for i, (name, parameter) in enumerate(signature.parameters.items()):
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if i == 0 and name in ("self", "cls"):
                continue
            annotation = hints.get(name, Any)
            marker = _marker_of(annotation)
            explicit = marker is not None
            default = parameter.default
            if isinstance(default, markers.Param):
                marker, explicit = default, True
            elif default is not parameter.empty:
                if marker is None:
                    marker = _implied_marker(annotation)
                    marker.default = default
                else:
                    marker = _with_default(marker, default)
            specs.append(ParamSpec(name, annotation, marker, explicit, namespace))
        for p in specs:
            if p.model_fields is not None:
                # A model that forbids extra keys leaves the other parameters' keys alone.
                p.model_fields.skip.update(
                    other.alias for other in specs if other is not p and other.source == p.source
                )
        self.params = specs
        self.body_params = [p for p in specs if p.source == "body"]
        if len(self.body_params) > 1:
            for p in self.body_params:
                p.embed = True
        readers = []
        for p in specs:
            if p.source == "body":
                continue
            readers.append(_reader(p))
        if self.body_params:
            readers.append(self._body_reader())
        self._readers = readers
        returns = (
            self._response_model
            if self._response_model is not _UNSET
            else hints.get("return", inspect.Signature.empty)
        )
        body_type = _body_type_of(returns)
        self.returns_none = returns is None or returns is type(None)
        self.return_type = body_type
        if body_type is not None:
            self.return_adapter = adapter_for(body_type, namespace)
        self.compiled = True
        return self

    def _body_reader(self) -> Callable[[Any, dict[str, Any], list[dict[str, Any]]], None]:
        body_params = self.body_params
        if len(body_params) == 1 and not body_params[0].embed:
            p = body_params[0]
            media_type = getattr(p.marker, "media_type", _JSON)
            validate_json = p.adapter.validate_json

            def read_whole(request: Any, out: dict[str, Any], errors: list[dict[str, Any]]) -> None:
                data = request.get_data()
                if not data:
                    if p.required:
                        errors.append({"loc": ["body"], "msg": "Field required", "type": "missing"})
                    else:
                        out[p.name] = p.default
                    return
                _check_json(request, media_type)
                try:
                    out[p.name] = validate_json(_as_utf8(data))
                except ValidationFailed as e:
                    errors.extend(_located("body", None, e.errors))

            return read_whole

        def read_embedded(request: Any, out: dict[str, Any], errors: list[dict[str, Any]]) -> None:
            data = request.get_data()
            document: Any = None
            if data:
                _check_json(request, _JSON)
                try:
                    document = json.loads(data)
                except (ValueError, RecursionError) as e:
                    errors.append(
                        {"loc": ["body"], "msg": f"Invalid JSON: {e}", "type": "json_invalid"}
                    )
                    return
                if not isinstance(document, dict):
                    errors.append(
                        {"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}
                    )
                    return
            for p in body_params:
                value = document.get(p.alias, _MISSING) if document else _MISSING
                if value is _MISSING:
                    if p.required:
                        errors.append(
                            {"loc": ["body", p.alias], "msg": "Field required", "type": "missing"}
                        )
                    else:
                        out[p.name] = p.default
                    continue
                try:
                    out[p.name] = p.adapter.validate_python(value)
                except ValidationFailed as e:
                    errors.extend(_located("body", p.alias, e.errors))

        return read_embedded

    # -- per request -------------------------------------------------------------------------

    def read(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Read and validate the parameters; ``kwargs`` (the URL's values) is filled in."""
        request = _cv_request.get().request
        errors: list[dict[str, Any]] = []
        for read in self._readers:
            read(request, kwargs, errors)
        if errors:
            raise RequestValidationError(errors)
        return kwargs

    def respond(self, rv: Any) -> Any:
        """Serialize what the view returned by the return annotation (Flask's rules otherwise)."""
        adapter = self.return_adapter
        status = self.status_code
        if rv is None and self.returns_none:
            # ``-> None`` (a DELETE, say): an empty answer, 204 unless told otherwise.
            return _empty_response(status or 204)
        if adapter is None:
            kind = type(rv)
            # PERF: what Flask already knows how to answer is decided by one dict lookup.
            adapter = _returned_models.get(kind, _MISSING)
            if adapter is _MISSING:
                adapter = adapter_for(kind) if is_model(kind) else None
                if len(_returned_models) < 1024:
                    _returned_models[kind] = adapter
            if adapter is None:
                if status is None or isinstance(rv, (tuple, Response)):
                    return rv
                return rv, status
        rest: tuple[Any, ...] = ()
        if type(rv) is tuple:
            rv, rest = rv[0], rv[1:]
            if isinstance(rv, Response):
                return (rv, *rest)
            if status is not None and len(rest) == 1 and not isinstance(rest[0], (int, str)):
                rest = (status, rest[0])
        elif isinstance(rv, Response):
            return rv
        elif status is not None:
            rest = (status,)
        ctx = _cv_request.get()
        try:
            data = adapter.dump_json(adapter.validate_output(rv))
        except adapter.error_type as e:
            data = self._mismatch(ctx, rv, adapter.errors_of(e))
        response = complete_response(ctx.app.response_class, data, _JSON)
        return (response, *rest) if rest else response

    def _mismatch(self, ctx: Any, rv: Any, errors: list[dict[str, Any]]) -> bytes:
        """A return value that breaks the annotation: the server's bug, never sent as is.

        In debug or testing mode the 500 names the view and the fields; in production
        the details go to the log and the client gets a plain 500 (the value may hold
        fields the declared type was meant to hide).
        """
        app = ctx.app
        endpoint = ctx.request.endpoint
        if app.debug or app.testing:
            raise ResponseValidationError(endpoint, errors)
        app.logger.error(
            "The view %r returned a value that does not match its return annotation %r: %s",
            endpoint,
            self.return_type,
            errors,
        )
        raise InternalServerError()


_UNSET: Any = object()


def _empty_response(status: int) -> Response:
    ctx = _cv_request.get()
    response: Response = ctx.app.response_class(b"", status)
    response.headers.pop("Content-Type", None)
    return response


def _namespace_of(func: Any) -> dict[str, Any]:
    """Where the view's string annotations resolve: its module's globals and its closure."""
    inner = inspect.unwrap(func)
    namespace = dict(getattr(inner, "__globals__", {}))
    try:
        namespace.update(inspect.getclosurevars(inner).nonlocals)
    except (TypeError, ValueError):  # pragma: no cover - not a Python function
        pass
    return namespace


#: For views without a return annotation: the adapter of each model class returned, None
#: for the types Flask answers itself.
_returned_models: dict[type, Adapter | None] = {}


def _marker_of(annotation: Any) -> markers.Param | None:
    if get_origin(annotation) is typing.Annotated:
        for extra in reversed(get_args(annotation)[1:]):
            if isinstance(extra, markers.Param):
                return extra
    return None


def _implied_marker(annotation: Any) -> markers.Param:
    bare = strip_annotated(annotation)
    if is_file_type(bare):
        return markers.File()
    if holds_model(bare):
        return markers.Body()
    return markers.Query()


def _with_default(marker: markers.Param, default: Any) -> markers.Param:
    copy = object.__new__(type(marker))
    copy.__dict__.update(marker.__dict__)
    copy.default = default
    return copy


def _body_type_of(returns: Any) -> Any:
    """The type a return annotation gives the response body, or None to leave it untyped."""
    if returns is inspect.Signature.empty or returns is None:
        return None
    bare = strip_annotated(returns)
    if get_origin(bare) is tuple:  # Flask's (body, status[, headers])
        args = get_args(bare)
        if not args:
            return None
        returns, bare = args[0], strip_annotated(args[0])
    if bare in _UNTYPED_RETURNS or isinstance(bare, str):
        return None
    if isinstance(bare, type) and issubclass(bare, Response):
        return None
    origin = get_origin(bare)
    if origin is not None and any(
        isinstance(a, type) and issubclass(a, Response) for a in get_args(bare)
    ):
        return None
    if bare is dict or bare is list:
        return None
    return returns


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _as_utf8(data: bytes) -> bytes:
    """JSON bytes as UTF-8: a byte-order mark dropped, UTF-16 or UTF-32 re-encoded.

    PERF: the common body starts with ``{`` or ``[`` and is returned at once.
    """
    if data[:1] in (b"{", b"[") and data[1:2] != b"\x00":
        return data
    if data.startswith(_BOMS) or b"\x00" in data[:4]:
        try:
            return data.decode(json.detect_encoding(data)).lstrip("\ufeff").encode()
        except (UnicodeDecodeError, LookupError):
            return data  # the validator reports it as invalid JSON
    return data


def _check_json(request: Any, expected: str) -> None:
    mimetype = request.mimetype
    if not mimetype or mimetype in (expected, _JSON):
        return
    if mimetype.startswith("application/") and mimetype.endswith("+json"):
        return
    raise UnsupportedBodyType(mimetype, expected)


_SOURCE_ATTRIBUTES = {
    "query": "args",
    "header": "headers",
    "cookie": "cookies",
    "form": "form",
    "file": "files",
}


def _reader(p: ParamSpec) -> Callable[[Any, dict[str, Any], list[dict[str, Any]]], None]:
    """A function that reads one parameter from the request into ``out``."""
    name, alias, source = p.name, p.alias, p.source
    # PERF: a plain ``str`` read from the request is valid as it is.
    plain_str = p.annotation is str and not (p.marker is not None and p.marker.constraints)
    raw_validate = p.adapter.raw_validate_python
    error_type, errors_of = p.adapter.error_type, p.adapter.errors_of
    required, default = p.required, p.default
    may_be_path = not p.explicit or source == "path"
    fields = p.model_fields
    attribute = _SOURCE_ATTRIBUTES.get(source)
    lookup: Callable[[Any], Any]
    if attribute is None:  # a Path marker whose name is not in the rule

        def lookup(request: Any) -> Any:
            return None

    elif fields is not None:
        collect = fields.collect

        def lookup(request: Any) -> Any:
            # The model decides what is required: no field at all is an empty input.
            return collect(getattr(request, attribute))

    elif p.sequence and source == "header":

        def lookup(request: Any) -> Any:
            # Servers join repeated fields with commas (RFC 9110 5.3): split them again.
            joined = getattr(request, attribute).getlist(alias)
            return [v.strip() for line in joined for v in line.split(",") if v.strip()] or None

    elif p.sequence:

        def lookup(request: Any) -> Any:
            return getattr(request, attribute).getlist(alias) or None

    else:

        def lookup(request: Any) -> Any:
            return getattr(request, attribute).get(alias)

    def read(request: Any, out: dict[str, Any], errors: list[dict[str, Any]]) -> None:
        if may_be_path and name in out:  # a variable of the URL rule
            try:
                out[name] = raw_validate(out[name])
            except error_type as e:
                errors.extend(_located("path", name, errors_of(e)))
            return
        value = lookup(request)
        if value is None:
            if required:
                errors.append(p.missing())
            else:
                out[name] = default
            return
        if plain_str:
            out[name] = value
            return
        try:
            out[name] = raw_validate(value)
        except error_type as e:
            if fields is not None:
                errors.extend(_located(source, None, fields.relocate(errors_of(e))))
            else:
                errors.extend(_located(source, alias, errors_of(e)))

    return read


@overload
def typed(func: F) -> F: ...


@overload
def typed(
    func: None = None,
    *,
    status_code: int | None = None,
    responses: dict[int, Any] | None = None,
    tags: list[str] | None = None,
    summary: str | None = None,
    description: str | None = None,
    deprecated: bool = False,
    operation_id: str | None = None,
    include_in_schema: bool = True,
    response_model: Any = _UNSET,
) -> Callable[[F], F]: ...


def typed(
    func: Callable[..., Any] | None = None,
    *,
    status_code: int | None = None,
    responses: dict[int, Any] | None = None,
    tags: list[str] | None = None,
    summary: str | None = None,
    description: str | None = None,
    deprecated: bool = False,
    operation_id: str | None = None,
    include_in_schema: bool = True,
    response_model: Any = _UNSET,
) -> Any:
    """Read a view's annotated parameters from the request, validated; serialize its return.

    Put it below the route decorator: ``@app.post("/items")`` then ``@typed``. Names
    in the URL rule are path parameters, models (and lists of them) the JSON body, other
    types query parameters; ``Annotated[T, Header()]`` (or ``= Header(...)``) and the other
    markers of :mod:`erlen.typed` say otherwise. Invalid input raises
    :class:`~erlen.typed.RequestValidationError` (a 422 problem document). The return
    annotation (or ``response_model``) validates and serializes the body: a model, a list
    of models, or Flask's ``(body, status[, headers])`` tuple of them. ``status_code`` is
    the status when the view returns none; ``responses`` maps other statuses to their body
    types for the OpenAPI document, as do ``tags``, ``summary`` and ``description``.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        spec = ViewSpec(
            f,
            status_code=status_code,
            responses=responses,
            tags=tags,
            summary=summary,
            description=description,
            deprecated=deprecated,
            operation_id=operation_id,
            include_in_schema=include_in_schema,
            response_model=response_model,
        )
        view: Callable[..., Any]
        if inspect.iscoroutinefunction(f):

            async def view(*args: Any, **kwargs: Any) -> Any:
                ready = spec if spec.compiled else spec.compile()
                try:
                    rv = await f(*args, **ready.read(kwargs))
                except HTTPException as e:
                    raise as_problem(e).with_traceback(e.__traceback__) from None
                return ready.respond(rv)

        else:

            def view(*args: Any, **kwargs: Any) -> Any:
                ready = spec if spec.compiled else spec.compile()
                try:
                    rv = f(*args, **ready.read(kwargs))
                except HTTPException as e:
                    # abort(404) in a JSON API: a problem document, as the 422s are.
                    raise as_problem(e).with_traceback(e.__traceback__) from None
                return ready.respond(rv)

        functools.update_wrapper(view, f)
        view.__erlen_typed__ = spec  # type: ignore[union-attr]
        return view

    if func is not None:
        return decorate(func)
    return decorate


def typed_spec(func: Any) -> ViewSpec | None:
    """The compiled :class:`ViewSpec` of a ``@typed`` view, or None for a plain view."""
    spec = getattr(func, "__erlen_typed__", None)
    return spec.compile() if isinstance(spec, ViewSpec) else None


__all__ = ["ParamSpec", "ViewSpec", "typed", "typed_spec"]
