"""``--servers``: each framework under real servers on loopback, loaded by ``wrk``.

For one server and scenario, every variant gets its own server process (one worker) on a free
port of 127.0.0.1; each is polled until its port answers (bounded) and checked with one request.
Then ``wrk -t1 -c32 -d{N}s --latency`` loads them one after another, for several rounds, and the
median requests/s and p99 are kept; every process started is stopped in a ``finally``.  Figures
are compared with the raw callable of the same protocol under the same server.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import Reply, Request, Scenario, check

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    """A server: the protocol it speaks and its command line for an app on a port."""

    name: str
    protocol: str
    module: str  # the module that must be importable to use it

    def command(self, port: int) -> list[str]:
        py = sys.executable
        bind = ["--host", "127.0.0.1", "--port", str(port)]
        if self.name == "gunicorn":
            return [
                py,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "bench.serve:app",
            ]
        if self.name == "uvicorn":
            return [
                py,
                "-m",
                "uvicorn",
                *bind,
                "--log-level",
                "warning",
                "--no-access-log",
                "bench.serve:app",
            ]
        interface = self.protocol
        # "granian-wsgi-1t": one blocking thread, as docs/deployment.md advises for views that
        # do not wait (the default pool makes every Python WSGI app hand the GIL around).
        threads = ["--blocking-threads", "1"] if self.name.endswith("-1t") else []
        return [py, "-m", "granian", "--interface", interface, *bind, "--workers", "1", *threads,
                "--log-level", "warning", "--no-access-log", "bench.serve:app"]  # fmt: skip


SERVERS: tuple[Server, ...] = (
    Server("gunicorn", "wsgi", "gunicorn"),
    Server("granian-wsgi", "wsgi", "granian"),
    Server("granian-wsgi-1t", "wsgi", "granian"),
    Server("uvicorn", "asgi", "uvicorn"),
    Server("granian-asgi", "asgi", "granian"),
)


def wrk_path() -> str | None:
    """Where ``wrk`` is, if it is installed."""
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll the port until it accepts a connection; fail if the server exits or is too slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server not listening after {timeout:.0f} s")


def fetch(port: int, request: Request, timeout: float = 20) -> Reply:
    """Send one request over HTTP and return the reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        target = request.path + (f"?{request.query}" if request.query else "")
        headers = {k: v for k, v in request.headers if k.lower() != "host"}
        conn.request(request.method, target, body=request.body or None, headers=headers)
        response = conn.getresponse()
        body = response.read()
        headers_out = [(k.lower(), v) for k, v in response.getheaders()]
        return Reply(response.status, headers_out, body)
    finally:
        conn.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server process group this module started (it leads its own session)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests per second, p99 latency (ms) and error counts from ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\b", output, re.MULTILINE)
    if rps is None or p99 is None:
        raise ValueError("could not parse wrk output:\n" + output)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(x) for x in sockets.groups()) if sockets else 0
    return {
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)],
        "errors": errors,
        "socket_errors": socket_errors,
    }


@dataclass
class _Running:
    """A started server process for one variant, and what its wrk runs gave."""

    variant: str
    hooks: bool
    port: int
    process: subprocess.Popen[bytes]
    log: Any
    row: dict[str, Any]
    runs: list[dict[str, Any]]


def _start(server: Server, variant: str, hooks: bool, scenario: Scenario, log: Any) -> _Running:
    port = free_port()
    env = {**os.environ, "ERLEN_BENCH_VARIANT": variant, "ERLEN_BENCH_APP": scenario.app}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        server.command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    row = {"server": server.name, "variant": variant, "scenario": scenario.name, "status": "ok"}
    return _Running(variant, hooks, port, process, log, row, [])


def _fail(running: _Running, exc: Exception) -> None:
    running.log.seek(0)
    tail = running.log.read().decode(errors="replace").strip().splitlines()[-3:]
    reason = f"{type(exc).__name__}: {exc}"
    if tail:
        reason += " | server log: " + " / ".join(tail)
    running.row.update(status="error", reason=reason)


