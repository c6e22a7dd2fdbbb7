"""The trie walk written out as Python for one map (as Falcon compiles its router).

:func:`compile_walk` turns a finished trie (see :mod:`.matcher`) into a function that answers
exactly as ``_walk(root, parts, 0, method, websocket, values, allowed)`` does: the same rules
tried in the same order, the same match or None, the same methods collected for a 405, the
same trailing-slash redirect. The generated code is ``_walk`` partially evaluated on the trie:
what the walk reads from the nodes on every request (which children, which kind of edge, the
depth, where the values list is cut back to) and the rules' methods, ``websocket`` flag and
converters are written into the code when the map compiles (its static-path table takes the
rules' methods then too).

A wide level of the trie (more than a few static children) is a dict of functions, each
written and compiled when a request first reaches it: an app with thousands of rules does not
compile them all at start-up (a rule's subtree costs about 0.15 ms and 1.4 KiB when first
reached). A path converter's edge (which takes the rest of the path) is left to ``_walk``.

PERF: the walk for ``/users/<int:id>`` costs 7,000 instructions instead of 10,700 (measured
with callgrind; a request with a path parameter about 69,000 instead of 72,400 through WSGI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .exceptions import _SlashRequired
from .matcher import _NO_PARTS, _SLASH_PART, _Matched, _Node, _walk
from .rules import _K_DECIMAL, _K_NONEMPTY, _K_SEGMENT, _fast_to_python

#: Static children up to this many are tested with ``==`` in line; more are a dict of functions.
_INLINE_CHILDREN = 4
#: Trie levels written in line before a subtree becomes a function of its own (Python's
#: parser refuses code indented more than 100 levels; a level takes up to four).
_INLINE_LEVELS = 12

Walk = Callable[[list[str], str, bool, list[str], set[str]], "_Matched | None"]
_ARGS = "parts, n, method, websocket, values, allowed"


class _Writer:
    """Collects the generated functions and the objects their code refers to by name."""

    def __init__(self) -> None:
        self.functions: list[list[str]] = []
        self.names: dict[str, Any] = {}

    def name(self, obj: Any, prefix: str) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = obj
        return name

    def function(self, node: _Node, depth: int, mark: int) -> str:
        """Write ``node``'s walk (at ``depth``, with ``mark`` values taken) as a function."""
        name = f"_walk_{len(self.functions)}"
        if depth == 0:  # the entry: its caller does not pass the number of parts
            lines = [
                f"def {name}(parts, method, websocket, values, allowed):",
                "    n = len(parts)",
            ]
        else:
            lines = [f"def {name}({_ARGS}):"]
        self.functions.append(lines)
        _NodeWriter(self, lines).node(node, depth, mark, 1, 0)
        lines.append("    return None")
        return name


