"""Tests for erlen.routing.matcher: Werkzeug's precedence, methods, slashes, websocket, scale."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from erlen.routing import MethodNotAllowed, NotFound, RequestRedirect
from routing_support import RuleSpec, make_map, make_wz_map, match, outcome, wz_outcome

# -- precedence: werkzeug as the oracle ------------------------------------------------------

PRECEDENCE_CASES: list[tuple[list[RuleSpec], list[str]]] = [
    (
        [
            ("/user/<name>", "name", {}),
            ("/user/me", "me", {}),
            ("/user/<int:id>", "id", {}),
            ("/user/<uuid:u>", "uuid", {}),
        ],
        [
            "/user/me",
            "/user/12",
            "/user/bob",
            "/user/",
            "/user",
            "/user/12345678-1234-5678-1234-567812345678",
        ],
    ),
    (
        [
            ("/<path:p>", "path", {}),
            ("/<name>", "name", {}),
            ("/<float:f>", "float", {}),
            ("/<int:i>", "int", {}),
            ("/<any(a, b):a>", "any", {}),
        ],
        ["/1", "/1.5", "/a", "/c", "/x/y", "/", "/x/"],
    ),
    (
        [
            ("/<name>.json", "json", {}),
            ("/<name>.<ext>", "ext", {}),
            ("/<name>", "name", {}),
            ("/v<int:n>", "version", {}),
            ("/v<int:n>.<fmt>", "version_fmt", {}),
            ("/file-<a>-<b>", "dash", {}),
            ("/<a>-<b>", "dash2", {}),
        ],
        ["/x.json", "/a.b.json", "/x.xml", "/v2", "/v2.json", "/vx", "/file-a-b", "/a-b-c", "/x"],
    ),
    (
        [
            ("/static/<path:filename>", "static", {}),
            ("/<path:p>/edit", "edit", {}),
            ("/<path:p>", "page", {}),
            ("/a/<path:p>/b/<c>", "deep", {}),
            ("/d/<path:p>/", "dir", {}),
            ("/static/special", "special", {}),
        ],
        [
            "/static/css/a.css",
            "/static/special",
            "/x/y/edit",
            "/x/edit",
            "/edit",
            "/a/1/2/b/3",
            "/a/b/c",
            "/d/x/y",
            "/d/x/y/",
            "/d/",
            "/static/",
        ],
    ),
    (
        [
            ("/a/", "a_slash", {}),
            ("/b", "b", {}),
            ("/c/", "c_lenient", {"strict_slashes": False}),
            ("/d", "d_lenient", {"strict_slashes": False}),
            ("/e/<x>/", "e", {}),
            ("/f/<x>", "f", {}),
            ("/", "root", {}),
        ],
        ["/a", "/a/", "/b", "/b/", "/c", "/c/", "/d", "/d/", "/e/1", "/e/1/", "/f/1/", "/", ""],
    ),
    (
        [
            ("/<a>/x/y", "a", {}),
            ("/b/<c>/z", "b", {}),
            ("/b/<c>/<d>", "bd", {}),
            ("/<int:n>/x/<m>", "n", {}),
        ],
        ["/b/x/y", "/b/x/z", "/b/q/y", "/1/x/y", "/q/x/y"],
    ),
    (
        [
            ("/x", "x_get", {"methods": ["GET"]}),
            ("/x", "x_post", {"methods": ["POST"]}),
            ("/<a>", "a_put", {"methods": ["PUT"]}),
            ("/y/<int:n>", "y_get", {"methods": ["GET"]}),
            ("/y/<n>", "y_any", {}),
            ("/z/", "z_post", {"methods": ["POST"]}),
        ],
        ["/x", "/y/1", "/y/a", "/z", "/z/", "/q"],
    ),
    (
        [
            ("/a/b", "ab", {}),
            ("/a//c", "ac_raw", {"merge_slashes": False}),
            ("/<path:p>/end", "end", {}),
            ("/m//n", "mn", {}),
        ],
        ["/a//b", "/a/b", "/a//c", "/a/c", "//a/b", "/a///b/", "/x//y/end", "/m/n", "/m//n"],
    ),
    (
        [
            ("/page/", "page", {"defaults": {"page": 1}}),
            ("/page/<int:page>", "page", {}),
            ("/shop/<cat>/", "shop", {"defaults": {"n": 1}}),
            ("/shop/<cat>/<int:n>", "shop", {}),
        ],
        ["/page/", "/page/1", "/page/2", "/shop/x/", "/shop/x/1", "/shop/x/2"],
    ),
]


@pytest.mark.parametrize(("specs", "paths"), PRECEDENCE_CASES)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "DELETE"])
def test_precedence_matches_werkzeug(specs: list[RuleSpec], paths: list[str], method: str) -> None:
    ours, theirs = make_map(specs), make_wz_map(specs)
    for path in paths:
        assert outcome(ours, path, method) == wz_outcome(theirs, path, method), path


def test_precedence_cases_exercise_every_outcome() -> None:
    # Guards against an oracle table that only ever compares 404 with 404.
    kinds = set()
    for specs, paths in PRECEDENCE_CASES:
        ours = make_map(specs)
        for path in paths:
            for method in ("GET", "DELETE"):
                kinds.add(outcome(ours, path, method)[0])
    assert kinds == {"match", "redirect", "405", "404"}


_SEGMENTS = [
    "a",
    "b",
    "<v>",
    "<int:v>",
    "<path:v>",
    "<float:v>",
    "<any(a, b):v>",
    "<v>.json",
    "v<int:v>",
    "<string(length=1):v>",
    "<uuid:v>",
    "<v>-<w>",
    "c<path:v>",
]
_PATH_SEGMENTS = ["a", "b", "c", "1", "22", "2.5", "x.json", "v3", "", "a-b", "q", "cz/y", "a.json"]


def _random_rules(rng: random.Random) -> list[RuleSpec]:
    specs: list[RuleSpec] = []
    for idx in range(rng.randint(1, 8)):
        segments = []
        for n in range(rng.randint(0, 3)):
            seg = rng.choice(_SEGMENTS)
            segments.append(
                seg.replace(":v>", f":v{n}>").replace("<v>", f"<v{n}>").replace("<w>", f"<w{n}>")
            )
        text = "/" + "/".join(segments)
        if segments and rng.random() < 0.3:
            text += "/"
        kw: dict[str, Any] = {}
        methods = rng.choice([None, ["GET"], ["POST"], ["GET", "POST"], ["PUT"]])
        if methods:
            kw["methods"] = methods
        if rng.random() < 0.15:
            kw["strict_slashes"] = False
        specs.append((text, f"e{idx}", kw))
    return specs


def _random_path(rng: random.Random, specs: list[RuleSpec]) -> str:
    if rng.random() < 0.5:
        # Fill a registered rule's variables so that matches are frequent.
        samples = ["1", "a", "2.5", "x", "a/b", "12345678-1234-5678-1234-567812345678"]
        path = re.sub("<[^>]+>", lambda _: rng.choice(samples), rng.choice(specs)[0])
    else:
        path = "/" + "/".join(rng.choice(_PATH_SEGMENTS) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.2:
        path += "/"
    if rng.random() < 0.05:
        path = path.replace("/", "//", 1)
    return path


@pytest.mark.parametrize("seed", range(12))
def test_random_rule_sets_match_like_werkzeug(seed: int) -> None:
    rng = random.Random(seed)
    compared = 0
    for _ in range(25):
        specs = _random_rules(rng)
        map_kwargs: dict[str, Any] = {}
        if rng.random() < 0.2:
            map_kwargs["strict_slashes"] = False
        if rng.random() < 0.2:
            map_kwargs["merge_slashes"] = False
        try:
            theirs = make_wz_map(specs, **map_kwargs)
        except (ValueError, SyntaxError):
            # Werkzeug rejects the same variable twice with a SyntaxError; so do we, with ValueError.
            with pytest.raises(ValueError):
                make_map(specs, **map_kwargs)
            continue
        ours = make_map(specs, **map_kwargs)
        for _ in range(20):
            path = _random_path(rng, specs)
            method = rng.choice(["GET", "POST", "HEAD", "DELETE"])
            expected = wz_outcome(theirs, path, method)
            assert outcome(ours, path, method) == expected, (specs, map_kwargs, path, method)
            compared += 1
    assert compared > 200


# -- methods ---------------------------------------------------------------------------------


def test_method_not_allowed_lists_union_of_matching_rules() -> None:
    m = make_map(
        [
            ("/x", "get", {"methods": ["GET"]}),
            ("/x", "post", {"methods": ["POST", "OPTIONS"]}),
            ("/<a>", "put", {"methods": ["PUT"]}),
            ("/other", "other", {"methods": ["PATCH"]}),
        ]
    )
    with pytest.raises(MethodNotAllowed) as info:
        m.match("/x", "DELETE")
    assert info.value.valid_methods == ["GET", "HEAD", "OPTIONS", "POST", "PUT"]
    assert match(m, "/x", "PUT") == ("put", {"a": "x"})
    assert match(m, "/x", "POST") == ("post", {})
    with pytest.raises(MethodNotAllowed) as info:
        m.match("/y", "GET")
    assert info.value.valid_methods == ["PUT"]
    with pytest.raises(NotFound):
        m.match("/y/z", "GET")


def test_rule_without_methods_accepts_any_method() -> None:
    m = make_map([("/x", "x", {})])
    for method in ["GET", "POST", "BREW", "OPTIONS"]:
        assert match(m, "/x", method) == ("x", {})


def test_static_rule_with_wrong_method_falls_back_to_dynamic_rule() -> None:
    m = make_map(
        [("/x/new", "new", {"methods": ["GET"]}), ("/x/<id>", "item", {"methods": ["POST"]})]
    )
    assert match(m, "/x/new", "GET") == ("new", {})
    assert match(m, "/x/new", "POST") == ("item", {"id": "new"})


# -- slashes ---------------------------------------------------------------------------------


def test_strict_slashes_redirect() -> None:
    m = make_map([("/a/", "a", {}), ("/u/<name>/", "u", {}), ("/f/<path:p>/", "f", {})])
    for path, target in [
        ("/a", "/a/"),
        ("/u/x", "/u/x/"),
        ("/f/x/y", "/f/x/y/"),
        ("/u/ä b", "/u/%C3%A4%20b/"),
    ]:
        with pytest.raises(RequestRedirect) as info:
            m.match(path)
        assert info.value.new_url == target
        assert info.value.code == 308
    assert match(m, "/a/") == ("a", {})
    assert match(m, "/f/x/y/") == ("f", {"p": "x/y"})


def test_strict_slashes_off() -> None:
    m = make_map([("/a/", "a", {}), ("/b", "b", {})], strict_slashes=False)
    assert match(m, "/a") == ("a", {})
    assert match(m, "/a/") == ("a", {})
    assert match(m, "/b/") == ("b", {})
    m = make_map([("/a/", "a", {"strict_slashes": False}), ("/b", "b", {})])
    assert match(m, "/a") == ("a", {})
    with pytest.raises(NotFound):
        m.match("/b/")


def test_redirect_only_when_slash_rule_accepts_method() -> None:
    m = make_map([("/a/", "a", {"methods": ["POST"]})])
    with pytest.raises(RequestRedirect):
        m.match("/a", "POST")
    with pytest.raises(NotFound):
        m.match("/a", "GET")


def test_merge_slashes() -> None:
    m = make_map(
        [("/a/b", "ab", {}), ("/c/<x>/d", "c", {}), ("/raw//x", "raw", {"merge_slashes": False})]
    )
    for path, target in [("/a//b", "/a/b"), ("/a///b", "/a/b"), ("/c//1//d", "/c/1/d")]:
        with pytest.raises(RequestRedirect) as info:
            m.match(path)
        assert info.value.new_url == target
    assert match(m, "/raw//x") == ("raw", {})
    with pytest.raises(NotFound):
        m.match("/raw/x")
    # Leading slashes collapse without a redirect, as in Werkzeug.
    assert match(m, "//a/b") == ("ab", {})
    off = make_map([("/a/b", "ab", {})], merge_slashes=False)
    with pytest.raises(NotFound):
        off.match("/a//b")


# -- websocket -------------------------------------------------------------------------------


def test_websocket_and_http_rules_are_separate() -> None:
    m = make_map(
        [
            ("/ws", "ws", {"websocket": True, "methods": ["GET"]}),
            ("/both", "both_http", {}),
            ("/both", "both_ws", {"websocket": True}),
            ("/dyn/<x>", "dyn_ws", {"websocket": True}),
            ("/dyn/<x>", "dyn_http", {}),
        ]
    )
    assert m.match("/ws", websocket=True)[0].endpoint == "ws"
    with pytest.raises(NotFound):
        m.match("/ws")
    with pytest.raises(NotFound):
        m.match("/ws", "POST")
    assert match(m, "/both") == ("both_http", {})
    assert m.match("/both", websocket=True)[0].endpoint == "both_ws"
    assert match(m, "/dyn/1") == ("dyn_http", {"x": "1"})
    assert m.match("/dyn/1", websocket=True)[0].endpoint == "dyn_ws"
    with pytest.raises(NotFound):
        make_map([("/http", "h", {})]).match("/http", websocket=True)


def test_trailing_slash_redirect_respects_websocket_separation() -> None:
    m = make_map([("/ws/", "ws", {"websocket": True}), ("/http/", "http", {})])
    with pytest.raises(NotFound):
        m.match("/ws")
    with pytest.raises(RequestRedirect):
        m.match("/ws", websocket=True)
    with pytest.raises(NotFound):
        m.match("/http", websocket=True)
    with pytest.raises(RequestRedirect):
        m.match("/http")


# -- scale -----------------------------------------------------------------------------------


def test_thousand_rule_map() -> None:
    specs: list[RuleSpec] = []
    for i in range(1000):
        specs.append((f"/r{i}/<int:id>", f"r{i}", {}))
        specs.append((f"/s{i}", f"s{i}", {}))
        specs.append((f"/t{i}/<name>/<path:rest>", f"t{i}", {}))
        specs.append((f"/u{i}/", f"u{i}", {"methods": ["POST"]}))
    m = make_map(specs)
    for i in [0, 1, 499, 998, 999]:
        assert match(m, f"/r{i}/{i}") == (f"r{i}", {"id": i})
        assert match(m, f"/s{i}") == (f"s{i}", {})
        assert match(m, f"/t{i}/x/a/b") == (f"t{i}", {"name": "x", "rest": "a/b"})
        assert match(m, f"/u{i}/", "POST") == (f"u{i}", {})
        assert outcome(m, f"/u{i}", "POST") == ("redirect", f"/u{i}/")
        assert outcome(m, f"/u{i}/", "GET") == ("405", ["POST"])
        for path in [f"/r{i}/x", f"/r{i}", f"/s{i}/", f"/t{i}/x", f"/r{i}/1/2"]:
            assert outcome(m, path) == ("404",), path
        assert m.build(f"r{i}", {"id": i})[0] == f"/r{i}/{i}"
    for path in ["/r1000/1", "/s1000", "/", "/x/y/z"]:
        assert outcome(m, path) == ("404",), path


def test_trie_does_not_scan_rules() -> None:
    # Structural check of the scalability claim: the node under "/r999" holds one edge.
    m = make_map([(f"/r{i}/<int:id>", f"r{i}", {}) for i in range(1000)])
    m.update()
    domain = m._root.static[""]
    assert len(domain.static) == 1000
    assert not domain.dynamic
    assert len(domain.static["r999"].dynamic) == 1
