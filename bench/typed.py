"""``python -m bench.typed``: typed views (issue 18) in Erlen, FastAPI, Litestar and BlackSheep.

Every app validates the same Pydantic models (``bench/apps/typed_models.py``) and is called
in-process through its own protocol by the drivers of ``bench/harness.py``: no server, no socket,
ASGI apps on one persistent event loop.  Before an app is timed on a scenario, one request checks
the status and body (for the invalid order: the status, a JSON body and the failing field's
name); an app that answers wrongly is BROKEN and not timed.  Then every app is calibrated and
warmed up, and the timed rounds are interleaved across all of them; each figure is the median µs
per request, in process CPU time by default.

Examples (from the repository root)::

    python -m bench.typed --quick                 # a few seconds
    python -m bench.typed                         # full run, to bench/results/typed.json
    python -m bench.typed --only erlen-wsgi,fastapi --scenario typed_post
    python -m bench.typed --profile erlen-wsgi:typed_post   # where Erlen's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import gc
import importlib
import io
import json
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import harness
from bench.apps.common import Variant
from bench.apps.typed_models import (
    BAD_FIELD,
    BAD_ORDER_BODY,
    CREATED,
    INVALID,
    ORDER_BODY,
    ORDERS_PATH,
    RECEIPT,
    SEARCH_PATH,
    SEARCH_QUERY,
    SEARCH_RESULT,
)
from bench.report import Verdict

DEFAULT_JSON = Path("bench/results/typed.json")
JSON_HEADERS = (("Content-Type", "application/json"),)

SCENARIOS: tuple[harness.Scenario, ...] = (
    harness.Scenario(
        "typed_post", "validated JSON POST: nested model in, model out (201)", method="POST",
        path=ORDERS_PATH, headers=JSON_HEADERS, body=ORDER_BODY, status=CREATED, json=RECEIPT,
    ),
    harness.Scenario(
        "typed_post_invalid", "the same POST, one line's price negative (422)", method="POST",
        path=ORDERS_PATH, headers=JSON_HEADERS, body=BAD_ORDER_BODY, status=INVALID,
    ),
    harness.Scenario(
        "typed_get", "GET with two typed query parameters (q: str, limit: int = 10)",
        path=SEARCH_PATH, query=SEARCH_QUERY, json=SEARCH_RESULT,
    ),
)  # fmt: skip
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
SHORT = {"typed_post": "post", "typed_post_invalid": "post 422", "typed_get": "get"}

# Module bench/apps/<name>.py and the package it needs, for each framework.
FRAMEWORKS: tuple[harness.Framework, ...] = (
    harness.Framework(
        "typed_erlen", "erlen",
        ("erlen-wsgi", "erlen-asgi", "erlen-wsgi-plain", "erlen-asgi-plain"),
    ),
    harness.Framework("typed_fastapi", "fastapi", ("fastapi",)),
    harness.Framework("typed_litestar", "litestar", ("litestar",)),
    harness.Framework("typed_blacksheep", "blacksheep", ("blacksheep",)),
)  # fmt: skip
VARIANT_NAMES = tuple(v for f in FRAMEWORKS for v in f.variants)
# Erlen's typed variant on each door, and its hand-written twin.
DOORS = {"wsgi": ("erlen-wsgi", "erlen-wsgi-plain"), "asgi": ("erlen-asgi", "erlen-asgi-plain")}
PEERS = ("fastapi", "litestar", "blacksheep")


def full_settings(clock: str = "cpu") -> harness.Settings:
    """The full run: about 25 s on an idle 2-core machine."""
    return harness.Settings(
        rounds=21, round_time=0.04, warmup=0.1, probe_runs=0, probe_frameworks=(), clock=clock
    )


def quick_settings(clock: str = "cpu") -> harness.Settings:
    """The quick run: a few seconds."""
    return harness.Settings(
        rounds=5, round_time=0.01, warmup=0.01, probe_runs=0, probe_frameworks=(), clock=clock
    )


# --- apps and checks ----------------------------------------------------------------------------


def load(framework: harness.Framework) -> tuple[list[Variant], str | None]:
    """Import a framework's typed bench module: its variants, or why it is unavailable."""
    if not harness.installed(framework):
        return [], f"{framework.requires} is not installed"
    try:
        module = importlib.import_module(f"bench.apps.{framework.name}")
    except Exception as exc:  # report any failure, never crash the run
        return [], f"import failed: {type(exc).__name__}: {exc}"
    return list(module.VARIANTS), None


