"""A 1 GB download from real servers: flat memory, and the file closed when the client leaves.

The rest of the file-serving tests, in process through both doors, are in
``tests/unit/test_files.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

GB = 1 << 30
MB = 1 << 20

BIG_APP = '''
import os
import threading

from erlen import Erlen, send_file

BIG = {big!r}
app = Erlen(__name__)
closed = threading.Event()


def status():
    """This process's memory (KiB) and how many descriptors it holds on BIG."""
    out = {{"pid": os.getpid()}}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    out["fds"] = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            out["fds"] += os.readlink(f"/proc/self/fd/{{fd}}") == BIG
        except OSError:
            pass
    return out


@app.route("/big")
def big():
    closed.clear()
    rv = send_file(BIG, mimetype="application/octet-stream")
    rv.call_on_close(closed.set)
    return rv


@app.route("/status")
def get_status():
    return status()


@app.route("/wait-closed")
def wait_closed():
    # Waits on the event set by call_on_close: no polling from the test.
    return {{"closed": closed.wait(10), **status()}}
'''


def _proc_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sparse 1 GiB file, shared by the servers: the first read fills the page cache."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as f:
        f.truncate(GB)  # sparse: no disk space, no time
    yield path
    path.unlink()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_real_server_1gb_download_keeps_memory_flat(
    real_server: Callable[..., Any], tmp_path: Path, big_file: Path, server: str
) -> None:
    """Budget: 60 s; about 2-4 s per server on an idle machine, 10 s on a loaded one."""
    (tmp_path / "bigapp.py").write_text(BIG_APP.format(big=str(big_file)), encoding="utf-8")
    deadline = time.monotonic() + 60
    with (
        real_server(server, tmp_path, "bigapp:app") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        pid = http.get("/status").json()["pid"]
        # Warm up the code paths (and the ASGI thread pool) before measuring.
        warm = http.get("/big", headers={"Range": "bytes=0-1048575"})
        assert (warm.status_code, len(warm.content)) == (206, MB)
        assert http.get("/wait-closed").json()["closed"]
        peak_reset = _reset_peak(pid)
        before = _proc_kib(pid, "VmRSS")
        peak = before
        received = 0
        next_sample = 0
        started = time.monotonic()
        with http.stream("GET", "/big") as rv:
            assert rv.status_code == 200
            assert rv.headers["content-length"] == str(GB)
            for chunk in rv.iter_raw():
                received += len(chunk)
                if received >= next_sample:
                    peak = max(peak, _proc_kib(pid, "VmRSS"))
                    next_sample += 32 * MB
                    assert time.monotonic() < deadline, "1 GB download over its time budget"
        elapsed = time.monotonic() - started
        assert received == GB
        if peak_reset:
            peak = max(peak, _proc_kib(pid, "VmHWM"))
        growth_kib = peak - before
        print(
            f"\n{server}: 1 GiB in {elapsed:.1f} s; server RSS {before} KiB -> peak {peak} KiB"
            f" (growth {growth_kib} KiB, peak {'from VmHWM' if peak_reset else 'sampled'})"
        )
        assert growth_kib < 20 * 1024
        done = http.get("/wait-closed").json()
        assert done["closed"]
        assert done["fds"] == 0

        # A client that leaves after the first MB: the server must close the file.
        got = 0
        with http.stream("GET", "/big") as rv:
            for chunk in rv.iter_raw():
                got += len(chunk)
                if got >= MB:
                    break
        assert got >= MB
        left = http.get("/wait-closed").json()
        assert left["closed"], "file still open after the client disconnected"
        assert left["fds"] == 0
        assert left["VmRSS"] - before < 20 * 1024
