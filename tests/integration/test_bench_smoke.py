"""Every benchmark app answers its hello scenario correctly, and the WebSocket apps echo and
broadcast every message, in order.

Only correctness is checked: performance goals never gate tests.  A framework that is not
installed is skipped; one that is installed but whose bench app breaks fails the test.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ lives beside src/, outside the installed package
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

HELLO = next(s for s in harness.SCENARIOS if s.name == "hello")
CASES = [
    pytest.param(framework, name, id=name)
    for framework in harness.FRAMEWORKS
    for name in framework.variants
]
WS_CASES = [
    pytest.param(name, scenario, id=f"{name}-{scenario.name}")
    for name in harness.WEBSOCKET_FRAMEWORKS
    for scenario in harness.WEBSOCKET_SCENARIOS
]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


@pytest.mark.parametrize(("framework", "name"), CASES)
def test_bench_app_answers_hello(
    framework: harness.Framework, name: str, loop: asyncio.AbstractEventLoop
) -> None:
    if not harness.installed(framework):
        pytest.skip(f"{framework.requires} is not installed")
    variants, reason = harness.load_framework(framework.name)
    assert reason is None, reason
    variant = next(v for v in variants if v.name == name)
    subject = harness.Subject(variant, loop)
    missing = subject.unsupported(HELLO)
    if missing:
        pytest.skip(missing)
    try:
        driver, request = subject.prepare(HELLO)  # raises harness.Broken on a wrong answer
        reply = driver.call(request)
    finally:
        subject.close()
    assert reply.status == 200
    assert reply.body == HELLO.text.encode()  # type: ignore[union-attr]


def test_every_variant_is_registered() -> None:
    """The registry names exactly the variants the app modules define."""
    for framework in harness.FRAMEWORKS:
        variants, reason = harness.load_framework(framework.name)
        if reason is None:
            assert tuple(v.name for v in variants) == framework.variants


@pytest.mark.parametrize(("name", "scenario"), WS_CASES)
def test_websocket_app_delivers_every_message_in_order(
    name: str, scenario: harness.WebSocketScenario, loop: asyncio.AbstractEventLoop
) -> None:
    if not harness.installed(harness.FRAMEWORK_BY_NAME[name]):
        pytest.skip(f"{name} is not installed")
    app, status, reason = harness.load_websocket_app(name)
    assert status == "ok", reason
    driver = harness.WebSocketDriver(app, loop)
    try:
        # Numbered messages, more than the client's window; raises harness.Broken unless every
        # client gets every message back (for the room: every member), in order, as text.
        driver.check(scenario)
    finally:
        driver.close()


def test_websocket_check_catches_a_wrong_echo(loop: asyncio.AbstractEventLoop) -> None:
    """The check is not vacuous: an echo that changes the text is reported as broken."""

    async def shouting_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"].upper()})

    driver = harness.WebSocketDriver(shouting_echo, loop)
    echo = next(s for s in harness.WEBSOCKET_SCENARIOS if not s.members)
    try:
        with pytest.raises(harness.Broken, match="message 0 came back as 'M0'"):
            driver.check(echo)
    finally:
        driver.close()


def test_a_target_row_gives_a_reason_only_while_it_is_unmeasured() -> None:
    from bench.report import Verdict

    row = Verdict("import", "import erlen <= 0.5x import flask", 0.5, missing="erlen: not run")
    assert row.as_dict()["status"] == "unmeasured"
    assert row.as_dict()["missing"] == "erlen: not run"
    row.ratios["import"] = 0.86
    assert row.as_dict()["status"] == "missed" and row.as_dict()["missing"] == ""
