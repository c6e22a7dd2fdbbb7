"""``python -m bench.steps``: the call tree of one request, for Erlen and a peer.

Only the shape of the report is checked (which calls a request makes and that the
counts add up), never how many bytecodes: performance goals never gate tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ lives beside src/, outside the installed package
    sys.path.insert(0, str(ROOT))

from bench import harness, steps  # noqa: E402


def names(tree: list[steps.Step]) -> list[str]:
    return [step.name for step in steps.every_step(tree)]


@pytest.mark.parametrize(
    ("variant", "entry"),
    [("erlen-wsgi", "erlen/wsgi.py:handle"), ("erlen-asgi", "erlen/asgi.py:handle_http")],
)
def test_one_request_is_traced_from_the_door_down(variant: str, entry: str) -> None:
    before = sys.gettrace()
    tree = steps.profile(variant, "hello", warmup=5)
    assert sys.gettrace() is before  # the tracer is taken off again
    called = names(tree)
    assert entry in called
    assert "erlen/app.py:Erlen.begin_request" in called
    # The view and the hooks of the bench app are steps of the request too.
    assert any(name.startswith("bench/apps/erlen.py:") for name in called)
    # The harness's batch loop and the event loop around it are not.
    assert not any(name.endswith((".<locals>.run", ".<locals>.many")) for name in called)
    assert not any(name.startswith("stdlib/asyncio/base_events.py:") for name in called)
    # A step's total is its own bytecodes plus its callees', and the package totals add up.
    for step in steps.every_step(tree):
        assert step.total == step.own + sum(child.total for child in step.calls)
        assert step.own >= 0
    assert sum(steps.by_package(tree).values()) == sum(step.total for step in tree) > 0
    assert steps.by_package(tree)["erlen"] > 0


def test_the_report_prints_each_variant_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    falcon = next(f for f in harness.FRAMEWORKS if f.name == "falcon")
    variants = "erlen-wsgi,falcon" if harness.installed(falcon) else "erlen-wsgi"
    assert steps.main(["--variant", variants, "--scenario", "json", "--min", "10"]) == 0
    out = capsys.readouterr().out
    assert "== erlen-wsgi, json:" in out
    assert "erlen/wsgi.py:handle" in out
    for variant in variants.split(","):
        assert any(line.startswith(f"{variant} ") for line in out.splitlines())
