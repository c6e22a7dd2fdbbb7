"""``python -m bench``: Erlen side by side with its peers, in one process and one run.

Examples (from the repository root)::

    python -m bench --quick                   # every framework and scenario, < 30 s
    python -m bench --plot                    # full run, chart to bench/results/bench.png
    python -m bench --only erlen,flask --scenario hello,json
    python -m bench --only erlen,starlette --scenario ws_echo,ws_room   # WebSockets only
    python -m bench --servers --quick         # also gunicorn/uvicorn/granian under wrk
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import harness, report

DEFAULT_JSON = Path("bench/results/latest.json")
DEFAULT_PLOT = Path("bench/results/bench.png")
# Scenarios a server run can load with plain wrk (GET, no cookie to obtain first).
SERVER_SCENARIOS = ("hello", "path_param", "json", "query", "template", "not_found")


def _names(text: str | None, known: tuple[str, ...], what: str) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Median µs per request of the same scenarios in Erlen and its peers.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (< 30 s)")
    parser.add_argument(
        "--plot", nargs="?", const=DEFAULT_PLOT, type=Path, metavar="PATH",
        help=f"write a PNG chart (default path: {DEFAULT_PLOT})",
    )  # fmt: skip
    parser.add_argument(
        "--json", default=DEFAULT_JSON, type=Path, metavar="PATH",
        help=f"where to write the results (default: {DEFAULT_JSON})",
    )  # fmt: skip
    parser.add_argument(
        "--servers", action="store_true",
        help="also run each framework under gunicorn/uvicorn/granian, loaded by wrk",
    )  # fmt: skip
    parser.add_argument("--servers-only", action="store_true", help="run only the server benchmark")
    parser.add_argument(
        "--only", metavar="FRAMEWORK,...",
        help="frameworks or variants to run (e.g. erlen,flask or starlette-sync); "
        "include erlen to get ratios",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", metavar="NAME,...",
        help=f"scenarios: {', '.join(harness.SCENARIO_NAMES)}; WebSocket scenarios (Erlen and "
        f"Starlette): {', '.join(harness.WEBSOCKET_SCENARIO_NAMES)}",
    )  # fmt: skip
    parser.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu",
        help="report process CPU time per request (default: steady on a busy machine) or "
        "wall-clock time; both are written to the JSON",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=int, default=None, metavar="S",
        help="seconds of each wrk run (default 2; 3 interleaved runs per server, 1 with --quick)",
    )  # fmt: skip
    return parser.parse_args(argv)


def _progress(start: float) -> Any:
    def progress(text: str) -> None:
        print(f"  [{time.perf_counter() - start:5.1f}s] {text}", file=sys.stderr, flush=True)

    return progress


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    progress = _progress(start)
    settings = (harness.Settings.quick if args.quick else harness.Settings.full)(args.clock)
    known = tuple(dict.fromkeys([*(f.name for f in harness.FRAMEWORKS), *harness.VARIANT_NAMES]))
    only = _names(args.only, known, "framework")
    scenario_names = _names(
        args.scenario, harness.SCENARIO_NAMES + harness.WEBSOCKET_SCENARIO_NAMES, "scenario"
    )
    scenarios = [s for s in harness.SCENARIOS if not scenario_names or s.name in scenario_names]
    ws_scenarios = [
        s for s in harness.WEBSOCKET_SCENARIOS if not scenario_names or s.name in scenario_names
    ]
    frameworks = harness.select(only)

    data: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "quick": args.quick,
            "argv": sys.argv[1:] if argv is None else argv,
            "versions": harness.versions(),
        },
        "settings": vars(settings) | {"probe_frameworks": settings.probe_frameworks},
        "scenarios": [{"name": s.name, "title": s.title} for s in harness.SCENARIOS],
        "websocket_scenarios": [
            asdict(s) | {"window": harness.WS_WINDOW} for s in harness.WEBSOCKET_SCENARIOS
        ],
    }
    print(
        f"Erlen bench: Python {data['meta']['python']} on {data['meta']['platform']}, "
        f"{data['meta']['cpus']} CPUs, {'quick' if args.quick else 'full'} run",
        flush=True,
    )
    table = report.Table([])
    imports: dict[str, dict[str, Any]] = {}
    rss: dict[str, dict[str, Any]] = {}
    websocket: list[harness.WebSocketResult] | None = None
    if not args.servers_only:
        results: list[harness.Result] = []
        if scenarios:
            results = harness.run_inprocess(frameworks, scenarios, settings, only, progress)
        table = report.Table(results)
        data["inprocess"] = [_with_ratio(r, table) for r in harness.results_as_dicts(results)]
        if ws_scenarios:
            websocket = harness.run_websocket(frameworks, settings, ws_scenarios, progress)
        data["websocket"] = harness.results_as_dicts(websocket or [])
        probed = [
            f for f in frameworks
            if settings.probe_frameworks is None or f.name in settings.probe_frameworks
        ]  # fmt: skip
        progress("import time and memory probes")
        imports, rss = harness.measure_probes(probed, settings.probe_runs, settings.clock)
        data["imports_ms"], data["rss_mib"] = imports, rss
        if table.results:
            print()
            print(report.format_tables(table, settings.clock))
        if websocket:
            print()
            print(report.format_websocket(websocket, settings.clock))
        print()
        print(report.format_probes(imports, rss, settings.clock))

    server_rows: list[dict[str, Any]] | None = None
    if args.servers or args.servers_only:
        server_rows = _run_servers(args, frameworks, only, scenario_names, progress)
        data["servers"] = server_rows

    verdicts = report.evaluate_targets(table, imports, rss, server_rows)
    data["targets"] = [v.as_dict() for v in verdicts]
    print()
    print(report.format_targets(verdicts, websocket))

    data["elapsed_s"] = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, args.json)
    print(f"\nWrote {args.json}", end="")
    if args.plot and table.results:
        title = (
            f"Erlen and its peers in-process: median µs per request "
            f"({report.CLOCKS[settings.clock]}, lower is better); Python "
            f"{data['meta']['python']}, {data['meta']['cpus']} CPUs, {data['meta']['date'][:10]}"
        )
        report.plot(table, args.plot, title)
        print(f" and {args.plot}", end="")
    print(f" in {data['elapsed_s']:.1f} s")
    return 0


def _with_ratio(row: dict[str, Any], table: report.Table) -> dict[str, Any]:
    """Add the Erlen variant this row compares with, and the ratio (peer ÷ Erlen)."""
    if row["protocol"] in ("wsgi", "asgi"):
        base = harness.baseline_for(row["protocol"], row["views"])
        row["baseline"] = base
        ratio = table.ratio(row["variant"], base, row["scenario"])
        row["ratio_to_erlen"] = None if row["variant"] == base else ratio
    return row


def _run_servers(
    args: argparse.Namespace,
    frameworks: list[harness.Framework],
    only: list[str] | None,
    scenario_names: list[str] | None,
    progress: Any,
) -> list[dict[str, Any]]:
    from bench import servers

    wanted = [n for n in (scenario_names or ["hello"]) if n in SERVER_SCENARIOS]
    if not wanted:
        print(f"\nServer runs take only these scenarios: {', '.join(SERVER_SCENARIOS)}")
        return []
    chosen = []
    for framework in frameworks:
        variants, reason = harness.load_framework(framework.name)
        if reason:
            progress(f"servers: {framework.name} unavailable ({reason})")
        for v in variants:
            crossed = (v.protocol, v.views) in (("asgi", "sync"), ("wsgi", "async"))
            if crossed or (only and v.name not in only and framework.name not in only):
                continue
            chosen.append((v.name, v.protocol, v.hooks))
    # The raw callables are the reference: always include them.
    for raw, protocol in (("raw-wsgi", "wsgi"), ("raw-asgi", "asgi")):
        if all(name != raw for name, _, _ in chosen):
            chosen.append((raw, protocol, False))
    duration = args.duration or 2
    rounds = 1 if args.quick else 3
    scenarios = [s for s in harness.SCENARIOS if s.name in wanted]
    rows, skipped = servers.run_servers(chosen, scenarios, duration, rounds, progress)
    print()
    if skipped:
        print(f"Server runs skipped: {skipped}")
        return []
    print(report.format_servers(rows))
    return rows


if __name__ == "__main__":
    sys.exit(main())