def problem(scenario: harness.Scenario, reply: harness.Reply) -> str | None:
    """What is wrong with a reply to a typed scenario, or None.

    Beyond the main harness's check (status, and the exact JSON body where one is expected), a
    422 must have a JSON body that names the failing field: each framework words it its own way.
    """
    found = harness.check(scenario, reply, hooks=False)
    if found is not None or scenario.status != INVALID:
        return found
    content_type = reply.header("content-type") or ""
    if "json" not in content_type:
        return f"422 with content type {content_type!r}, expected JSON"
    if BAD_FIELD.encode() not in reply.body:
        return f"422 body does not name the field {BAD_FIELD!r}: {reply.body[:160]!r}"
    return None


def prepare(
    subject: harness.Subject, scenario: harness.Scenario
) -> tuple[harness.Driver, harness.Request]:
    """Build the variant's app, send the scenario's request once and check the answer.

    Raise ``harness.Broken`` if the app cannot be built or answers wrongly.
    """
    try:
        driver = subject.driver("main")
    except Exception as exc:
        raise harness.Broken(f"building the app failed: {type(exc).__name__}: {exc}") from exc
    request = harness.Request.of(scenario)
    try:
        reply = driver.call(request)
    except Exception as exc:
        raise harness.Broken(f"{type(exc).__name__}: {exc}") from exc
    found = problem(scenario, reply)
    if found is not None:
        raise harness.Broken(found)
    return driver, request


# --- the run ------------------------------------------------------------------------------------


def run(
    variants: Sequence[str],
    scenarios: Sequence[harness.Scenario],
    settings: harness.Settings,
    progress: Callable[[str], None] | None = None,
) -> list[harness.Result]:
    """Check, calibrate and time every variant on every scenario, rounds interleaved."""
    results: list[harness.Result] = []
    jobs: list[harness.Job] = []
    subjects: list[harness.Subject] = []
    loop = asyncio.new_event_loop()
    try:
        for framework in FRAMEWORKS:
            wanted = [v for v in framework.variants if v in variants]
            if not wanted:
                continue
            found, reason = load(framework)
            if reason is not None:
                for name in wanted:
                    results += [
                        harness.Result(name, framework.requires, "?", "?", s.name, "n/a", reason)
                        for s in scenarios
                    ]
                if progress:
                    progress(f"{framework.requires}: unavailable ({reason})")
                continue
            for variant in (v for v in found if v.name in wanted):
                subject = harness.Subject(variant, loop)
                subjects.append(subject)
                for scenario in scenarios:
                    result = harness.Result(
                        variant.name, variant.framework, variant.protocol, variant.views,
                        scenario.name, "ok",
                    )  # fmt: skip
                    results.append(result)
                    try:
                        driver, request = prepare(subject, scenario)
                        batch = driver.batch(request)
                        result.iterations = harness.calibrate(batch, settings)
                    except harness.Broken as exc:
                        result.status, result.reason = "broken", str(exc)
                        continue
                    except Exception as exc:
                        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
                        continue
                    jobs.append(harness.Job(result, batch))
                if progress:
                    progress(f"{variant.name}: built, checked and calibrated")
        # PERF: as in the main harness, the apps built so far stay out of the collector's way.
        gc.collect()
        gc.freeze()
        for index in range(settings.rounds):
            for job in jobs:
                if job.result.status != "ok":
                    continue
                try:
                    wall, cpu = harness.time_round(job.run, job.result.iterations)
                except Exception as exc:
                    job.result.status = "error"
                    job.result.reason = f"{type(exc).__name__}: {exc}"
                    continue
                job.result.rounds.append(wall)
                job.result.cpu_rounds.append(cpu)
            if progress:
                progress(f"round {index + 1}/{settings.rounds} done")
        harness.take_medians(jobs, settings.clock)
    finally:
        harness.close_subjects(subjects, loop)
    return results


# --- ratios and targets -------------------------------------------------------------------------