class _NodeWriter:
    """Writes one generated function's lines: a node's walk, its children's in line."""

    def __init__(self, writer: _Writer, lines: list[str]) -> None:
        self.w = writer
        self.lines = lines

    def put(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def node(self, node: _Node, depth: int, mark: int, indent: int, levels: int) -> None:
        # _walk(node, parts, depth, ...): at the end of the path the node's rules answer;
        # otherwise its static child for the part, then its edges in order, then (a lenient
        # node) its rules for a trailing slash. Falling off the end of the code is "None".
        self.put(indent, f"if n == {depth}:")
        self.terminal(node, indent + 1)
        if not (node.static or node.dynamic or node.lenient):
            return
        self.put(indent, "else:")
        indent += 1
        self.put(indent, f"p{depth} = parts[{depth}]")
        if node.static:
            self.static(node, depth, mark, indent, levels)
        if node.dynamic:
            for edge in node.dynamic:
                self.edge(edge, depth, mark, indent, levels)
        if node.lenient:
            self.lenient(node, depth, indent)

    def child(self, node: _Node, depth: int, mark: int, indent: int, levels: int) -> None:
        """Walk a child in line, or call it as a function of its own when the code is deep."""
        if levels < _INLINE_LEVELS:
            self.node(node, depth, mark, indent, levels + 1)
            return
        name = self.w.function(node, depth, mark)
        self.put(indent, f"rv = {name}({_ARGS})")
        self.put(indent, "if rv is not None:")
        self.put(indent + 1, "return rv")

    def static(self, node: _Node, depth: int, mark: int, indent: int, levels: int) -> None:
        part = f"p{depth}"
        if len(node.static) <= _INLINE_CHILDREN:
            keyword = "if"
            for text, child in node.static.items():
                self.put(indent, f"{keyword} {part} == {text!r}:")
                self.child(child, depth + 1, mark, indent + 1, levels)
                keyword = "elif"
            return
        # Each child's walk is written when a request first reaches it: an app with
        # thousands of rules does not compile them all at start-up.
        table: dict[str, Any] = {}
        for text, child in node.static.items():
            table[text] = _compile_on_first_call(table, text, child, depth + 1, mark)
        name = self.w.name(table, "_static_")
        self.put(indent, f"f = {name}.get({part})")
        self.put(indent, "if f is not None:")
        self.put(indent + 1, f"rv = f({_ARGS})")
        self.put(indent + 1, "if rv is not None:")
        self.put(indent + 2, "return rv")

    def edge(self, edge: Any, depth: int, mark: int, indent: int, levels: int) -> None:
        part = f"p{depth}"
        kind = edge.kind
        taken = 1 if kind in (_K_NONEMPTY, _K_DECIMAL) or edge.index else len(edge.indices)
        if kind == _K_NONEMPTY:
            self.put(indent, f"if {part}:")
            self.put(indent + 1, f"values.append({part})")
        elif kind == _K_DECIMAL:
            self.put(indent, f"if {part}.isdecimal():")
            self.put(indent + 1, f"values.append({part})")
        else:
            subject = part if kind == _K_SEGMENT else f"'/'.join(parts[{depth}:])"
            pattern = self.w.name(edge.pattern, "_pattern_")
            self.put(indent, f"m = {pattern}.fullmatch({subject})")
            self.put(indent, "if m is not None:")
            if edge.index:
                self.put(indent + 1, f"values.append(m.group({edge.index}))")
            else:
                self.put(indent + 1, f"values.extend(m.group(*{edge.indices!r}))")
        if kind in (_K_NONEMPTY, _K_DECIMAL, _K_SEGMENT):
            self.child(edge.node, depth + 1, mark + taken, indent + 1, levels)
        else:
            # The rest of the path is consumed: what is left is nothing or a trailing slash.
            tail = "_NO_PARTS"
            if edge.suffix:
                tail = f"(_SLASH_PART if m.group({edge.suffix}) else _NO_PARTS)"
            node = self.w.name(edge.node, "_node_")
            self.put(
                indent + 1, f"rv = _walk({node}, {tail}, 0, method, websocket, values, allowed)"
            )
            self.put(indent + 1, "if rv is not None:")
            self.put(indent + 2, "return rv")
        self.put(indent + 1, f"del values[{mark}:]")

    # A rule's fields are written in as they are when the map compiles (its static-path
    # table takes them then too; changing a rule's methods does not recompile the map).

    def rule(self, rule: Any, indent: int, collect: bool) -> None:
        """Try ``rule``: its methods (collected for a 405 when ``collect``), then its converters."""
        self.put(indent, "if websocket:" if rule.websocket else "if not websocket:")
        indent += 1
        if rule.methods is not None:
            methods = self.w.name(rule.methods, "_methods_")
            self.put(indent, f"if method in {methods}:")
            self.converters(rule, indent + 1)
            if collect:
                self.put(indent, "else:")
                self.put(indent + 1, f"allowed.update({methods})")
        else:
            self.converters(rule, indent)

    def converters(self, rule: Any, indent: int) -> None:
        # The converters may reject their text (ValueError): then the next rule is tried.
        # A rule without defaults and with no variable or one is answered in line, as its
        # _to_python (rules._values_factory) would: one call fewer per match.
        r = self.w.name(rule, "_rule_")
        converters = rule._converters
        if not rule.defaults and len(converters) <= 1:
            if not converters:
                self.put(indent, f"return {r}, {{}}")
                return
            ((name, converter),) = converters.items()
            to_python = _fast_to_python(converter)
            if to_python is None:
                self.put(indent, f"return {r}, {{{name!r}: values[0]}}")
                return
            convert = self.w.name(to_python, "_convert_")
            result = f"{{{name!r}: {convert}(values[0])}}"
        else:
            result = f"{self.w.name(rule._to_python, '_to_python_')}(values)"
        self.put(indent, "try:")
        self.put(indent + 1, f"return {r}, {result}")
        self.put(indent, "except ValueError:")
        self.put(indent + 1, "pass")

    def terminal(self, node: _Node, indent: int) -> None:
        # _terminal(node, ...): the node's rules, then those under its slash child (a strict
        # one answers with a redirect to the URL with the slash).
        for rule in node.rules:
            self.rule(rule, indent, True)
        slash = node.slash
        if slash is not None:
            for rule in slash.rules:
                if rule.strict_slashes:
                    self.put(indent, "if websocket:" if rule.websocket else "if not websocket:")
                    if rule.methods is None:
                        self.put(indent + 1, "raise _SlashRequired")
                    else:
                        methods = self.w.name(rule.methods, "_methods_")
                        self.put(indent + 1, f"if method in {methods}:")
                        self.put(indent + 2, "raise _SlashRequired")
                else:
                    self.rule(rule, indent, False)
        self.put(indent, "pass")

    def lenient(self, node: _Node, depth: int, indent: int) -> None:
        # A trailing slash the rule does not have is fine when it is not strict about it.
        self.put(indent, f"if not p{depth} and n == {depth + 1}:")
        for rule in node.rules:
            if not rule.strict_slashes:
                self.rule(rule, indent + 1, True)
        self.put(indent + 1, "pass")


def compile_walk(root: _Node) -> Walk:
    """Return ``_walk(root, parts, 0, ...)`` as code written for ``root``'s trie (finished)."""
    return _compile(root, 0, 0)


def _compile_on_first_call(
    table: dict[str, Any], text: str, node: _Node, depth: int, mark: int
) -> Callable[..., _Matched | None]:
    def first_call(*args: Any) -> _Matched | None:
        walk = table[text] = _compile(node, depth, mark)
        return walk(*args)  # type: ignore[no-any-return]

    return first_call


def _compile(node: _Node, depth: int, mark: int) -> Callable[..., Any]:
    writer = _Writer()
    entry = writer.function(node, depth, mark)
    source = "\n\n".join("\n".join(lines) for lines in writer.functions) + "\n"
    namespace: dict[str, Any] = {
        "_walk": _walk,
        "_SlashRequired": _SlashRequired,
        "_NO_PARTS": _NO_PARTS,
        "_SLASH_PART": _SLASH_PART,
        **writer.names,
    }
    exec(compile(source, "<erlen.routing.compiled>", "exec"), namespace)
    return namespace[entry]  # type: ignore[no-any-return]


#: The walk of a map with no rules yet.
EMPTY_WALK = compile_walk(_Node())
