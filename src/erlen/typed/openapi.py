"""The OpenAPI 3.1 document of an app, built from its routes.

Every HTTP rule becomes an operation: blueprints give tags, docstrings the summary and
description, the URL converters the path parameters. A ``@typed`` view (or a
``MethodView`` handler) adds its query, header and cookie parameters, its request body,
its response schema, its declared error responses and the 422 problem document. Views
behind the auth battery's decorators carry an ``openapi_security`` attribute that becomes
the operation's security requirement.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..routing.converters import (
    AnyConverter,
    FloatConverter,
    IntegerConverter,
    PathConverter,
    UUIDConverter,
)
from .models import adapter_for, is_model, strip_annotated
from .view import ParamSpec, ViewSpec, typed_spec

if TYPE_CHECKING:
    from ..app import Erlen

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_VERSION = "3.1.0"
_PREFIX = "#/components/schemas/"
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
_IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "PATCH", "TRACE")

#: The security schemes the auth battery's decorators refer to.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "basicAuth": {"type": "http", "scheme": "basic"},
}

_PROBLEM = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status"],
}
_VALIDATION_PROBLEM = {
    "type": "object",
    "title": "ValidationProblem",
    "description": "RFC 9457 problem details with every validation error and where it was found.",
    "properties": {
        **_PROBLEM["properties"],  # type: ignore[dict-item]
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        },
    },
    "required": ["type", "title", "status", "errors"],
}


def openapi_path(rule: str) -> str:
    """``/items/<int:item_id>`` -> ``/items/{item_id}``."""
    return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", rule)


def _converter_schema(converter: Any) -> dict[str, Any]:
    if isinstance(converter, IntegerConverter):
        schema: dict[str, Any] = {"type": "integer"}
    elif isinstance(converter, FloatConverter):
        schema = {"type": "number"}
    elif isinstance(converter, UUIDConverter):
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(converter, AnyConverter):
        schema = {"type": "string", "pattern": f"^{converter.regex}$"}
    elif isinstance(converter, PathConverter):
        schema = {"type": "string"}
    else:
        schema = {"type": "string"}
    return schema


def _split_doc(func: Any) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(func)
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip() or None


def _unwrapped(func: Any) -> Iterator[Any]:
    """The view, then each function it wraps (``__wrapped__``), as decorators leave them."""
    for _ in range(20):  # a bound on a chain that loops back on itself
        if func is None:
            return
        yield func
        func = getattr(func, "__wrapped__", None)


def _security_of(func: Any) -> list[dict[str, list[str]]] | None:
    """The ``openapi_security`` of the view or of any function it wraps."""
    for f in _unwrapped(func):
        declared = getattr(f, "openapi_security", None)
        if declared is not None:
            return list(declared)
    return None


def _spec_of(func: Any) -> ViewSpec | None:
    """The typed spec of the view or of any function it wraps."""
    for f in _unwrapped(func):
        spec = typed_spec(f)
        if spec is not None:
            return spec
    return None


class _Builder:
    def __init__(self, app: Erlen) -> None:
        self.app = app
        self.schemas: dict[str, Any] = {}
        self.security_used: set[str] = set()
        self.operation_ids: set[str] = set()
        self.tags: dict[str, dict[str, Any]] = {}

    # -- schemas -----------------------------------------------------------------------------

    def schema_of(self, tp: Any, mode: str = "validation") -> dict[str, Any]:
        """The schema of ``tp``, its models moved into ``components.schemas``."""
        schema, defs = adapter_for(tp).json_schema(_PREFIX, mode)
        bare = strip_annotated(tp)
        if is_model(bare) and "$ref" not in schema:
            # Pydantic inlines the outermost model; a component is what clients expect.
            name = str(schema.get("title") or bare.__name__)
            defs = {**defs, name: schema}
            schema = {"$ref": _PREFIX + name}
        renames: dict[str, str] = {}
        for name, definition in defs.items():
            known = self.schemas.get(name)
            if known is None or known == definition:
                continue
            # Another model of the same name (another module), or the same model as it
            # is written out (defaults, computed fields): a name of its own.
            base = f"{name}-Output" if mode == "serialization" else name
            candidate, n = base, 2
            while candidate in self.schemas and self.schemas[candidate] != definition:
                candidate, n = f"{base}{n}", n + 1
            renames[name] = candidate
        if renames:
            refs = {_PREFIX + old: _PREFIX + new for old, new in renames.items()}
            defs = {renames.get(k, k): _rename_refs(v, refs) for k, v in defs.items()}
            schema = _rename_refs(schema, refs)
        for name, definition in defs.items():
            self.schemas.setdefault(name, definition)
        return schema

    def ref(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.schemas.setdefault(name, schema)
        return {"$ref": _PREFIX + name}

    # -- operations --------------------------------------------------------------------------

    def operation(
        self, rule: Any, method: str, view: Any, handler: Any, many_methods: bool
    ) -> dict[str, Any] | None:
        spec = _spec_of(handler)
        if spec is not None and not spec.include_in_schema:
            return None
        endpoint = str(rule.endpoint)
        op: dict[str, Any] = {}
        tags = list(spec.tags) if spec is not None and spec.tags else []
        if not tags and "." in endpoint:
            tags = [endpoint.rsplit(".", 1)[0]]
        for tag in tags:
            self.tags.setdefault(tag, {"name": tag})
        if tags:
            op["tags"] = tags
        summary, description = _split_doc(handler)
        if spec is not None:
            summary = spec.summary or summary
            description = spec.description or description
        op["summary"] = summary or endpoint.rsplit(".", 1)[-1].replace("_", " ").capitalize()
        if description:
            op["description"] = description
        op["operationId"] = self.operation_id(spec, endpoint, method, many_methods)
        if spec is not None and spec.deprecated:
            op["deprecated"] = True
        parameters = self.parameters(rule, spec)
        if parameters:
            op["parameters"] = parameters
        if spec is not None:
            body = self.request_body(spec)
            if body is not None:
                op["requestBody"] = body
        responses = op["responses"] = self.responses(spec, method)
        security = _security_of(handler) or _security_of(view)
        if security:
            op["security"] = security
            for requirement in security:
                self.security_used.update(requirement)
            # The guard answers before the view: missing or wrong credentials.
            responses.setdefault("401", {"description": "Unauthorized"})
        if _VARIABLE.search(rule.rule):
            # A value the rule's converter does not take (``-1`` for ``<int:id>``) matches
            # no route; a view's own "not found" is declared as 404 too.
            responses.setdefault("404", {"description": "Not Found"})
        return op

    def operation_id(
        self, spec: ViewSpec | None, endpoint: str, method: str, many_methods: bool
    ) -> str:
        if spec is not None and spec.operation_id:
            wanted = spec.operation_id
        else:
            wanted = endpoint.replace(".", "_")
            if many_methods:
                wanted = f"{wanted}_{method.lower()}"
        chosen, n = wanted, 2
        while chosen in self.operation_ids:
            chosen, n = f"{wanted}_{n}", n + 1
        self.operation_ids.add(chosen)
        return chosen

    def parameters(self, rule: Any, spec: ViewSpec | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        entry: dict[str, Any]
        converters = getattr(rule, "_converters", {}) or {}
        typed_params = {p.name: p for p in spec.params} if spec is not None else {}
        for name in _VARIABLE.findall(rule.rule):
            param = typed_params.get(name)
            if (param is not None and param.source in ("path", "query") and not param.explicit) or (
                param is not None and param.source == "path"
            ):
                schema = self.schema_of(param.constrained)
            else:
                schema = _converter_schema(converters.get(name))
            entry = {"name": name, "in": "path", "required": True, "schema": schema}
            if param is not None:
                self.describe(entry, param)
            out.append(entry)
        path_names = set(_VARIABLE.findall(rule.rule)) | set(rule.defaults or ())
        for param in typed_params.values():
            if param.name in path_names or param.source not in ("query", "header", "cookie"):
                continue
            if param.marker is not None and not param.marker.include_in_schema:
                continue
            if param.model_fields is not None:
                out.extend(self.model_parameters(param))
                continue
            entry = {
                "name": param.alias,
                "in": param.source,
                "required": param.required,
                "schema": self.schema_of(param.constrained),
            }
            self.describe(entry, param)
            out.append(entry)
        return out

    def model_parameters(self, param: ParamSpec) -> list[dict[str, Any]]:
        """A model read from several query parameters (or headers, cookies): one per field."""
        schema = self.schema_of(strip_annotated(param.annotation))
        if "$ref" in schema:
            schema = self.schemas.get(schema["$ref"].removeprefix(_PREFIX), schema)
        required = set(schema.get("required", ()))
        wire = param.model_fields.locations if param.model_fields is not None else {}
        out = []
        for name, field_schema in schema.get("properties", {}).items():
            out.append(
                {
                    "name": wire.get(name, name),
                    "in": param.source,
                    "required": name in required,
                    "schema": field_schema,
                }
            )
        return out

    @staticmethod
    def describe(entry: dict[str, Any], param: ParamSpec) -> None:
        marker = param.marker
        if marker is None:
            return
        if marker.description:
            entry["description"] = marker.description
        if marker.deprecated:
            entry["deprecated"] = True
        if marker.examples:
            entry["examples"] = {str(i): {"value": v} for i, v in enumerate(marker.examples)}
        default = _default_of(param)
        if default is not _NO_DEFAULT:
            entry["schema"] = {**entry["schema"], "default": default}

    def property_schema(self, param: ParamSpec) -> dict[str, Any]:
        """A body or form field's schema, with its description and default."""
        schema = self.schema_of(param.constrained)
        marker = param.marker
        if marker is not None and marker.description:
            schema = {**schema, "description": marker.description}
        default = _default_of(param)
        if default is not _NO_DEFAULT:
            schema = {**schema, "default": default}
        return schema

    def request_body(self, spec: ViewSpec) -> dict[str, Any] | None:
        form = [p for p in spec.params if p.source in ("form", "file")]
        if spec.body_params:
            if len(spec.body_params) == 1 and not spec.body_params[0].embed:
                p = spec.body_params[0]
                media_type = getattr(p.marker, "media_type", "application/json")
                schema = self.schema_of(p.constrained)
                return {
                    "required": p.required,
                    "content": {media_type: {"schema": schema}},
                }
            properties = {p.alias: self.property_schema(p) for p in spec.body_params}
            required = [p.alias for p in spec.body_params if p.required]
            body: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                body["required"] = required
            return {
                "required": bool(required),
                "content": {"application/json": {"schema": body}},
            }
        if form:
            properties = {}
            required = []
            for p in form:
                if p.model_fields is not None:
                    schema = self.schema_of(strip_annotated(p.annotation))
                    if "$ref" in schema:
                        schema = self.schemas.get(schema["$ref"].removeprefix(_PREFIX), schema)
                    properties.update(schema.get("properties", {}))
                    required.extend(schema.get("required", ()))
                    continue
                properties[p.alias] = self.property_schema(p)
                if p.required:
                    required.append(p.alias)
            has_file = any(p.source == "file" for p in form)
            media_type = "multipart/form-data" if has_file else "application/x-www-form-urlencoded"
            body = {"type": "object", "properties": properties}
            if required:
                body["required"] = required
            return {"required": bool(required), "content": {media_type: {"schema": body}}}
        return None

    def responses(self, spec: ViewSpec | None, method: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        status = "200"
        if spec is not None:
            status = str(spec.status_code or (204 if spec.returns_none else 200))
        main: dict[str, Any] = {"description": "Successful response"}
        if spec is not None and spec.return_type is not None:
            main["content"] = {
                "application/json": {"schema": self.schema_of(spec.return_type, "serialization")}
            }
        out[status] = main
        if spec is None:
            return out
        if spec.params:
            out["422"] = {
                "description": "Validation error",
                "content": {
                    "application/problem+json": {
                        "schema": self.ref("ValidationProblem", _VALIDATION_PROBLEM)
                    }
                },
            }
        for code, declared in sorted(spec.responses.items(), key=lambda kv: str(kv[0])):
            out[str(code)] = self.declared_response(int(code), declared)
        return out

    def declared_response(self, code: int, declared: Any) -> dict[str, Any]:
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = f"Status {code}"
        if declared is None:
            return {"description": phrase}
        if isinstance(declared, str):
            return {"description": declared}
        if isinstance(declared, dict):  # an OpenAPI response object as it stands
            return declared
        if declared == "problem" or (code >= 400 and declared is Problem):
            return {
                "description": phrase,
                "content": {"application/problem+json": {"schema": self.ref("Problem", _PROBLEM)}},
            }
        return {
            "description": phrase,
            "content": {"application/json": {"schema": self.schema_of(declared, "serialization")}},
        }


_NO_DEFAULT: Any = object()


def _default_of(param: ParamSpec) -> Any:
    """The parameter's default as JSON data, or ``_NO_DEFAULT`` (required, None, unencodable)."""
    if param.required or param.default is None:
        return _NO_DEFAULT
    try:
        return param.adapter.dump_python(param.default)
    except Exception:  # a default its own type cannot encode: left out of the document
        return _NO_DEFAULT


class Problem:
    """Declare an RFC 9457 problem response: ``@typed(responses={404: Problem})``."""


def _rename_refs(schema: Any, refs: dict[str, str]) -> Any:
    """``schema`` with every ``$ref`` named in ``refs`` pointed at its new name."""
    if isinstance(schema, dict):
        return {
            k: (refs.get(v, v) if k == "$ref" else _rename_refs(v, refs)) for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rename_refs(v, refs) for v in schema]
    return schema


def exclude_from_openapi(view: F) -> F:
    """Leave a view (a function or a ``View`` class's ``as_view``) out of the OpenAPI document."""
    view.openapi_exclude = True  # type: ignore[attr-defined]
    return view


def _excluded(view: Any) -> bool:
    return any(getattr(f, "openapi_exclude", False) for f in _unwrapped(view))


def _within(blueprint: str, names: tuple[str, ...]) -> bool:
    """Whether ``blueprint`` (dotted when nested) is one of ``names`` or nested in one."""
    return bool(blueprint) and any(
        blueprint == name or blueprint.startswith(name + ".") for name in names
    )


def _handlers(view: Any, methods: list[str]) -> list[tuple[str, Any]]:
    view_class = getattr(view, "view_class", None)
    out = []
    for method in methods:
        handler = view
        if view_class is not None:
            found = getattr(view_class, method.lower(), None)
            if found is None and method == "HEAD":
                found = getattr(view_class, "get", None)
            if found is not None:
                handler = found
            elif getattr(view_class, "dispatch_request", None) is not None:
                handler = view_class.dispatch_request
        out.append((method, handler))
    return out


def openapi_document(
    app: Erlen,
    *,
    title: str | None = None,
    version: str | None = None,
    description: str | None = None,
    servers: list[dict[str, Any]] | None = None,
    hidden_endpoints: frozenset[str] = frozenset(),
    blueprints: Iterable[str] | None = None,
    exclude_blueprints: Iterable[str] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s HTTP routes (a JSON-ready dict).

    ``title`` and ``version`` default to the config keys ``OPENAPI_TITLE`` (else the app's
    name) and ``OPENAPI_VERSION`` (else ``"0.1.0"``). The static route, WebSocket routes,
    redirects, ``hidden_endpoints`` and views marked with :func:`exclude_from_openapi` (or
    ``@typed(include_in_schema=False)``) are left out. ``blueprints`` keeps only the
    routes of those blueprints (and their nested ones); ``exclude_blueprints`` drops them.
    """
    wanted = tuple(blueprints) if blueprints is not None else None
    unwanted = tuple(exclude_blueprints)
    config = app.config
    builder = _Builder(app)
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if (
            getattr(rule, "websocket", False)
            or rule.redirect_to is not None
            or getattr(rule, "build_only", False)
            or endpoint == "static"
            or str(endpoint).endswith(".static")
            or endpoint in hidden_endpoints
        ):
            continue
        view = app.view_functions.get(endpoint)
        if view is None or _excluded(view):
            continue
        blueprint = str(endpoint).rpartition(".")[0]
        if (wanted is not None and not _within(blueprint, wanted)) or _within(blueprint, unwanted):
            continue
        methods = [m for m in _METHOD_ORDER if m in (rule.methods or {"GET"})]
        if not methods:
            continue
        item = paths.setdefault(openapi_path(rule.rule), {})
        for method, handler in _handlers(view, methods):
            if method.lower() in item:
                continue
            op = builder.operation(rule, method, view, handler, len(methods) > 1)
            if op is not None:
                item[method.lower()] = op
        if not item:
            del paths[openapi_path(rule.rule)]
    info: dict[str, Any] = {
        "title": title or config.get("OPENAPI_TITLE") or app.name,
        "version": version or config.get("OPENAPI_VERSION") or "0.1.0",
    }
    if description or config.get("OPENAPI_DESCRIPTION"):
        info["description"] = description or config.get("OPENAPI_DESCRIPTION")
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if servers:
        document["servers"] = servers
    document["paths"] = paths
    components: dict[str, Any] = {}
    if builder.schemas:
        components["schemas"] = dict(sorted(builder.schemas.items()))
    if builder.security_used:
        schemes = {}
        for name in sorted(builder.security_used):
            scheme = dict(SECURITY_SCHEMES.get(name, {"type": "http", "scheme": name}))
            if name == "sessionCookie":
                scheme["name"] = config.get("SESSION_COOKIE_NAME") or "session"
            schemes[name] = scheme
        components["securitySchemes"] = schemes
    if components:
        document["components"] = components
    if builder.tags:
        document["tags"] = sorted(builder.tags.values(), key=lambda t: t["name"])
    return document


__all__ = ["OPENAPI_VERSION", "SECURITY_SCHEMES", "Problem", "openapi_document", "openapi_path"]
