"""An optional orjson that is missing, too old or broken never breaks ``import erlen``.

erlen.json.provider checks orjson once, at import; when it cannot be used the provider
takes the json module's path and says why on the ``erlen.json`` logger at debug level.
The in-process tests call the loader with a stand-in in ``sys.modules`` (monkeypatch puts
the real module back); the end-to-end ones import erlen in a fresh interpreter with a
stand-in ``orjson`` first on ``PYTHONPATH``, which is what a user with another package's
orjson would see.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import erlen.json.provider as provider_module

# -- stand-ins -------------------------------------------------------------------------------

# A pure-Python orjson lookalike: the provider's names, json's output for its options.
_LOOKALIKE = """
import json

__version__ = "{version}"
JSONDecodeError = json.JSONDecodeError
OPT_INDENT_2 = 1
OPT_APPEND_NEWLINE = 2
OPT_SORT_KEYS = 4
OPT_PASSTHROUGH_DATACLASS = 8
OPT_PASSTHROUGH_DATETIME = 16
OPT_PASSTHROUGH_SUBCLASS = 32


class Fragment:
    def __init__(self, contents):
        self.contents = contents


def dumps(obj, default=None, option=0):
    indent = 2 if option & OPT_INDENT_2 else None
    text = json.dumps(
        obj,
        default=default,
        indent=indent,
        separators=None if indent else (",", ":"),
        sort_keys=bool(option & OPT_SORT_KEYS),
        ensure_ascii=False,
    )
    return (text + "\\n" if option & OPT_APPEND_NEWLINE else text).encode()


def loads(s):
    return json.loads(s)
"""


def _lookalike(version: str = "3.10.0", *, no_fragment: bool = False, tail: str = "") -> str:
    source = _LOOKALIKE.format(version=version)
    if no_fragment:
        source = source.replace("class Fragment:", "class _Gone:")
    return source + textwrap.dedent(tail)


# name -> (the stand-in's source, what the debug message must say)
STAND_INS: dict[str, tuple[str, str]] = {
    "too old (no Fragment)": (
        _lookalike("3.8.14", no_fragment=True),
        "orjson 3.8.14 is not used (the json module is): it has no Fragment"
        " (erlen[speed] needs orjson>=3.9)",
    ),
    "import raises": (
        'raise RuntimeError("built for another Python")\n',
        "orjson is not used (the json module is): importing it failed:"
        " RuntimeError: built for another Python",
    ),
    "a broken build": (
        'raise ImportError("orjson.so: undefined symbol: PyFoo")\n',
        "orjson is not used (the json module is): importing it failed:"
        " ImportError: orjson.so: undefined symbol: PyFoo",
    ),
    "a dependency is missing": (
        "import orjson_helper_that_is_not_there\n",
        "orjson is not used (the json module is): importing it failed:"
        " No module named 'orjson_helper_that_is_not_there'",
    ),
    "loads raises": (
        _lookalike(
            tail="""
            def loads(s):
                raise SystemError("broken build")
            """
        ),
        "orjson 3.10.0 is not used (the json module is): checking it failed:"
        " SystemError: broken build",
    ),
    "dumps ignores sort_keys": (
        _lookalike(
            tail="""
            _dumps = dumps

            def dumps(obj, default=None, option=0):
                return _dumps(obj, default=default, option=option & ~OPT_SORT_KEYS)
            """
        ),
        "orjson 3.10.0 is not used (the json module is): orjson.dumps wrote",
    ),
}


# Stand-ins that fail as they are imported, which only a fresh interpreter shows.
RAISE_ON_IMPORT = {"import raises", "a broken build", "a dependency is missing"}


def _module(source: str, name: str = "orjson") -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<stand-in {name}>", "exec"), module.__dict__)
    return module


@pytest.fixture
def load_with(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Callable[[Any], tuple[Any, list[str]]]:
    """Run the loader with ``sys.modules["orjson"]`` set; return its result and debug lines."""

    def load(stand_in: Any) -> tuple[Any, list[str]]:
        monkeypatch.setitem(sys.modules, "orjson", stand_in)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="erlen.json"):
            result = provider_module._load_orjson()
        lines = [r.getMessage() for r in caplog.records if r.name == "erlen.json"]
        return result, lines

    return load


# -- the loader, in process --------------------------------------------------------------------


def test_a_working_orjson_is_used_without_a_message(
    load_with: Callable[[Any], tuple[Any, list[str]]],
) -> None:
    orjson = pytest.importorskip("orjson")
    assert load_with(orjson) == (orjson, [])
    # A lookalike that behaves as the provider needs passes the check too.
    lookalike = _module(_lookalike())
    assert load_with(lookalike) == (lookalike, [])


def test_a_missing_orjson_is_not_installed(
    load_with: Callable[[Any], tuple[Any, list[str]]],
) -> None:
    # None in sys.modules: the import raises ModuleNotFoundError, as for no orjson at all.
    result, lines = load_with(None)
    assert result is None
    assert lines == ["orjson is not used (the json module is): it is not installed"]


@pytest.mark.parametrize("name", [n for n in STAND_INS if n not in RAISE_ON_IMPORT])
def test_an_unusable_orjson_is_left_out_saying_why(
    load_with: Callable[[Any], tuple[Any, list[str]]], name: str
) -> None:
    source, message = STAND_INS[name]
    result, lines = load_with(_module(source))
    assert result is None
    assert len(lines) == 1
    assert lines[0].startswith(message), lines


def test_an_orjson_whose_attributes_raise_is_left_out(
    load_with: Callable[[Any], tuple[Any, list[str]]],
) -> None:
    broken = _module(
        textwrap.dedent(
            """
            def __getattr__(name):  # even for __version__
                raise RuntimeError(f"no {name} today")
            """
        )
    )
    result, lines = load_with(broken)
    assert result is None
    assert lines == [
        "orjson of unknown version is not used (the json module is): checking it failed:"
        " RuntimeError: no dumps today"
    ]


# -- import erlen, in a fresh interpreter ------------------------------------------------------

SCRIPT = """
import datetime
import json
import logging
import sys

