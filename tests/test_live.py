"""Patron served for real: the process, its HTTP and its in-process worker."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.conftest import Databases
from tests.live import live_server

pytestmark = pytest.mark.live


def test_the_served_process_answers_health_checks_and_metrics(
    databases: Databases, template_db: str, tmp_path: Path
) -> None:
    with live_server(databases, template_db, tmp_path) as server:
        assert httpx2.get(f"{server.url}/healthz").json() == {"status": "ok"}
        ready = httpx2.get(f"{server.url}/readyz").json()
        assert ready["status"] == "ok"
        httpx2.get(f"{server.url}/login")
        metrics = httpx2.get(f"{server.url}/metrics").text
        assert 'patron_http_requests_total{method="GET",route="/login",status="200"}' in metrics
        assert 'patron_jobs{status="failed"}' in metrics
