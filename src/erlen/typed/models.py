"""Validation and serialization of one annotated type, by Pydantic or by msgspec.

:func:`adapter_for` returns an :class:`Adapter` for a type: Pydantic v2's ``TypeAdapter``
handles models, dataclasses, ``TypedDict``, scalars and containers of them; a type that
holds a msgspec ``Struct`` is handled by msgspec. Both report errors as the same list of
``{"loc", "msg", "type"}`` dicts, with the location relative to the value.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

from werkzeug.datastructures import FileStorage

try:  # msgspec is optional: its Structs are supported where it is installed
    import msgspec
except ImportError:  # pragma: no cover - msgspec is installed in the test environment
    msgspec = None  # type: ignore[assignment]


class ValidationFailed(Exception):
    """A value did not match its type; ``errors`` lists each problem with its location."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _pydantic() -> Any:
    try:
        import pydantic
    except ImportError as e:  # pragma: no cover - pydantic is installed in the tests
        raise RuntimeError(
            "Typed views need Pydantic v2: pip install 'erlen[typed]' (or pydantic)"
        ) from e
    return pydantic


def _is_struct(tp: Any) -> bool:
    return msgspec is not None and isinstance(tp, type) and issubclass(tp, msgspec.Struct)


try:  # typing_extensions' TypedDict (which Pydantic needs before 3.12) is its own class
    from typing_extensions import is_typeddict as _is_typeddict_any
except ImportError:  # pragma: no cover
    _is_typeddict_any = typing.is_typeddict


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and _is_typeddict_any(tp)


def is_model(tp: Any) -> bool:
    """Tell whether ``tp`` is a model class: Pydantic, dataclass, ``TypedDict`` or Struct."""
    if not isinstance(tp, type):
        return False
    if dataclasses.is_dataclass(tp) or _is_typeddict(tp) or _is_struct(tp):
        return True
    base = sys.modules.get("pydantic")
    return base is not None and issubclass(tp, base.BaseModel)


def strip_annotated(tp: Any) -> Any:
    """``Annotated[T, ...]`` -> ``T``; anything else unchanged."""
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def walk(tp: Any) -> list[Any]:
    """The type and every type nested in its arguments (``list[Item] | None`` -> all three)."""
    tp = strip_annotated(tp)
    found = [tp]
    for arg in get_args(tp):
        if arg is not Ellipsis and not isinstance(arg, (str, int, list)):
            found.extend(walk(arg))
    return found


def holds_model(tp: Any) -> bool:
    """Tell whether ``tp`` is a model or a container of models."""
    return any(is_model(t) for t in walk(tp))


def is_file_type(tp: Any) -> bool:
    """Tell whether ``tp`` is ``FileStorage`` or a list/optional of it."""
    return any(t is FileStorage for t in walk(tp))