def run_scenario(
    server: Server,
    variants: Sequence[tuple[str, str, bool]],
    scenario: Scenario,
    duration: int,
    rounds: int,
    wrk: str,
) -> list[dict[str, Any]]:
    """Serve every variant at once (each its own process and port), check each, then load
    them with wrk in turn, ``rounds`` times, so that load from elsewhere on the machine falls
    on all of them alike.  Every process started here is stopped before returning."""
    started: list[_Running] = []
    request = Request.of(scenario)
    target = request.path + (f"?{request.query}" if request.query else "")
    with contextlib.ExitStack() as logs:
        try:
            for name, protocol, hooks in variants:
                if protocol == server.protocol:
                    log = logs.enter_context(tempfile.TemporaryFile())
                    started.append(_start(server, name, hooks, scenario, log))
            for running in started:
                try:
                    wait_ready(running.port, running.process, timeout=30)
                    problem = check(scenario, fetch(running.port, request), running.hooks)
                    if problem:
                        running.row.update(status="broken", reason=problem)
                except Exception as exc:
                    _fail(running, exc)
            for _ in range(rounds):
                for running in started:
                    if running.row["status"] != "ok":
                        continue
                    url = f"http://127.0.0.1:{running.port}{target}"
                    try:
                        done = subprocess.run(
                            [wrk, "-t1", "-c32", f"-d{duration}s", "--latency", url],
                            capture_output=True, text=True, timeout=duration + 30, check=False,
                        )  # fmt: skip
                        running.runs.append(parse_wrk(done.stdout))
                    except Exception as exc:
                        _fail(running, exc)
        finally:
            for running in started:
                stop(running.process)
    rows = []
    for running in started:
        row = running.row
        if row["status"] == "ok" and running.runs:
            row["rps"] = statistics.median(r["rps"] for r in running.runs)
            row["p99_ms"] = statistics.median(r["p99_ms"] for r in running.runs)
            row["errors"] = sum(r["errors"] for r in running.runs)
            row["socket_errors"] = sum(r["socket_errors"] for r in running.runs)
            row["runs"] = running.runs
        rows.append(row)
    return rows


def run_servers(
    variants: Sequence[tuple[str, str, bool]],
    scenarios: Sequence[Scenario],
    duration: int,
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Run (variant name, protocol, has hooks) under every server of its protocol.

    Return the rows, and a reason if the server benchmark could not run at all.
    """
    wrk = wrk_path()
    if wrk is None:
        return [], "wrk is not installed (Debian: apt-get install -y wrk); server runs skipped"
    rows: list[dict[str, Any]] = []
    for server in SERVERS:
        if importlib.util.find_spec(server.module) is None:
            reason = f"{server.module} is not installed"
            rows.append({"server": server.name, "variant": "-", "scenario": "-",
                         "status": "n/a", "reason": reason})  # fmt: skip
            continue
        for scenario in scenarios:
            found = run_scenario(server, variants, scenario, duration, rounds, wrk)
            rows.extend(found)
            if progress:
                for row in found:
                    figure = (
                        f"{row['rps']:.0f} req/s, p99 {row['p99_ms']:.2f} ms"
                        if row["status"] == "ok"
                        else f"{row['status']}: {row.get('reason', '')}"
                    )
                    progress(f"{server.name} {row['variant']} {scenario.name}: {figure}")
    for row in rows:
        if row["status"] != "ok":
            continue
        raw = "raw-" + next(s.protocol for s in SERVERS if s.name == row["server"])
        base = next(
            (r for r in rows if r["server"] == row["server"] and r["variant"] == raw
             and r["scenario"] == row["scenario"] and r["status"] == "ok"),
            None,
        )  # fmt: skip
        row["ratio_to_raw"] = row["rps"] / base["rps"] if base and base["rps"] else None
    return rows, None
