"""Run Flask's and its extensions' release test suites on real Flask and on Erlen, and compare.

``python tests/ecosystem/eco_runner.py [SUITE ...] [--write docs/_data/ecosystem.json]``

1. A venv of its own (pytest < 9, the pinned releases in ``requirements.txt``, Erlen from this
   checkout, editable) in the cache directory: ``$ERLEN_ECOSYSTEM_CACHE``, else
   ``~/.cache/erlen-ecosystem``. It lives outside the checkout so that CI, which clones afresh
   for every run, finds it warm on the same machine.
2. Each suite's release sdist from PyPI (``pip download --no-binary :all:``), unpacked once.
3. Each suite runs on real Flask, on Erlen's WSGI door and on Erlen's ASGI door
   (``-p erlen.flask_compat``, ``ERLEN_TEST_DOOR``), each in a fresh copy of its tree, bounded
   in time, two at a time; suites that use the same service (Redis, Postgres) take turns. The
   real-Flask outcomes are kept in the cache until the pins or the suite's settings change.
4. Per test id: a test that passes on Flask and not on Erlen is a regression unless
   ``exclusions.toml`` lists it with a reason.

Every run loads ``eco_guard`` (this directory), which refuses to run a suite on the wrong
framework or door and records each test's outcome.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
EXCLUSIONS = HERE / "exclusions.toml"
DOORS = ("wsgi", "asgi")
#: Seconds one test may take (pytest-timeout), and one suite run in all.
TEST_TIMEOUT = 30
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class Suite:
    """One release test suite: where its tests come from and how to run them."""

    name: str
    #: The PyPI requirement whose sdist holds the tests.
    sdist: str
    #: Test paths inside the unpacked sdist.
    paths: tuple[str, ...] = ("tests",)
    args: tuple[str, ...] = ()
    #: Services the suite talks to; suites sharing one take turns.
    services: tuple[str, ...] = ()
    #: Why the tests come from another release than the installed one, if they do.
    note: str = ""
    #: A run takes a minute or more: start its jobs first.
    slow: bool = False

    def key(self) -> str:
        """What the cached real-Flask outcomes depend on."""
        return json.dumps([self.sdist, self.paths, self.args, TEST_TIMEOUT])


SUITES: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("flask", "flask==3.1.3"),
        Suite("flask-login", "flask-login==0.6.3"),
        Suite("flask-wtf", "flask-wtf==1.3.0"),
        Suite("flask-sqlalchemy", "flask-sqlalchemy==3.1.1"),
        Suite("flask-migrate", "flask-migrate==4.1.0", slow=True),
        Suite("flask-cors", "flask-cors==6.0.5"),
        Suite("flask-limiter", "flask-limiter==4.1.1", services=("redis",)),
        Suite("flask-caching", "flask-caching==2.5.1", services=("redis",)),
        Suite(
            "flask-session",
            "flask-session==0.5.0",
            paths=("test_session.py",),
            services=("redis",),
            note="the sdists of 0.6.0, 0.7.0 and 0.8.0 ship no tests; 0.5.0's test_session.py"
            " is the nearest release that does, run against the installed 0.8.0",
        ),
        Suite(
            "flask-admin",
            "flask-admin==2.2.1",
            paths=("flask_admin/tests",),
            slow=True,
            # Backends that need a service this machine does not run (Azurite, S3, PostGIS,
            # MongoDB, a Postgres with its own user and hstore): their tests fail to connect
            # on Flask as on Erlen.
            args=tuple(
                f"--ignore=flask_admin/tests/{p}"
                for p in (
                    "fileadmin/test_fileadmin_azure.py",
                    "fileadmin/test_fileadmin_s3.py",
                    "sqla/test_postgres.py",
                    "geoa",
                    "mongoengine",
                    "pymongo",
                )
            ),
        ),
        Suite("flask-restful", "flask-restful==0.3.10"),
        Suite("flask-socketio", "flask-socketio==5.7.0", paths=("test_socketio.py",)),
        # Beyond the list: suites whose runs on Erlen found differences, kept so
        # that those fixes stay in place (authentication, security headers, compression,
        # OpenAPI and serialization, client-side dates).
        Suite("flask-httpauth", "flask-httpauth==4.8.1"),
        Suite("flask-jwt-extended", "flask-jwt-extended==4.7.4"),
        Suite(
            "flask-talisman", "flask-talisman==1.1.0", paths=("flask_talisman/talisman_test.py",)
        ),
        Suite("flask-compress", "flask-compress==1.25"),
        Suite("flask-smorest", "flask-smorest==0.47.0"),
        Suite("flask-marshmallow", "flask-marshmallow==1.5.0"),
        Suite("flask-moment", "flask-moment==1.0.6"),
    ]
}

_service_locks = {name: threading.Lock() for name in ("redis", "postgres")}
_print_lock = threading.Lock()


def log(message: str) -> None:
    with _print_lock:
        print(f"[ecosystem {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("ERLEN_ECOSYSTEM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "erlen-ecosystem"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _run(cmd: list[str], **kwargs: Any) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


# -- the environment -------------------------------------------------------------------------


def ensure_venv(cache: Path) -> Path:
    """The ecosystem venv's python, created or brought up to date."""
    venv = cache / "venv"
    python = venv / "bin" / "python"
    stamp = venv / "erlen-ecosystem.json"
    want_deps = _digest(REQUIREMENTS.read_text(), sys.version)
    checkout = str(ROOT)
    state: dict[str, str] = {}
    if stamp.exists():
        state = json.loads(stamp.read_text())
    if not python.exists() or state.get("deps") != want_deps:
        log(f"building the venv in {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS), "-e", checkout])
        state = {"deps": want_deps, "checkout": checkout}
    elif state.get("checkout") != checkout:
        log(f"pointing the venv's erlen at {checkout}")
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", checkout])
        state["checkout"] = checkout
    stamp.write_text(json.dumps(state))
    return python


def ensure_sources(suite: Suite, python: Path, cache: Path) -> Path:
    """The unpacked release sdist of a suite (downloaded once)."""
    base = cache / "src" / suite.sdist.replace("==", "-")
    done = base / ".unpacked"
    if done.exists():
        return Path(done.read_text())
    downloads = cache / "sdist" / suite.sdist.replace("==", "-")
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    log(f"{suite.name}: downloading the {suite.sdist} sdist")
    cmd = [str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    _run([*cmd, suite.sdist, "-d", str(downloads)])
    (archive,) = [p for p in downloads.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(base, filter="data")
    (top,) = [p for p in base.iterdir() if p.is_dir()]
    missing = [p for p in suite.paths if not (top / p).exists()]
    if missing:
        raise RuntimeError(f"{suite.sdist}: its sdist has no {', '.join(missing)}")
    done.write_text(str(top))
    return top


# -- one run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The outcomes of one suite run, by test id."""

    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0
    tail: str = ""

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for outcome in self.outcomes.values():
            if outcome in ("passed", "xpassed"):
                counts["passed"] += 1
            elif outcome in ("skipped", "xfailed"):
                counts["skipped"] += 1
            else:
                counts["failed"] += 1
        counts["collect_errors"] = len(self.collect_errors)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": self.outcomes,
            "messages": self.messages,
            "collect_errors": self.collect_errors,
            "problem": self.problem,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            data["outcomes"],
            data["messages"],
            data["collect_errors"],
            data["problem"],
            data["seconds"],
        )


def run_suite(
    suite: Suite,
    mode: str,
    python: Path,
    source: Path,
    cache: Path,
    deselect: Iterable[str] = (),
) -> RunResult:
    """Run one suite on ``flask``, ``wsgi`` or ``asgi`` (Erlen's doors) in a fresh copy.

    ``deselect``: node id prefixes not run on Erlen (see :class:`Exclusion`).
    """
    work = cache / "work" / f"{suite.name}-{mode}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, symlinks=True)
    out = work / ".eco-outcomes.jsonl"
    # A temporary directory of the run's own. Flask-Session's suite keeps filesystem sessions
    # in tempfile.gettempdir() through cachelib, whose pruning deletes every file there that it
    # takes for an expired entry: in the machine's /tmp, other programs' files (JSON, PNG,
    # Markdown, ... whose first four bytes read as a past time).
    scratch = work / ".eco-tmp"
    scratch.mkdir()
    # ``CI`` goes too: some suites (Flask-Caching) refuse to start their own Redis when it is
    # set and expect a CI service on their own port; here they start it as on a laptop.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "PYTEST_")) and k != "CI"
    }
    env.update(
        PYTHONPATH=str(HERE),
        # The suites' subprocesses (Flask-Migrate's ``flask db``) use the venv's commands.
        PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
        ECO_OUT=str(out),
        TMPDIR=str(scratch),
        ECO_EXPECT="flask" if mode == "flask" else "erlen",
    )
    cmd = [str(python), "-m", "pytest", *suite.paths, *suite.args]
    cmd += ["-q", "-rN", "--color=no", f"--timeout={TEST_TIMEOUT}", "-o", "addopts="]
    # A module that fails to import (an optional backend) must not stop the others.
    cmd += ["--continue-on-collection-errors"]
    if mode == "flask":
        cmd += ["-p", "eco_guard"]
    else:
        env.update(ERLEN_FLASK_COMPAT="1", ERLEN_TEST_DOOR=mode)
        cmd += ["-p", "erlen.flask_compat", "-p", "eco_guard"]
        cmd += [f"--deselect={prefix}" for prefix in deselect]
    started = time.monotonic()
    result = RunResult()
    with open(work / ".eco-output.txt", "w+") as output:
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result.problem = f"the run took over {RUN_TIMEOUT} s and was stopped"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the suite left running
            except ProcessLookupError:
                pass
        output.seek(0)
        result.tail = output.read()[-4000:]
    result.seconds = round(time.monotonic() - started, 1)
    guard_started = False
    if out.exists():
        for line in out.read_text().splitlines():
            record = json.loads(line)
            if "guard" in record:
                guard_started = guard_started or record["guard"] == "start"
                if record["problem"]:
                    result.problem = f"eco_guard ({record['guard']}): {record['problem']}"
            elif record["outcome"] == "collect-error":
                result.collect_errors[record["id"]] = record.get("message", "")
            else:
                result.outcomes[record["id"]] = record["outcome"]
                if record.get("message"):
                    result.messages[record["id"]] = record["message"]
    if not guard_started and not result.problem:
        result.problem = "pytest did not start the suite:\n" + result.tail[-1500:]
    log(
        f"{suite.name} on {mode}: {result.counts()} in {result.seconds} s"
        + (f" [{result.problem.splitlines()[0]}]" if result.problem else "")
    )
    return result


# -- comparing -------------------------------------------------------------------------------


class Exclusion(NamedTuple):
    """One entry of ``exclusions.toml``."""

    pattern: str
    reason: str
    doors: tuple[str, ...]
    #: Not run on Erlen at all (the test would start a real server): ``pattern`` is then a
    #: node id prefix, passed to pytest's ``--deselect``.
    deselect: bool = False

    def matches(self, test_id: str) -> bool:
        # A test id is matched as written first: its "[params]" would be a character class.
        if test_id == self.pattern or (self.deselect and test_id.startswith(self.pattern)):
            return True
        return fnmatch.fnmatchcase(test_id, self.pattern)


def load_exclusions(path: Path = EXCLUSIONS) -> dict[str, list[Exclusion]]:
    """``suite -> [Exclusion]`` from ``exclusions.toml``."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    table: dict[str, list[Exclusion]] = {}
    for suite, entries in data.items():
        for pattern, value in entries.items():
            if isinstance(value, str):
                entry = Exclusion(pattern, value, DOORS)
            else:
                entry = Exclusion(
                    pattern,
                    value["reason"],
                    tuple(value.get("doors", DOORS)),
                    bool(value.get("deselect", False)),
                )
            if not entry.reason.strip():
                raise ValueError(f"exclusions.toml: {suite} {pattern} gives no reason")
            table.setdefault(suite, []).append(entry)
    return table


def _passed(outcome: str | None) -> bool:
    return outcome in ("passed", "xpassed")


def _why_missing(test_id: str, run: RunResult) -> str:
    for collector, message in run.collect_errors.items():
        if test_id.startswith(collector):
            return f"not collected: {message}"
    return run.problem.splitlines()[0] if run.problem else "no outcome recorded"


def compare(
    suite: Suite,
    door: str,
    flask_run: RunResult,
    erlen_run: RunResult,
    exclusions: Iterable[Exclusion],
) -> dict[str, Any]:
    """The differences of one suite on one door; ``regressions`` are the unexpected ones."""
    rules = [e for e in exclusions if door in e.doors]
    used: set[str] = set()
    regressions: list[dict[str, str]] = []
    excluded: list[dict[str, str]] = []
    for test_id in sorted(flask_run.outcomes):
        if not _passed(flask_run.outcomes[test_id]):
            continue
        outcome = erlen_run.outcomes.get(test_id)
        if _passed(outcome):
            continue
        entry = {
            "id": test_id,
            "erlen": outcome or "missing",
            "message": erlen_run.messages.get(test_id, "")
            if outcome
            else _why_missing(test_id, erlen_run),
        }
        rule = next((e for e in rules if e.matches(test_id)), None)
        if rule is None:
            regressions.append(entry)
        else:
            used.add(rule.pattern)
            excluded.append({**entry, "reason": rule.reason})
    fixed = sorted(
        t
        for t, o in erlen_run.outcomes.items()
        if _passed(o) and not _passed(flask_run.outcomes.get(t))
    )
    problems = [p for p in (flask_run.problem, erlen_run.problem) if p]
    if not flask_run.outcomes:
        problems.append("no test ran on Flask: the comparison says nothing")
    return {
        "flask": flask_run.counts(),
        "flask_collect_errors": flask_run.collect_errors,
        "erlen": erlen_run.counts(),
        "seconds": {"flask": flask_run.seconds, "erlen": erlen_run.seconds},
        "problems": problems,
        "regressions": regressions,
        "excluded": excluded,
        "passes_only_on_erlen": fixed,
        "unused_exclusions": sorted({e.pattern for e in rules} - used),
    }


# -- the whole run ---------------------------------------------------------------------------


def run_all(
    names: Iterable[str] | None = None, jobs: int = 2, refresh_baseline: bool = False
) -> dict[str, Any]:
    """Run the suites (all by default) on Flask and both doors; the results, by suite and door."""
    started = time.monotonic()
    suites = [SUITES[n] for n in (names or SUITES)]
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    python = ensure_venv(cache)
    deps = _digest(REQUIREMENTS.read_text(), sys.version)
    exclusions = load_exclusions()
    results: dict[str, Any] = {}
    runs: dict[tuple[str, str], RunResult] = {}
    errors: dict[str, str] = {}
    suite_locks = {s.name: threading.Lock() for s in suites}

    def baseline_path(suite: Suite) -> Path:
        return cache / "baseline" / f"{suite.name}-{_digest(suite.key(), deps)}.json"

    def job(suite: Suite, mode: str) -> None:
        try:
            with suite_locks[suite.name]:  # the first job of a suite downloads it
                source = ensure_sources(suite, python, cache)
            if mode == "flask" and not refresh_baseline and baseline_path(suite).exists():
                runs[suite.name, mode] = RunResult.from_json(
                    json.loads(baseline_path(suite).read_text())
                )
                return
            locks = [_service_locks[s] for s in sorted(suite.services)]
            for lock in locks:
                lock.acquire()
            try:
                deselect = [
                    e.pattern
                    for e in exclusions.get(suite.name, [])
                    if e.deselect and mode in e.doors
                ]
                run = run_suite(suite, mode, python, source, cache, deselect)
            finally:
                for lock in reversed(locks):
                    lock.release()
            runs[suite.name, mode] = run
            if mode == "flask" and not run.problem:
                baseline_path(suite).parent.mkdir(parents=True, exist_ok=True)
                baseline_path(suite).write_text(json.dumps(run.to_json()))
        except Exception as exc:  # reported per suite, the others go on
            errors[suite.name] = f"{type(exc).__name__}: {exc}"
            log(f"{suite.name} on {mode}: {errors[suite.name]}")

    # Slow suites first; then mode by mode, so that two suites' downloads go on at once.
    order = [(s, m) for m in ("flask", *DOORS) for s in suites]
    order.sort(key=lambda sm: not sm[0].slow)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for _ in pool.map(lambda sm: job(*sm), order):
            pass

    for suite in suites:
        per_door: dict[str, Any] = {}
        for door in DOORS:
            flask_run = runs.get((suite.name, "flask"))
            erlen_run = runs.get((suite.name, door))
            if flask_run is None or erlen_run is None:
                per_door[door] = {"error": errors.get(suite.name, "the suite did not run")}
                continue
            per_door[door] = compare(
                suite, door, flask_run, erlen_run, exclusions.get(suite.name, [])
            )
        results[suite.name] = {"tests_from": suite.sdist, "note": suite.note, **per_door}
    return {
        "environment": {
            "python": sys.version.split()[0],
            "requirements": [
                line
                for line in REQUIREMENTS.read_text().splitlines()
                if "==" in line and not line.startswith("#")
            ],
        },
        "seconds": round(time.monotonic() - started, 1),
        "suites": results,
    }


def unexpected(results: dict[str, Any], suite: str, door: str, limit: int = 60) -> list[str]:
    """Readable lines for what went wrong in one suite on one door (empty when all is well)."""
    entry = results["suites"][suite][door]
    if "error" in entry:
        return [f"{suite} ({door}): {entry['error']}"]
    lines = [f"{suite} ({door}): {p}" for p in entry["problems"]]
    regressions = entry["regressions"]
    lines += [
        f"{suite} ({door}): {r['id']} passes on Flask, {r['erlen']} on Erlen: {r['message']}"
        for r in regressions[:limit]
    ]
    if len(regressions) > limit:
        lines.append(f"{suite} ({door}): ... and {len(regressions) - limit} more")
    return lines


def summary(results: dict[str, Any]) -> str:
    rows = [
        f"{'suite':18} {'door':5} {'flask p/f/s':>14} {'erlen p/f/s':>14} {'regr':>5} {'excl':>5}"
    ]
    for name, suite in results["suites"].items():
        for door in DOORS:
            entry = suite[door]
            if "error" in entry:
                rows.append(f"{name:18} {door:5} error: {entry['error'][:80]}")
                continue
            f, e = entry["flask"], entry["erlen"]
            rows.append(
                f"{name:18} {door:5} {f['passed']:>5}/{f['failed']}/{f['skipped']:<5}"
                f" {e['passed']:>6}/{e['failed']}/{e['skipped']:<5}"
                f" {len(entry['regressions']):>5} {len(entry['excluded']):>5}"
            )
    rows.append(f"wall time: {results['seconds']} s")
    return "\n".join(rows)


TABLE_START = (
    "<!-- ecosystem-table: generated by `make ecosystem` from docs/_data/ecosystem.json -->"
)
TABLE_END = "<!-- /ecosystem-table -->"


def markdown_table(results: dict[str, Any]) -> str:
    """The per-suite, per-door counts as a Markdown table (for docs/flask-compat.md)."""
    rows = [
        "| suite (tests from) | real Flask passed / failed | Erlen WSGI passed / failed"
        " | Erlen ASGI passed / failed | differences (WSGI / ASGI) |",
        "|---|---|---|---|---|",
    ]
    for name, suite in results["suites"].items():
        cells = [f"{name} (`{suite['tests_from']}`)"]
        entries = [suite[d] for d in DOORS]
        if any("error" in e for e in entries):
            cells += ["did not run"] * 3 + ["—"]
        else:
            flask = entries[0]["flask"]
            cells.append(f"{flask['passed']} / {flask['failed']}")
            cells += [f"{e['erlen']['passed']} / {e['erlen']['failed']}" for e in entries]
            cells.append(
                " / ".join(
                    f"{len(e['regressions'])}"
                    + (f" (+{len(e['excluded'])} excluded)" if e["excluded"] else "")
                    for e in entries
                )
            )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def update_doc(doc: Path, results: dict[str, Any]) -> None:
    """Replace the generated table in ``doc`` (between its markers) with ``results``."""
    text = doc.read_text()
    start = text.index(TABLE_START) + len(TABLE_START)
    end = text.index(TABLE_END, start)
    doc.write_text(text[:start] + "\n" + markdown_table(results) + "\n" + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", choices=[[], *SUITES], metavar="SUITE")
    parser.add_argument("--jobs", type=int, default=2, help="suite runs at once (default 2)")
    parser.add_argument("--write", type=Path, help="write the results JSON here")
    parser.add_argument(
        "--update-doc", type=Path, help="rewrite the generated table in this Markdown page"
    )
    parser.add_argument(
        "--refresh-baseline",
        action="store_true",
        help="rerun the suites on real Flask even when cached",
    )
    args = parser.parse_args(argv)
    results = run_all(args.suites or None, args.jobs, args.refresh_baseline)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if args.update_doc:
        update_doc(args.update_doc, results)
    print(summary(results))
    bad = [line for s in results["suites"] for d in DOORS for line in unexpected(results, s, d)]
    print(f"{len(bad)} unexpected difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
