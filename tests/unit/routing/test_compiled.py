"""erlen.routing.compiled: the generated walk answers exactly as the generic trie walk.

Random maps (static words, every kind of converter, several variables in one segment, path
converters, trailing slashes strict and not, methods, WebSocket rules, deep rules and wide
static fan-outs) are matched with both walks on random paths; the match, the methods collected
for a 405 and the trailing-slash redirect must agree, call for call.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from erlen.routing import Map, Rule
from erlen.routing.compiled import compile_walk
from erlen.routing.exceptions import _SlashRequired
from erlen.routing.matcher import _walk

WORDS = ["a", "b", "users", "v1", "x-y", ""]
VARIABLES = [
    "<{v}>",
    "<int:{v}>",
    "<int(min=5):{v}>",
    "<float:{v}>",
    "<any(a, b):{v}>",
    "<string(length=2):{v}>",
    "<{v}>-<{v}2>",
    "<{v}>.json",
    "v<int:{v}>",
]
TEXTS = ["a", "b", "7", "3", "12", "1.5", "ab", "a-b", "x.json", "v2", "users", "", "x-y", "zz"]
METHODS = [None, ["GET"], ["POST"], ["GET", "PUT"]]


def _random_rule(rng: random.Random, n: int) -> Rule:
    segments = []
    for depth in range(rng.choice([1, 1, 2, 2, 3, 4, 14])):  # 14: deeper than written in line
        if rng.random() < 0.55:
            segments.append(rng.choice(WORDS[:-1]) if depth or rng.random() < 0.9 else "")
        else:
            segments.append(rng.choice(VARIABLES).format(v=f"v{depth}"))
    if rng.random() < 0.1:
        segments.append(f"<path:rest{n}>")
    path = "/" + "/".join(segments)
    if rng.random() < 0.3:
        path += "/"
    methods = rng.choice(METHODS)
    websocket = rng.random() < 0.15
    return Rule(
        path,
        endpoint=f"e{n}",
        methods=None if websocket else methods,
        strict_slashes=rng.random() < 0.7,
        websocket=websocket,
    )


def _random_parts(rng: random.Random) -> list[str]:
    return [""] + [rng.choice(TEXTS + WORDS) for _ in range(rng.choice([0, 1, 1, 2, 3, 4, 14, 15]))]


def _answer(walk: Any, parts: list[str], method: str, websocket: bool) -> Any:
    allowed: set[str] = set()
    try:
        rv = walk(parts, method, websocket, [], allowed)
    except _SlashRequired:
        return "slash", sorted(allowed)
    if rv is None:
        return None, sorted(allowed)
    return (rv[0].endpoint, rv[1]), sorted(allowed)


@pytest.mark.parametrize("seed", range(40))
def test_the_generated_walk_answers_as_the_trie_walk(seed: int) -> None:
    rng = random.Random(seed)
    url_map = Map(strict_slashes=True)
    for n in range(rng.choice([3, 8, 30])):
        try:
            url_map.add(_random_rule(rng, n))
        except ValueError:
            continue  # a rule the map refuses (a variable named twice)
    for n in range(rng.choice([0, 0, 6])):  # a wide static fan-out: written as a table
        url_map.add(Rule(f"/wide{n}/<int:i>", endpoint=f"wide{n}"))
    url_map._compile()
    root = url_map._root
    compiled = url_map._walk

    def generic(parts: list[str], method: str, websocket: bool, values: Any, allowed: Any) -> Any:
        return _walk(root, parts, 0, method, websocket, values, allowed)

    for _ in range(300):
        parts = _random_parts(rng)
        method = rng.choice(["GET", "POST", "PUT", "HEAD"])
        websocket = rng.random() < 0.2
        assert _answer(compiled, parts, method, websocket) == _answer(
            generic, parts, method, websocket
        ), (parts, method, websocket, [r.rule for r in url_map.iter_rules()])
    # The rules' own paths, which the random ones rarely hit.
    for rule in url_map.iter_rules():
        parts = [""] + [t if "<" not in t else rng.choice(TEXTS) for t in rule.rule.split("/")[1:]]
        for method in ("GET", "POST"):
            for websocket in (False, True):
                assert _answer(compiled, parts, method, websocket) == _answer(
                    generic, parts, method, websocket
                )


def test_a_subtree_behind_a_table_is_compiled_when_first_reached() -> None:
    url_map = Map()
    for n in range(10):
        url_map.add(Rule(f"/p{n}/<int:i>", endpoint=f"p{n}"))
    url_map._compile()
    (table,) = (v for k, v in url_map._walk.__globals__.items() if k.startswith("_static_"))
    assert {f.__name__ for f in table.values()} == {"first_call"}  # none written yet
    assert url_map.match("/p7/3") == (url_map._rules[7], {"i": 3})
    assert table["p7"].__name__ == "_walk_0" and table["p6"].__name__ == "first_call"
    assert url_map.match("/p7/4")[1] == {"i": 4}  # through the compiled child now


def test_compile_walk_of_an_empty_trie_matches_nothing() -> None:
    from erlen.routing.matcher import _Node

    walk = compile_walk(_Node())
    allowed: set[str] = set()
    assert walk([""], "GET", False, [], allowed) is None
    assert walk(["", "x"], "GET", False, [], allowed) is None and not allowed
