"""The matcher: the trie of path segments, its backtracking walk and the static-path table."""

from __future__ import annotations

import re
from typing import Any

from .exceptions import _SlashRequired
from .rules import _K_DECIMAL, _K_NONEMPTY, _K_SEGMENT, Rule, _PartSpec


class _Node:
    """A trie state: static children, dynamic edges (sorted) and the rules ending here."""

    __slots__ = ("dynamic", "lenient", "linear", "rules", "slash", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.dynamic: list[_Edge] = []
        self.rules: list[Rule] = []
        self.slash: _Node | None = None
        self.lenient = False
        self.linear = True


class _Edge:
    """A dynamic transition: how to test a segment (or the rest of the path) and where it leads."""

    __slots__ = ("index", "indices", "key", "kind", "node", "pattern", "suffix", "weight")

    def __init__(self, spec: _PartSpec) -> None:
        self.key = spec.key
        self.weight = spec.weight
        self.kind = spec.kind
        self.pattern = re.compile(spec.regex)
        groups = self.pattern.groupindex
        self.indices = tuple(groups[f"_{i}"] for i in range(len(spec.weight[3])))
        self.index = self.indices[0] if len(self.indices) == 1 else 0
        self.suffix = groups["_s"] if spec.suffixed else 0
        self.node = _Node()


_Matched = tuple[Rule, dict[str, Any]]
# Parts left after a final edge: nothing, or the empty part a trailing slash leaves.
_NO_PARTS: list[str] = []
_SLASH_PART: list[str] = [""]


def _terminal(
    node: _Node, method: str, websocket: bool, values: list[str], allowed: set[str]
) -> _Matched | None:
    for rule in node.rules:
        if rule.websocket != websocket:
            continue
        methods = rule.methods
        if methods is not None and method not in methods:
            allowed.update(methods)
            continue
        try:
            return rule, rule._to_python(values)
        except ValueError:
            # The converter rejected its text: this rule doesn't match, try the next one.
            continue
    slash = node.slash
    if slash is not None:
        for rule in slash.rules:
            if rule.websocket != websocket:
                continue
            if rule.methods is None or method in rule.methods:
                if rule.strict_slashes:
                    raise _SlashRequired
                try:
                    return rule, rule._to_python(values)
                except ValueError:
                    continue
    return None


def _walk(
    node: _Node,
    parts: list[str],
    i: int,
    method: str,
    websocket: bool,
    values: list[str],
    allowed: set[str],
) -> _Matched | None:
    n = len(parts)
    # PERF: walk purely static stretches iteratively; recursion is only needed at nodes that
    # offer alternatives to backtrack through.
    while i < n and node.linear:
        child = node.static.get(parts[i])
        if child is None:
            return None
        node = child
        i += 1
    if i == n:
        return _terminal(node, method, websocket, values, allowed)
    part = parts[i]
    child = node.static.get(part)
    if child is not None:
        rv = _walk(child, parts, i + 1, method, websocket, values, allowed)
        if rv is not None:
            return rv
    if node.dynamic:
        mark = len(values)
        rest: str | None = None
        # PERF: after the last segment go straight to the end-of-path checks.
        last = i + 1 == n
        for edge in node.dynamic:
            kind = edge.kind
            # PERF: the two commonest converters are tested with string methods, not regexes.
            if kind == _K_NONEMPTY:
                if not part:
                    continue
                values.append(part)
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            elif kind == _K_DECIMAL:
                if not part.isdecimal():
                    continue
                values.append(part)
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            elif kind == _K_SEGMENT:
                m = edge.pattern.fullmatch(part)
                if m is None:
                    continue
                if edge.index:
                    values.append(m.group(edge.index))
                else:
                    values.extend(m.group(*edge.indices))
                if last:
                    rv = _terminal(edge.node, method, websocket, values, allowed)
                else:
                    rv = _walk(edge.node, parts, i + 1, method, websocket, values, allowed)
            else:
                if rest is None:
                    rest = "/".join(parts[i:])
                m = edge.pattern.fullmatch(rest)
                if m is None:
                    continue
                if edge.index:
                    values.append(m.group(edge.index))
                else:
                    values.extend(m.group(*edge.indices))
                tail = _NO_PARTS
                if edge.suffix and m.group(edge.suffix):
                    tail = _SLASH_PART
                rv = _walk(edge.node, tail, 0, method, websocket, values, allowed)
            if rv is not None:
                return rv
            del values[mark:]
    if node.lenient and not part and i == n - 1:
        # A trailing slash the rule doesn't have is fine when the rule isn't strict about it.
        for rule in node.rules:
            if rule.strict_slashes or rule.websocket != websocket:
                continue
            methods = rule.methods
            if methods is not None and method not in methods:
                allowed.update(methods)
                continue
            try:
                return rule, rule._to_python(values)
            except ValueError:
                continue
    return None


def _finish_node(node: _Node) -> None:
    # Stable sort: equal weights keep registration order, as in Werkzeug.
    node.dynamic.sort(key=lambda edge: edge.weight)
    node.slash = node.static.get("")
    node.lenient = any(not rule.strict_slashes for rule in node.rules)
    node.linear = not node.dynamic and not node.lenient
    for child in node.static.values():
        _finish_node(child)
    for edge in node.dynamic:
        _finish_node(edge.node)


# Static lookup entry: (first rule per explicitly listed method, first rule accepting any method).
_StaticEntry = tuple[dict[str, Rule], Rule | None]
_StaticTable = dict[str, dict[str, _StaticEntry]]


def _static_entry(rules: list[Rule], websocket: bool) -> _StaticEntry | None:
    candidates = [r for r in rules if r.websocket == websocket]
    if not candidates:
        return None
    named: set[str] = set()
    for rule in candidates:
        if rule.methods is not None:
            named |= rule.methods
    by_method: dict[str, Rule] = {}
    for method in named:
        for rule in candidates:
            if rule.methods is None or method in rule.methods:
                by_method[method] = rule
                break
    any_rule = next((r for r in candidates if r.methods is None), None)
    return by_method, any_rule
