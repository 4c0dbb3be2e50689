"""Schemathesis against the OpenAPI document of a live server: no 5xx, no response that
breaks the schema, no undocumented status code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.conftest import TEST_SECRET, Databases
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.live

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def server(
    databases: Databases, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with live_server(databases, template_db, tmp_path_factory.mktemp("contract")) as running:
        yield running


@pytest.fixture(scope="module")
def admin_key(server: LiveServer) -> str:
    environment = {
        **os.environ,
        "PATRON_DATABASE_URL": server.database_url,
        "PATRON_SECRET_KEY": TEST_SECRET,
    }
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "patron.cli",
            "apikey",
            "create",
            "--user",
            "admin@example.com",
            "--name",
            "contract test",
            *[
                arg
                for scope in ("users:read", "settings:admin", "audit:read")
                for arg in ("--scope", scope)
            ],
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return created.stdout.strip()


@pytest.mark.timeout(1200)
def test_the_api_keeps_its_contract(server: LiveServer, admin_key: str) -> None:
    api = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {admin_key}"}
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20

    for operation in operations:

        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def honours_the_contract(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(headers=headers, checks=CHECKS)

        honours_the_contract()