records = []


class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())


logging.getLogger("erlen.json").addHandler(Keep())
logging.getLogger("erlen.json").setLevel(logging.DEBUG)

import erlen
import erlen.json.provider
from erlen import Erlen, jsonify, request

app = Erlen(__name__)


@app.get("/jsonify")
def view_jsonify():
    return jsonify(b=[1, 2.5, "\\u00e9"], a=None)


@app.get("/dict")
def view_dict():
    return {"when": datetime.date(2000, 1, 2), "n": 10**20}


@app.post("/echo")
def view_echo():
    return {"got": request.get_json()}


client = app.test_client()
with app.app_context():
    direct = erlen.json.dumps({"b": 1, "a": [1, 2]})
    parsed = erlen.json.loads(b'{"x": [1, 2, {"y": null}]}')
print(json.dumps({
    "orjson": repr(erlen.json.provider._orjson),
    "orjson_dumps": erlen.json.provider._orjson_dumps is not None,
    "records": records,
    "jsonify": client.get("/jsonify").get_data(as_text=True),
    "dict": client.get("/dict").get_data(as_text=True),
    "echo": client.post("/echo", json={"k": [1, "v"]}).get_data(as_text=True),
    "direct": direct,
    "parsed": parsed,
}))
"""


def run_with_stand_in(tmp_path: Path, source: str) -> dict[str, Any]:
    (tmp_path / "orjson.py").write_text(source, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("name", list(STAND_INS))
def test_import_erlen_falls_back_to_json(tmp_path: Path, name: str) -> None:
    source, message = STAND_INS[name]
    result = run_with_stand_in(tmp_path, source)
    assert result["orjson"] == "None"
    assert result["orjson_dumps"] is False
    assert len(result["records"]) == 1
    assert result["records"][0].startswith(message), result["records"]
    # Responses and request bodies are what the json module gives.
    assert result["jsonify"] == '{"a":null,"b":[1,2.5,"\\u00e9"]}\n'
    assert result["dict"] == '{"n":100000000000000000000,"when":"Sun, 02 Jan 2000 00:00:00 GMT"}\n'
    assert result["echo"] == '{"got":{"k":[1,"v"]}}\n'
    assert result["direct"] == '{"a": [1, 2], "b": 1}'
    assert result["parsed"] == {"x": [1, 2, {"y": None}]}


def test_import_erlen_uses_a_lookalike_that_passes_the_check(tmp_path: Path) -> None:
    """The control: the same script with a stand-in that works takes the orjson path."""
    result = run_with_stand_in(tmp_path, _lookalike())
    assert result["orjson"].startswith("<module 'orjson'")
    assert result["orjson_dumps"] is True
    assert result["records"] == []
    assert result["jsonify"] == '{"a":null,"b":[1,2.5,"\\u00e9"]}\n'
    assert result["echo"] == '{"got":{"k":[1,"v"]}}\n'
