"""A 1 GiB multipart upload through real servers keeps the server's memory flat (issue 5)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import free_port

BIN = Path(sys.executable).parent
APP = """
from erlen import Erlen, request

app = Erlen(__name__)


def peak_rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1])


@app.get("/rss")
def rss():
    return {"peak_kb": peak_rss_kb()}


@app.post("/upload")
def upload():
    upload = request.files["file"]
    size = 0
    while chunk := upload.stream.read(1 << 20):
        size += len(chunk)
    return {"size": size, "name": upload.filename, "peak_kb": peak_rss_kb()}
"""
BOUNDARY = "erlen-upload-boundary"
MIB = 1 << 20


def multipart_body(mib: int) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = b"e" * MIB
    for _ in range(mib):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for RSS")
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_one_gib_upload_keeps_memory_flat(server: str, tmp_path: Path) -> None:
    (tmp_path / "upapp.py").write_text(APP, encoding="utf-8")
    port = free_port()
    if server == "uvicorn":
        argv = [str(BIN / "uvicorn"), "upapp:app", "--port", str(port), "--log-level", "warning"]
    else:
        argv = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "upapp:app"]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                before = httpx.get(base + "/rss", timeout=2).json()["peak_kb"]
                break
            except httpx.TransportError:
                assert proc.poll() is None, f"{server} exited"
                assert time.monotonic() < deadline, f"{server} did not start"
                time.sleep(0.1)
        rv = httpx.post(
            base + "/upload",
            content=multipart_body(1024),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=300,
        )
        assert rv.status_code == 200, rv.text
        data = rv.json()
        assert data["size"] == 1024 * MIB
        assert data["name"] == "big.bin"
        growth_mb = (data["peak_kb"] - before) / 1024
        assert growth_mb < 20, f"peak RSS grew by {growth_mb:.1f} MB"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
