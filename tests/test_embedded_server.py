"""The embedded PostgreSQL: starts on demand, is reused, stops, and recovers from crashes."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from patron.db.embedded import EmbeddedDatabaseError, EmbeddedServer, bundled_major_version


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(tmp_path_factory.mktemp("embedded"))
    yield embedded
    embedded.stop()


def _select_one(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT 1").fetchone()
        assert row is not None
        return int(row[0])


def test_it_starts_on_demand_and_later_callers_reuse_it(server: EmbeddedServer) -> None:
    first = server.ensure_running()
    assert _select_one(first.libpq_url) == 1
    again = EmbeddedServer(server.data_dir).ensure_running()
    assert again.pid == first.pid
    assert (server.cluster_dir / "PG_VERSION").read_text().strip() == bundled_major_version()
    with psycopg.connect(first.libpq_url) as connection:
        extensions = {
            row[0] for row in connection.execute("SELECT name FROM pg_available_extensions")
        }
    assert {"citext", "pg_trgm", "unaccent", "btree_gin"} <= extensions


def test_it_stops_cleanly_and_says_so(server: EmbeddedServer) -> None:
    server.ensure_running()
    assert server.stop() is True
    assert server.status().running is False
    assert not (server.cluster_dir / "postmaster.pid").exists()
    assert server.stop() is False


def test_it_recovers_from_an_unclean_exit(server: EmbeddedServer) -> None:
    crashed = server.ensure_running()
    assert crashed.pid is not None
    os.kill(crashed.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.status().running:
        time.sleep(0.1)
    assert (server.cluster_dir / "postmaster.pid").exists()  # left behind by the crash
    restarted = server.ensure_running()
    assert restarted.pid != crashed.pid
    assert _select_one(restarted.libpq_url) == 1


def test_a_pid_file_naming_some_other_live_process_is_treated_as_stale(
    server: EmbeddedServer,
) -> None:
    server.stop()
    pid_file = server.cluster_dir / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{server.cluster_dir}\n0\n5432\n{server.cluster_dir}\n\n")
    assert server.status().running is False
    status = server.ensure_running()
    assert status.pid != os.getpid()
    assert _select_one(status.libpq_url) == 1


def test_a_data_directory_locked_by_another_patron_is_reported(server: EmbeddedServer) -> None:
    server.data_dir.mkdir(parents=True, exist_ok=True)
    with open(server.lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("424242")
        held.flush()
        impatient = EmbeddedServer(server.data_dir, lock_timeout=0.5)
        with pytest.raises(
            EmbeddedDatabaseError, match=r"locked by another Patron process \(pid 424242\)"
        ):
            impatient.ensure_running()
        fcntl.flock(held, fcntl.LOCK_UN)


def test_a_cluster_from_another_postgresql_version_is_refused(tmp_path: Path) -> None:
    cluster = tmp_path / "postgres"
    cluster.mkdir()
    (cluster / "PG_VERSION").write_text("16\n")
    with pytest.raises(EmbeddedDatabaseError, match="made by PostgreSQL 16") as error:
        EmbeddedServer(tmp_path).ensure_running()
    assert "pg_upgrade" in str(error.value)


def test_a_non_empty_directory_that_is_not_a_cluster_is_left_alone(tmp_path: Path) -> None:
    cluster = tmp_path / "postgres"
    cluster.mkdir()
    (cluster / "notes.txt").write_text("mine")
    with pytest.raises(EmbeddedDatabaseError, match="holds no PostgreSQL cluster"):
        EmbeddedServer(tmp_path).ensure_running()
    assert (cluster / "notes.txt").read_text() == "mine"


def test_a_long_data_path_gets_a_short_socket_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("very-long-directory-name-" * 4)
    server = EmbeddedServer(deep)
    try:
        status = server.ensure_running()
        assert status.socket_dir is not None
        assert len(str(status.socket_dir / ".s.PGSQL.5432")) <= 100
        assert _select_one(status.libpq_url) == 1
    finally:
        server.stop()
