"""A small run of ``bench/faults.py``: the example blog behind nginx, a worker killed, Redis restarted.

Two uvicorn and two gunicorn workers, a few WebSocket and SSE clients, eight seconds of load
(about 30 s in all). The full run (``python -m bench.faults``) is not a test: its figures are in
docs/deployment.md. What must hold at any size is asserted here: no request hangs, every write
answered 2xx is in the database, both faults happened and the killed worker was replaced.
"""

from __future__ import annotations

import os

import pytest
from bench import faults

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("ERLEN_TEST_POSTGRES_URL"), reason="needs PostgreSQL (.ci/services.sh)"
    ),
    pytest.mark.skipif(
        not (os.path.exists(faults.NGINX) and os.path.exists(faults.REDIS_SERVER)),
        reason="needs nginx and redis-server",
    ),
]


def test_small_fault_run_never_hangs_and_loses_no_committed_write() -> None:
    args = faults.parse_args(
        ["--seconds", "8", "--ws", "6", "--sse", "4", "--rate", "10", "--workers", "2",
         "--kill-at", "0.3", "--redis-at", "0.6", "--redis-down", "0.5", "--drain", "1",
         "--json", ""]
    )  # fmt: skip
    result = faults.run(args)
    http, writes, fault = result["http"], result["writes"], result["faults"]
    assert http["served_ok"] > 20, http
    assert http["hangs"] == 0, http
    assert writes["committed_2xx"] > 0 and writes["missing_in_db"] == 0, writes
    assert fault["kill_at_s"] is not None and fault["worker_replaced_at_s"] is not None, fault
    assert fault["redis_down_s"] is not None, fault
    assert result["chat"]["never_connected"] == 0 and result["sse"]["clients"] == 4
    assert result["logs"] is None  # nothing failed: the temporary folder and schema are gone
