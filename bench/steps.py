"""Where one request goes, step by step: each Python call it makes and the bytecodes each runs.

    python -m bench.steps                                     # erlen-wsgi and falcon, hello
    python -m bench.steps --variant erlen-asgi,falcon-asgi,blacksheep --scenario json

For each variant, after a warm-up, one request of the scenario is traced with
:func:`sys.settrace` (opcode events, deterministic). The report is the call tree
of that request: one line per Python call, or per resumption of a coroutine or
generator, indented by depth, with the bytecodes it ran itself and with what it
called. The harness's own driver loop is the root and is not counted. Functions
written in C (``dict.get``, ``json.dumps``, Cython code) run no bytecodes and do
not appear, so compare totals with :mod:`bench.instructions`, which counts
machine instructions and includes them; this report says which step they fall in.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

#: Files of the harness itself: its frames are the driver, not the request.
_DRIVER_FILE = "bench/harness.py"


@dataclass
class Step:
    """One Python call (or resumption) during the traced request."""

    name: str
    depth: int
    own: int = 0
    calls: list[Step] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Bytecodes run by this call and everything it called."""
        return self.own + sum(step.total for step in self.calls)


def _where(code: CodeType) -> str:
    """A short, stable name for a code object: ``package/module.py:Qualified.name``."""
    path = code.co_filename.replace("\\", "/")
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        index = path.rfind(marker)
        if index >= 0:
            path = path[index + len(marker) :]
            if marker == "/lib/python":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    else:
        if "/bench/" in path:
            path = path[path.rfind("/bench/") + 1 :]
    qualname = getattr(code, "co_qualname", code.co_name)
    return f"{path}:{qualname}"


def trace_one(run: Any) -> Step:
    """Call ``run(1)`` under an opcode tracer; return the tree of calls it made."""
    root = Step("request", -1)
    stack = [root]

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "opcode":
            stack[-1].own += 1
        elif event == "return" and len(stack) > 1:
            stack.pop()
        return local

    def on_call(frame: FrameType, event: str, arg: object) -> Any:
        if event != "call":
            return None
        step = Step(_where(frame.f_code), len(stack) - 1)
        stack[-1].calls.append(step)
        stack.append(step)
        frame.f_trace_opcodes = True
        return local

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        run(1)
    finally:
        sys.settrace(previous)
    return root


#: The harness's batch loops, innermost first: ``many`` runs inside the event loop (ASGI),
#: ``run`` calls the app (WSGI) or ``run_until_complete(many(n))`` (ASGI).
_BATCH_LOOPS = (".batch.<locals>.many", ".batch.<locals>.run")


def request_steps(root: Step) -> list[Step]:
    """The calls the request made: what the harness's batch loop called, less the harness.

    For ASGI, the event loop's own frames around the batch (``run_until_complete``)
    are the driver's too, the same for every framework, and are left out.
    """
    steps: list[Step] = []

    def collect(step: Step) -> None:
        for child in step.calls:
            if child.name.startswith(_DRIVER_FILE):
                collect(child)
            else:
                steps.append(child)

    def find(step: Step, loop: str) -> bool:
        found = False
        for child in step.calls:
            if child.name.startswith(_DRIVER_FILE) and child.name.endswith(loop):
                collect(child)
                found = True
            else:
                found = find(child, loop) or found
        return found

    for loop in _BATCH_LOOPS:
        if find(root, loop):
            break
    return steps


def every_step(steps: list[Step]) -> Iterator[Step]:
    """Each step of the tree, callers before their callees."""
    for step in steps:
        yield step
        yield from every_step(step.calls)


def render(steps: list[Step], min_total: int = 0) -> list[str]:
    """The call tree as text: ``total  own  name``, indented by depth below the driver."""
    lines: list[str] = []
    base = min((step.depth for step in steps), default=0)

    def emit(step: Step, depth: int) -> None:
        if step.total < min_total:
            return
        lines.append(f"{step.total:>6} {step.own:>5}  {'  ' * depth}{step.name}")
        for child in step.calls:
            emit(child, depth + 1)

    for step in steps:
        emit(step, step.depth - base)
    return lines


def _package(name: str) -> str:
    """Who a step belongs to: a package, ``stdlib <module>``, the bench app or the harness."""
    if name.startswith("bench/apps/"):
        return "the bench app"
    if name.startswith(_DRIVER_FILE):
        return "the harness (server side)"
    if name.startswith("<"):  # code generated at run time: <erlen.globals: ...>, <string>
        inner = name[1:].split(":", 1)[0].split(".", 1)[0]
        return inner if inner.isidentifier() and inner != "string" else "generated code"
    package = name.split("/", 1)[0].split(":", 1)[0]
    if package == "stdlib":
        package = "stdlib " + name.split("/", 2)[1].split(":", 1)[0].split(".", 1)[0]
    return package


def by_package(steps: list[Step]) -> dict[str, int]:
    """Bytecodes per top-level package (``erlen``, ``werkzeug``, ``stdlib``, ...)."""
    totals: dict[str, int] = {}

    def walk(step: Step) -> None:
        package = _package(step.name)
        totals[package] = totals.get(package, 0) + step.own
        for child in step.calls:
            walk(child)

    for step in steps:
        walk(step)
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def profile(variant_name: str, scenario_name: str, warmup: int = 200) -> list[Step]:
    """Trace one warmed-up request of a bench variant and scenario."""
    from bench import harness

    loop = asyncio.new_event_loop()
    subject, run = harness.batch_for(variant_name, scenario_name, loop)
    try:
        run(warmup)
        return request_steps(trace_one(run))
    finally:
        harness.close_subjects([subject], loop)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print each variant's call tree for one request, then the totals."""
    parser = argparse.ArgumentParser(prog="python -m bench.steps", description=__doc__)
    parser.add_argument("--variant", default="erlen-wsgi,falcon")
    parser.add_argument("--scenario", default="hello")
    parser.add_argument(
        "--min", type=int, default=0, help="leave out calls that run fewer bytecodes than this"
    )
    opts = parser.parse_args(argv)
    summary: list[str] = []
    for variant in opts.variant.split(","):
        steps = profile(variant, opts.scenario)
        total = sum(step.total for step in steps)
        count = sum(1 for _ in every_step(steps))
        print(f"== {variant}, {opts.scenario}: {total} bytecodes in {count} Python calls")
        print(f"{'total':>6} {'own':>5}  call")
        print("\n".join(render(steps, opts.min)))
        packages = ", ".join(f"{name} {ops}" for name, ops in by_package(steps).items())
        summary.append(f"{variant:<14} {total:>6} bytecodes, {count:>3} calls: {packages}")
        print()
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
