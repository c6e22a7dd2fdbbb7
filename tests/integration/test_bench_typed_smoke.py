"""Every app of ``python -m bench.typed`` answers every typed scenario correctly, on both doors.

Only correctness is checked: performance goals never gate tests.  A framework that is not
installed is skipped; one that is installed but whose bench app breaks fails the test.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ lives beside src/, outside the installed package
    sys.path.insert(0, str(ROOT))

from bench import harness, typed  # noqa: E402
from bench.apps.typed_models import BAD_FIELD, RECEIPT  # noqa: E402

CASES = [
    pytest.param(framework, name, scenario, id=f"{name}-{scenario.name}")
    for framework in typed.FRAMEWORKS
    for name in framework.variants
    for scenario in typed.SCENARIOS
]
JSON = [("content-type", "application/json")]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


@pytest.mark.parametrize(("framework", "name", "scenario"), CASES)
def test_typed_app_answers_scenario(
    framework: harness.Framework,
    name: str,
    scenario: harness.Scenario,
    loop: asyncio.AbstractEventLoop,
) -> None:
    if not harness.installed(framework):
        pytest.skip(f"{framework.requires} is not installed")
    variants, reason = typed.load(framework)
    assert reason is None, reason
    variant = next(v for v in variants if v.name == name)
    subject = harness.Subject(variant, loop)
    try:
        driver, request = typed.prepare(subject, scenario)  # raises harness.Broken if wrong
        reply = driver.call(request)
    finally:
        subject.close()
    assert reply.status == scenario.status
    assert typed.problem(scenario, reply) is None


def test_every_variant_is_registered() -> None:
    """The registry names exactly the variants each typed app module defines."""
    for framework in typed.FRAMEWORKS:
        if harness.installed(framework):
            module = importlib.import_module(f"bench.apps.{framework.name}")
            assert tuple(v.name for v in module.VARIANTS) == framework.variants


@pytest.mark.parametrize(
    ("name", "reply", "expected"),
    [
        ("typed_post", harness.Reply(200, JSON, json.dumps(RECEIPT).encode()), "status 200"),
        ("typed_post", harness.Reply(201, JSON, b'{"order_id": 7}'), "expected"),
        ("typed_post_invalid", harness.Reply(400, JSON, b'{"loc": "price"}'), "status 400"),
        ("typed_post_invalid", harness.Reply(422, [], b'{"loc": "price"}'), "content type"),
        ("typed_post_invalid", harness.Reply(422, JSON, b'{"detail": "bad"}'), BAD_FIELD),
        ("typed_get", harness.Reply(200, JSON, b'{"q": "erlen", "limit": 10}'), "expected"),
    ],
)
def test_check_catches_wrong_answers(name: str, reply: harness.Reply, expected: str) -> None:
    """The check is not vacuous: a wrong status, body or error document is reported."""
    scenario = next(s for s in typed.SCENARIOS if s.name == name)
    found = typed.problem(scenario, reply)
    assert found is not None
    assert expected in found


def test_quick_run_writes_ratios_and_targets(tmp_path: Path) -> None:
    """A tiny run of the command times, compares and writes the JSON (figures not checked)."""
    pytest.importorskip("erlen.typed")
    out = tmp_path / "typed.json"
    only = "erlen-wsgi,erlen-wsgi-plain,erlen-asgi,erlen-asgi-plain"
    assert (
        typed.main(["--quick", "--only", only, "--scenario", "typed_get", "--json", str(out)]) == 0
    )
    data = json.loads(out.read_text())
    assert {r["status"] for r in data["inprocess"]} == {"ok"}
    by_target = {t["target"]: t for t in data["targets"]}
    hand = by_target["<= 1.2x the same view written by hand"]
    assert set(hand["ratios"]) == {"wsgi", "asgi"}
    assert hand["status"] in ("met", "missed")