class Figures:
    """Results indexed by variant and scenario."""

    def __init__(self, results: Sequence[harness.Result]) -> None:
        self.results = list(results)
        self.cells = {(r.variant, r.scenario): r for r in self.results}
        self.variants = list(dict.fromkeys(r.variant for r in self.results))
        names = {r.scenario for r in self.results}
        self.scenarios = [s.name for s in SCENARIOS if s.name in names]

    def us(self, variant: str, scenario: str) -> float | None:
        cell = self.cells.get((variant, scenario))
        return cell.us if cell is not None and cell.status == "ok" else None

    def ratio(self, variant: str, other: str, scenario: str) -> float | None:
        """``variant``'s time divided by ``other``'s, when both were measured."""
        a, b = self.us(variant, scenario), self.us(other, scenario)
        return a / b if a is not None and b else None


def ratios(figures: Figures) -> list[dict[str, Any]]:
    """Every Erlen-typed ÷ other ratio of this run: the peers, and the hand-written views."""
    rows = []
    for door, (erlen, plain) in DOORS.items():
        for other in (*PEERS, plain):
            for scenario in figures.scenarios:
                value = figures.ratio(erlen, other, scenario)
                if value is not None:
                    rows.append({"door": door, "erlen": erlen, "other": other,
                                 "scenario": scenario, "ratio": value})  # fmt: skip
    return rows


def evaluate_targets(figures: Figures) -> list[Verdict]:
    """Issue 18's speed targets, on both doors (each verdict's worst case decides)."""
    rows = [
        ("validated JSON POST", "Erlen <= 0.5x FastAPI's time", "fastapi", "typed_post", 0.5),
        ("validated JSON POST", "Erlen <= 1.0x Litestar's time", "litestar", "typed_post", 1.0),
        ("typed GET, two query parameters", "<= 1.2x the same view written by hand", None,
         "typed_get", 1.2),
    ]  # fmt: skip
    verdicts = []
    for what, target, peer, scenario, limit in rows:
        verdict = Verdict(what, target, limit)
        for door, (erlen, plain) in DOORS.items():
            value = figures.ratio(erlen, peer or plain, scenario)
            if value is not None:
                verdict.ratios[door] = value
        verdict.missing = f"{scenario}: Erlen or {peer or 'the hand-written views'} not measured"
        verdicts.append(verdict)
    return verdicts


# --- printing -----------------------------------------------------------------------------------


def _cell(result: harness.Result | None, text: str) -> str:
    if result is None:
        return "-"
    if result.status == "ok":
        return text
    return {"n/a": "n/a", "broken": "BROKEN", "error": "ERROR"}[result.status]


def format_tables(figures: Figures, clock: str) -> str:
    """The µs table, the ratio table per door, and what failed."""
    width = 10
    names = figures.variants
    name_width = max([20, *(len(n) + 2 for n in names)])
    head = " " * name_width + "".join(f"{SHORT[s]:>{width}}" for s in figures.scenarios)
    out = [f"In-process: median µs per request, {harness_clock(clock)} (lower is better)", head]
    for name in names:
        cells = []
        for s in figures.scenarios:
            r = figures.cells.get((name, s))
            cells.append(f"{_cell(r, f'{r.us:.1f}' if r and r.us else ''):>{width}}")
        out.append(f"  {name:<{name_width - 2}}" + "".join(cells))
    if any(erlen in names for erlen, _ in DOORS.values()):
        out += ["", "Ratio: Erlen's typed view's time ÷ the other's (<1: Erlen faster)", head]
    for door, (erlen, plain) in DOORS.items():
        if erlen not in names:
            continue
        out.append(f"{door.upper()} door ({erlen} ÷ ...)")
        for other in (*PEERS, plain):
            if other not in names:
                continue
            cells = []
            for s in figures.scenarios:
                value = figures.ratio(erlen, other, s)
                text = f"{value:.2f}" if value is not None else "-"
                cells.append(f"{_cell(figures.cells.get((other, s)), text):>{width}}")
            out.append(f"  {other:<{name_width - 2}}" + "".join(cells))
    out += ["", "Columns: " + "; ".join(f"{SHORT[s.name]} = {s.title}" for s in SCENARIOS)]
    bad = [r for r in figures.results if r.status != "ok"]
    if bad:
        out += ["", "Not timed:"]
        out += [f"  {r.variant}/{r.scenario}: {r.status}: {r.reason}" for r in bad]
    return "\n".join(out)


def harness_clock(clock: str) -> str:
    return {"cpu": "process CPU time", "wall": "wall-clock time"}[clock]


