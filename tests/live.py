"""Real HTTP in tests: a ``patron serve`` process on a database of its own, and small local
servers (webhook receivers, fake store APIs) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2

from tests.conftest import TEST_SECRET, Databases, free_port

DEMO_PASSWORD = "demo passphrase for live tests"


@dataclass(frozen=True)
class LiveServer:
    url: str
    database_url: str
    demo_password: str
    log: Path


@contextlib.contextmanager
def live_server(
    databases: Databases, template: str, workdir: Path, **env: str
) -> Iterator[LiveServer]:
    """Serve Patron (demo data, in-process worker) until the block ends; stop it by PID."""
    name = databases.create(template=template, prefix="patron_live")
    port = free_port()
    log = workdir / f"serve-{port}.log"
    environment = {
        **os.environ,
        "PATRON_DATABASE_URL": databases.url(name),
        "PATRON_HOST": "127.0.0.1",
        "PATRON_PORT": str(port),
        "PATRON_DATA_DIR": str(workdir / "data"),
        "PATRON_SECRET_KEY": TEST_SECRET,
        "PATRON_DEMO_PASSWORD": DEMO_PASSWORD,
        "PATRON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "patron.cli", "serve"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a first start seeds the demo shop
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"patron serve exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"patron serve did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield LiveServer(url, databases.url(name), DEMO_PASSWORD, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        databases.drop(name)


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on 127.0.0.1 (a free port, yielded) in a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
