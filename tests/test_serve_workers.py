"""``patron serve --workers 2``: a real server of two processes on 127.0.0.1 takes a store's
signed deliveries, whichever process answers."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import psutil

from bench.ingest import _connect_store, order_body, signed_headers
from bench.servers import patron_server, postgres_server
from tests.conftest import Databases

PLACED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _server_processes(pid: int) -> list[psutil.Process]:
    children = psutil.Process(pid).children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


def test_two_server_processes_share_the_port_and_accept_deliveries(
    databases: Databases, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(24)
    with (
        postgres_server(databases.admin_url, tmp_path) as postgres,
        patron_server(postgres, tmp_path, workers=2) as server,
    ):
        assert len(_server_processes(server.pid)) == 2
        path = f"/webhooks/shopify/{_connect_store(server, secret)}"
        answers = []
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            for number in range(1, 7):
                body = order_body(number, PLACED)
                response = client.post(
                    path, content=body, headers=signed_headers(body, secret, number)
                )
                answers.append((response.status_code, response.json()["status"]))
            body = order_body(1, PLACED)
            again = client.post(path, content=body, headers=signed_headers(body, secret, 1))
        assert answers == [(200, "accepted")] * 6
        assert again.json() == {"status": "duplicate"}
        assert len(_server_processes(server.pid)) == 2