def format_targets(verdicts: Sequence[Verdict]) -> str:
    lines = ["Targets (issue 18; Erlen's time ÷ the other's, from this run, WSGI and ASGI doors)"]
    lines += [v.line() for v in verdicts]
    met = sum(v.status == "met" for v in verdicts)
    missed = sum(v.status == "missed" for v in verdicts)
    lines.append(f"{met} met, {missed} missed, {len(verdicts) - met - missed} not measured")
    return "\n".join(lines)


# --- profile ------------------------------------------------------------------------------------


def profile(spec: str, calls: int, limit: int) -> str:
    """cProfile ``calls`` requests of one variant on one scenario; the top functions by own time
    and by cumulative time."""
    name, _, scenario_name = spec.partition(":")
    scenario = next((s for s in SCENARIOS if s.name == scenario_name), None)
    framework = next((f for f in FRAMEWORKS if name in f.variants), None)
    if scenario is None or framework is None:
        raise SystemExit(f"--profile takes VARIANT:SCENARIO, e.g. erlen-wsgi:typed_post; "
                         f"variants: {', '.join(VARIANT_NAMES)}; "
                         f"scenarios: {', '.join(SCENARIO_NAMES)}")  # fmt: skip
    found, reason = load(framework)
    if reason is not None:
        raise SystemExit(f"{name}: {reason}")
    variant = next(v for v in found if v.name == name)
    loop = asyncio.new_event_loop()
    subject = harness.Subject(variant, loop)
    try:
        driver, request = prepare(subject, scenario)
        batch = driver.batch(request)
        batch(max(1, calls // 10))  # warm up
        profiler = cProfile.Profile()
        profiler.enable()
        batch(calls)
        profiler.disable()
    finally:
        subject.close()
        loop.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"{name} on {scenario_name}: {calls} requests\n")
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# --- command line -------------------------------------------------------------------------------


def _names(text: str | None, known: tuple[str, ...], what: str) -> list[str]:
    if not text:
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.typed",
        description="Typed views (validated JSON POST, typed GET) in Erlen and its peers.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter rounds (a few seconds)"
    )
    parser.add_argument(
        "--json", default=DEFAULT_JSON, type=Path, metavar="PATH",
        help=f"where to write the results (default: {DEFAULT_JSON})",
    )  # fmt: skip
    parser.add_argument("--only", metavar="VARIANT,...", help=", ".join(VARIANT_NAMES))
    parser.add_argument("--scenario", metavar="NAME,...", help=", ".join(SCENARIO_NAMES))
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu",
        help="report process CPU time (default) or wall-clock time; both go to the JSON",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="VARIANT:SCENARIO",
        help="profile one variant on one scenario instead of timing (nothing is written)",
    )  # fmt: skip
    parser.add_argument("--calls", type=int, default=20000, help="requests to profile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.calls, 30))
        return 0
    start = time.perf_counter()

    def progress(text: str) -> None:
        print(f"  [{time.perf_counter() - start:5.1f}s] {text}", file=sys.stderr, flush=True)

    settings = (quick_settings if args.quick else full_settings)(args.clock)
    variants = _names(args.only, VARIANT_NAMES, "variant")
    wanted = _names(args.scenario, SCENARIO_NAMES, "scenario")
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    data: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "argv": sys.argv[1:] if argv is None else argv,
            "versions": _versions(),
        },
        "settings": asdict(settings),
        "scenarios": [{"name": s.name, "title": s.title} for s in SCENARIOS],
    }
    print(
        f"Erlen typed bench: Python {data['meta']['python']} on {data['meta']['platform']}, "
        f"{data['meta']['cpus']} CPUs, {'quick' if args.quick else 'full'} run",
        flush=True,
    )
    results = run(variants, scenarios, settings, progress)
    figures = Figures(results)
    verdicts = evaluate_targets(figures)
    data["inprocess"] = harness.results_as_dicts(results)
    data["ratios"] = ratios(figures)
    data["targets"] = [v.as_dict() for v in verdicts]
    print()
    print(format_tables(figures, settings.clock))
    print()
    print(format_targets(verdicts))
    data["elapsed_s"] = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, args.json)
    print(f"\nWrote {args.json} in {data['elapsed_s']:.1f} s")
    return 0


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("erlen", "fastapi", "starlette", "litestar", "blacksheep", "pydantic",
                 "pydantic-core", "msgspec"):  # fmt: skip
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    sys.exit(main())
