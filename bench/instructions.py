"""Count instructions per request with callgrind: a repeatable figure for before/after work.

Time on a shared 2-core machine moves with whatever else runs; the number of instructions a
request executes does not. For each variant and scenario this runs the harness's own batch
twice under ``valgrind --tool=callgrind`` (``n`` and ``2n`` requests, after a warm-up in
both), and reports the difference divided by ``n``: start-up, imports and the warm-up cancel.

    python -m bench.instructions                          # erlen-wsgi and erlen-asgi, all scenarios
    python -m bench.instructions --variant erlen-wsgi --scenario hello,session
    python -m bench.instructions --variant falcon --scenario hello
    python -m bench.instructions --variant erlen-wsgi,compat:erlen-wsgi,compat:flask --scenario hello

A ``compat:`` prefix runs the variant with :mod:`erlen.flask_compat` active: ``compat:flask``
is the Flask bench app, unchanged, on Erlen (``import flask`` answers with Erlen), and
``compat:erlen-wsgi`` is Erlen's own app in a process where compat mode is on.

Needs ``valgrind`` (Debian package of that name). Figures are instructions, not seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence

#: A variant named ``compat:<variant>`` runs with erlen.flask_compat active.
COMPAT_PREFIX = "compat:"
_TOTAL = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def _run_batch(variant_name: str, scenario_name: str, n: int, warmup: int) -> None:
    """Child side: build the variant's app, check the scenario, then send it ``n`` times."""
    if variant_name.startswith(COMPAT_PREFIX):
        import erlen.flask_compat  # noqa: F401  (first: flask must answer with Erlen)

        variant_name = variant_name[len(COMPAT_PREFIX) :]
    from bench import harness

    _subject, run = harness.batch_for(variant_name, scenario_name, asyncio.new_event_loop())
    run(warmup)
    run(n)


def _count(variant: str, scenario: str, n: int, warmup: int) -> int:
    """Total instructions of one child run of ``n`` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--child",
                variant,
                scenario,
                str(n),
                str(warmup),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        with open(out) as f:
            match = _TOTAL.search(f.read())
    if match is None:
        raise RuntimeError("callgrind wrote no summary line")
    return int(match.group(1))


def per_request(variant: str, scenario: str, n: int = 1000, warmup: int = 200) -> float:
    """Instructions one more request costs, for a variant and scenario."""
    return (_count(variant, scenario, 2 * n, warmup) - _count(variant, scenario, n, warmup)) / n


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print a table of instructions per request."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--child":
        _run_batch(args[1], args[2], int(args[3]), int(args[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--variant", default="erlen-wsgi,erlen-asgi")
    parser.add_argument("--scenario", default="")
    parser.add_argument("-n", type=int, default=1000, help="requests per measured batch")
    opts = parser.parse_args(args)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    from bench.harness import SCENARIO_NAMES

    scenarios = opts.scenario.split(",") if opts.scenario else list(SCENARIO_NAMES)
    variants = opts.variant.split(",")
    print(f"{'scenario':<14}" + "".join(f"{v:>18}" for v in variants))
    for scenario in scenarios:
        cells = []
        for variant in variants:
            try:
                cells.append(f"{per_request(variant, scenario, opts.n):>18,.0f}")
            except (subprocess.CalledProcessError, RuntimeError):
                cells.append(f"{'n/a':>18}")
        print(f"{scenario:<14}" + "".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
