"""The ``patron`` command: migrations, users, API keys, demo data, the embedded database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import psycopg
import pytest
from typer.testing import CliRunner

from patron.cli import app
from patron.config import get_settings
from patron.db.engine import libpq_url
from tests.conftest import TEST_SECRET, IsolatedDatabase

runner = CliRunner()


@pytest.fixture
def cli(
    isolated_database: IsolatedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IsolatedDatabase]:
    monkeypatch.setenv("PATRON_DATABASE_URL", isolated_database.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATRON_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("PATRON_DEMO_PASSWORD", raising=False)
    get_settings.cache_clear()
    yield isolated_database
    get_settings.cache_clear()


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_it_prints_its_version() -> None:
    code, output = run("version")
    assert code == 0
    assert output.startswith("patron 0.")


def test_users_are_created_given_roles_and_disabled(cli: IsolatedDatabase) -> None:
    assert run("migrate") == (0, "Database is up to date.\n")
    code, output = run(
        "user",
        "create",
        "owner@shop.test",
        "--name",
        "Olive Owner",
        "--password",
        input="plum orchard river lantern\nplum orchard river lantern\n",
    )
    assert code == 0, output
    assert "Created owner@shop.test (admin) with the password given" in output
    weak = run("user", "create", "weak@shop.test", "--password", input="password\npassword\n")
    assert weak[0] == 1
    assert "weak_password" in weak[1]
    assert run("user", "create", "owner@shop.test")[0] == 1
    code, output = run("user", "create", "agent@shop.test", "--role", "support")
    assert code == 0
    assert "invited by email" in output
    assert (
        run("user", "set-role", "agent@shop.test", "sales")[1] == "agent@shop.test is now sales.\n"
    )
    assert run("user", "set-role", "agent@shop.test", "pirate")[0] == 1
    assert run("user", "disable", "agent@shop.test")[0] == 0
    assert run("user", "enable", "agent@shop.test")[0] == 0
    code, output = run("user", "disable", "nobody@shop.test")
    assert code == 1
    assert "No user with email nobody@shop.test" in output


def test_an_api_key_is_printed_once_listed_without_its_secret_and_revoked(
    cli: IsolatedDatabase,
) -> None:
    run("migrate")
    run("user", "create", "robot@shop.test", "--service", "--role", "analyst")
    code, output = run(
        "apikey",
        "create",
        "--user",
        "robot@shop.test",
        "--name",
        "nightly export",
        "--scope",
        "users:read",
        "--scope",
        "reports:read",
        "--expires-days",
        "30",
    )
    assert code == 0, output
    secret = next(line for line in output.splitlines() if line.startswith("ptk_"))
    listing = run("apikey", "list")[1]
    assert "nightly export" in listing
    assert secret not in listing
    key_id = output.split("id:", 1)[1].split()[0]
    assert run("apikey", "revoke", key_id) == (0, f"Key {key_id} revoked.\n")
    over = run(
        "apikey", "create", "--user", "robot@shop.test", "--name", "x", "--scope", "settings:admin"
    )
    assert over[0] == 1
    assert "scope_not_held" in over[1]
    assert run("apikey", "revoke", "not-a-uuid")[0] == 1


def test_rfm_score_scores_every_customer_at_once(cli: IsolatedDatabase) -> None:
    run("migrate")
    with psycopg.connect(libpq_url(cli.url)) as connection:
        connection.execute(
            "WITH made AS (INSERT INTO customer (id, first_name, last_name)"
            " SELECT gen_random_uuid(), 'Buyer', n::text FROM generate_series(1, 5) n"
            " RETURNING id, last_name::int AS n)"
            " INSERT INTO customer_metrics (customer_id, orders_count, total_spent, last_order_at)"
            " SELECT id, n, n * 10, now() - n * interval '1 day' FROM made"
        )

    code, output = run("rfm", "score")

    assert code == 0, output
    assert output.startswith("Scored 5 customer(s) with orders; 5 score(s) changed.\n")
    assert "orders [1, 2, 3, 4]" in output
    with psycopg.connect(libpq_url(cli.url)) as connection:
        groups = connection.execute(
            "SELECT rfm_group FROM customer_metrics ORDER BY orders_count"
        ).fetchall()
    assert [group for (group,) in groups] == [
        "new_customers",
        "potential_loyalists",
        "need_attention",
        "at_risk",
        "cant_lose",
    ]


def test_demo_data_is_created_once_with_the_given_password(
    cli: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_DEMO_PASSWORD", "demo passphrase")
    get_settings.cache_clear()
    code, output = run("demo")
    assert code == 0, output
    assert "password: demo passphrase" in output
    code, output = run("demo")
    assert code == 1
    assert "--force" in output


def test_demo_data_is_refused_in_production(
    cli: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_ENVIRONMENT", "production")
    monkeypatch.setenv("PATRON_SECRET_KEY", "p" * 48)
    get_settings.cache_clear()
    code, output = run("demo")
    assert code == 1
    assert "never created in production" in output


def test_production_refuses_the_default_secret_key(
    cli: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_ENVIRONMENT", "production")
    monkeypatch.delenv("PATRON_SECRET_KEY")
    get_settings.cache_clear()
    code, output = run("serve")
    assert code == 1
    assert "PATRON_SECRET_KEY is the default" in output


def test_db_commands_explain_that_a_database_url_is_in_use(cli: IsolatedDatabase) -> None:
    code, output = run("db", "status")
    assert code == 1
    assert "PATRON_DATABASE_URL is set" in output
    code, output = run("db", "url")
    assert code == 0
    assert cli.name in output


def test_db_commands_drive_the_embedded_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATRON_DATABASE_URL", raising=False)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert run("db", "status")[0] == 3
        code, output = run("db", "start")
        assert code == 0
        assert "running" in output
        assert run("db", "status")[0] == 0
        code, output = run("db", "url")
        assert output.startswith("postgresql://postgres@/patron?host=")
    finally:
        assert run("db", "stop")[1] == "Embedded PostgreSQL stopped.\n"
        get_settings.cache_clear()
    assert run("db", "stop")[1] == "Embedded PostgreSQL was not running.\n"


async def test_readyz_reports_a_database_behind_on_migrations(
    cli: IsolatedDatabase, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from patron.app import create_app
    from tests.conftest import make_settings

    application = create_app(make_settings(cli.url, tmp_path), database=cli.database)
    transport = httpx2.ASGITransport(app=application)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/readyz")).status_code == 200
        async with cli.database.transaction() as db:
            await db.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert "at old" in response.json()["migrations"]