def is_sequence(tp: Any) -> bool:
    """Tell whether ``tp`` (or the non-None member of an optional) is a list, set or tuple."""
    tp = strip_annotated(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        return len(members) == 1 and is_sequence(members[0])
    return origin in (list, set, frozenset, tuple) or tp in (list, set, frozenset, tuple)


class Adapter:
    """Validates values of one type and serializes them to JSON, whatever the library."""

    #: Validate a Python value (query strings are converted as Pydantic's lax mode does).
    validate_python: Callable[[Any], Any]
    #: Validate a JSON document given as bytes.
    validate_json: Callable[[bytes], Any]
    #: Serialize a valid value to JSON bytes.
    dump_json: Callable[[Any], bytes]
    #: Convert a valid value to plain JSON-compatible Python data.
    dump_python: Callable[[Any], Any]
    #: PERF: the library's own validation of a Python value, raising ``error_type``
    #: (turned into a list of errors by ``errors_of``): no wrapper on the hot path.
    raw_validate_python: Callable[[Any], Any]
    error_type: type[Exception]
    errors_of: Callable[[Any], list[dict[str, Any]]]
    #: Validate what a view returns: like ``raw_validate_python``, and an object of
    #: another class is read by its attributes (a ``UserIn`` returned as ``UserOut``).
    validate_output: Callable[[Any], Any]

    def json_schema(
        self, ref_prefix: str, mode: str = "validation"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The type's JSON Schema and the definitions it refers to (``$ref`` = prefix + name).

        ``mode`` is ``"validation"`` (what a request may send) or ``"serialization"``
        (what a response carries).
        """
        raise NotImplementedError


class PydanticAdapter(Adapter):
    """An :class:`Adapter` on Pydantic v2's ``TypeAdapter``."""

    def __init__(self, tp: Any, namespace: dict[str, Any] | None = None) -> None:
        pydantic = _pydantic()
        self._type = tp
        config = None
        if not is_model(strip_annotated(tp)):  # a model carries its own config
            config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        try:
            adapter = pydantic.TypeAdapter(tp, config=config)
        except pydantic.PydanticUserError:  # a model with its own config takes none
            adapter = pydantic.TypeAdapter(tp)
        if not _complete(adapter) and namespace:
            # A model whose string annotations name types Pydantic could not see where the
            # model was defined (a model made in a function): resolve them where the
            # view was defined.
            for model in walk(tp):
                if isinstance(model, type) and hasattr(model, "model_rebuild"):
                    model.model_rebuild(_types_namespace=namespace, raise_errors=False)
            adapter = pydantic.TypeAdapter(tp, config=config if config else None)
        self._adapter = adapter
        self._error = pydantic.ValidationError
        self.raw_validate_python = adapter.validator.validate_python
        self.validate_output = functools.partial(
            adapter.validator.validate_python, from_attributes=True
        )
        self.error_type = pydantic.ValidationError
        self.errors_of = _pydantic_errors
        self.is_file = is_file_type(tp)
        # PERF: pydantic-core's validator and serializer, without TypeAdapter's wrappers.
        self._validate_python = adapter.validator.validate_python
        self._validate_json = adapter.validator.validate_json
        # Answers use the fields' aliases, as the document (and FastAPI) say.
        self.dump_json = functools.partial(adapter.serializer.to_json, by_alias=True)
        self.dump_python = self._dump_python

    def _dump_python(self, value: Any) -> Any:
        return self._adapter.dump_python(value, mode="json", by_alias=True)

    def validate_python(self, value: Any) -> Any:
        try:
            return self._validate_python(value)
        except self._error as e:
            raise ValidationFailed(_pydantic_errors(e)) from None

    def validate_json(self, data: bytes) -> Any:
        try:
            return self._validate_json(data)
        except self._error as e:
            raise ValidationFailed(_pydantic_errors(e)) from None

    def json_schema(
        self, ref_prefix: str, mode: str = "validation"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.is_file:
            return _file_schema(strip_annotated(self._type)), {}
        schema = dict(self._adapter.json_schema(ref_template=ref_prefix + "{model}", mode=mode))
        defs = schema.pop("$defs", {})
        return schema, defs


def _complete(adapter: Any) -> bool:
    try:
        adapter.validator.validate_python  # noqa: B018 - a mock validator raises here
    except Exception:
        return False
    return True


def _file_schema(tp: Any) -> dict[str, Any]:
    # OpenAPI 3.1 spells a file as JSON Schema does (3.0's "format: binary" is gone).
    one = {"type": "string", "contentMediaType": "application/octet-stream"}
    if is_sequence(tp):
        return {"type": "array", "items": one}
    return one


def _pydantic_errors(e: Any) -> list[dict[str, Any]]:
    return [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in e.errors(include_url=False, include_input=False, include_context=False)
    ]


_MSGSPEC_PATH = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _msgspec_errors(e: Exception) -> list[dict[str, Any]]:
    text = str(e)
    loc: list[Any] = []
    msg, sep, path = text.rpartition(" - at `")
    if not sep:
        msg = text
    else:
        for name, index in _MSGSPEC_PATH.findall(path.rstrip("`").removeprefix("$")):
            loc.append(int(index) if index else name)
    kind = "missing" if msg.startswith("Object missing required field") else "value_error"
    if msg.startswith("Object missing required field"):
        field = msg.split("`")[1] if "`" in msg else ""
        if field:
            loc.append(field)
        msg = "Field required"
    return [{"loc": loc, "msg": msg, "type": kind}]


class MsgspecAdapter(Adapter):
    """An :class:`Adapter` on msgspec, for types that hold a ``Struct``."""

    def __init__(self, tp: Any) -> None:
        assert msgspec is not None
        self._type = strip_annotated(tp)
        self._decoder = msgspec.json.Decoder(self._type)
        self._encoder = msgspec.json.Encoder()
        self.dump_json = self._encoder.encode
        self.dump_python = msgspec.to_builtins
        self.raw_validate_python = functools.partial(msgspec.convert, type=self._type, strict=False)
        self.validate_output = functools.partial(
            msgspec.convert, type=self._type, strict=False, from_attributes=True
        )
        self.error_type = msgspec.ValidationError
        self.errors_of = _msgspec_errors

    def validate_python(self, value: Any) -> Any:
        try:
            return msgspec.convert(value, self._type, strict=False)
        except msgspec.ValidationError as e:
            raise ValidationFailed(_msgspec_errors(e)) from None

    def validate_json(self, data: bytes) -> Any:
        try:
            return self._decoder.decode(data)
        except msgspec.ValidationError as e:
            raise ValidationFailed(_msgspec_errors(e)) from None
        except msgspec.DecodeError as e:
            raise ValidationFailed(
                [{"loc": [], "msg": f"Invalid JSON: {e}", "type": "json_invalid"}]
            ) from None

    def json_schema(
        self, ref_prefix: str, mode: str = "validation"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        (schema,), defs = msgspec.json.schema_components(
            [self._type], ref_template=ref_prefix + "{name}"
        )
        return dict(schema), dict(defs)


_cache: dict[Any, Adapter] = {}


def adapter_for(tp: Any, namespace: dict[str, Any] | None = None) -> Adapter:
    """The :class:`Adapter` of a type (cached per type).

    ``namespace`` resolves the string annotations of models that Pydantic could not
    resolve where they were defined (the globals and closure of the view).
    """
    try:
        return _cache[tp]
    except (KeyError, TypeError):
        pass
    adapter: Adapter
    if any(_is_struct(t) for t in walk(tp)):
        adapter = MsgspecAdapter(tp)
    else:
        adapter = PydanticAdapter(tp, namespace)
    try:
        _cache[tp] = adapter
    except TypeError:  # an unhashable annotation (a marker holding a list): not cached
        pass
    return adapter


__all__ = [
    "Adapter",
    "MsgspecAdapter",
    "PydanticAdapter",
    "ValidationFailed",
    "adapter_for",
    "holds_model",
    "is_file_type",
    "is_model",
    "is_sequence",
    "strip_annotated",
    "walk",
]
