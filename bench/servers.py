"""The servers a benchmark runs against: a PostgreSQL server with throwaway databases, and a
real ``patron serve`` process on 127.0.0.1 with demo data, an API key and a panel session.

The PostgreSQL server is Patron's embedded one in the bench's own data directory (never the
test suite's), or any server given by URL. Every database made here is dropped on the way out;
every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import psutil
import psycopg
from sqlalchemy.engine import make_url

from bench.load import BenchError
from patron.db.embedded import EmbeddedServer, binaries_dir
from patron.db.engine import libpq_url, normalise_url

REPO_ROOT = Path(__file__).resolve().parents[1]
ADMIN_EMAIL = "admin@example.com"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
SESSION_COOKIE = "patron_session"
READY_TIMEOUT = 120.0


def default_data_dir() -> Path:
    """The bench's own embedded cluster: apart from ``var/`` and the test suite's."""
    return Path(tempfile.gettempdir()) / f"patron-bench-{os.getuid()}"


@dataclass
class PostgresServer:
    """A reachable PostgreSQL server on which the bench makes and drops databases."""

    admin_url: str  # libpq URL of a database to connect to for CREATE/DROP DATABASE
    label: str
    pgbench: str
    created: list[str] = field(default_factory=list)

    def _execute(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql.encode())

    def version(self) -> str:
        with psycopg.connect(self.admin_url) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        assert row is not None
        return str(row[0]).split()[0]

    def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return name

    def drop_database(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop_database(name)

    def libpq_url(self, database: str) -> str:
        """The URL of ``database`` as libpq programs (psql, pgbench) take it."""
        return libpq_url(make_url(self.admin_url).set(database=database).render_as_string(False))

    def sqlalchemy_url(self, database: str) -> str:
        """The URL of ``database`` as Patron's PATRON_DATABASE_URL takes it."""
        return normalise_url(self.libpq_url(database))


def _pgbench_for_url() -> str:
    found = shutil.which("pgbench")
    return found or str(binaries_dir() / "pgbench")


@contextlib.contextmanager
def postgres_server(
    database_url: str | None, data_dir: Path, pgbench: str | None = None
) -> Iterator[PostgresServer]:
    """The server given by URL, or the embedded one (started here, and then stopped here)."""
    embedded: EmbeddedServer | None = None
    started_here = False
    if database_url:
        parsed = make_url(libpq_url(normalise_url(database_url)))
        where = f"{parsed.host or 'local socket'}:{parsed.port or 5432}"
        server = PostgresServer(
            libpq_url(normalise_url(database_url)),
            f"server at {where}",
            pgbench or _pgbench_for_url(),
        )
    else:
        embedded = EmbeddedServer(data_dir)
        started_here = not embedded.status().running
        status = embedded.ensure_running()
        server = PostgresServer(
            status.libpq_url_for("postgres"),
            f"embedded ({data_dir})",
            pgbench or str(binaries_dir() / "pgbench"),
        )
    try:
        yield server
    finally:
        try:
            server.drop_all()
        finally:
            if embedded is not None and started_here:
                embedded.stop()


@dataclass(frozen=True)
class PatronServer:
    url: str
    pid: int
    database: str
    password: str
    log: Path
    environment: dict[str, str]

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far (user and system), its worker processes
        (``--workers``) included."""
        process = psutil.Process(self.pid)
        total = 0.0
        for each in [process, *process.children(recursive=True)]:
            try:
                times = each.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def add_server_workers_argument(group: argparse._ArgumentGroup) -> None:
    """``--server-workers``: how many ``patron serve`` processes a capability runs."""
    group.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="server processes (patron serve --workers; default 1)",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return ""


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = READY_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise BenchError(f"patron serve exited (code {process.returncode}):\n{_tail(log)}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"patron serve was not ready within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.3)


@contextlib.contextmanager
def serve(
    postgres: PostgresServer,
    database: str,
    password: str,
    workdir: Path,
    *,
    workers: int = 1,
    pool_size: int | None = None,
) -> Iterator[PatronServer]:
    """``patron serve --no-worker`` on ``database``, stopped by its PID.

    Configured as production would be apart from the demo data: JSON logs at INFO level, the
    default connection pool (or ``pool_size``), ``workers`` server processes.
    """
    port = free_port()
    log = workdir / f"serve-{port}.log"
    url = f"http://127.0.0.1:{port}"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PATRON_")}
    environment.update(
        {
            "PATRON_ENVIRONMENT": "development",
            "PATRON_DATABASE_URL": postgres.sqlalchemy_url(database),
            "PATRON_HOST": "127.0.0.1",
            "PATRON_PORT": str(port),
            "PATRON_PUBLIC_URL": url,
            "PATRON_DATA_DIR": str(workdir / "data"),
            "PATRON_SECRET_KEY": secrets.token_urlsafe(48),
            "PATRON_DEMO_PASSWORD": password,
            "PATRON_LOG_JSON": "true",
            "PATRON_LOG_LEVEL": "INFO",
        }
    )
    if pool_size is not None:
        environment["PATRON_DATABASE_POOL_SIZE"] = str(pool_size)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "patron.cli", "serve", "--no-worker", "--workers", str(workers)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        # each server process starts on its own after the migrations: more time on a busy machine
        _wait_ready(process, url, log, timeout=READY_TIMEOUT * workers)
        yield PatronServer(url, process.pid, database, password, log, environment)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def patron_server(
    postgres: PostgresServer, workdir: Path, *, workers: int = 1, pool_size: int | None = None
) -> Iterator[PatronServer]:
    """:func:`serve` on a throwaway database: migrated and demo staff seeded at start-up,
    dropped afterwards."""
    database = postgres.create_database("patron_bench")
    try:
        with serve(
            postgres,
            database,
            secrets.token_urlsafe(18),
            workdir,
            workers=workers,
            pool_size=pool_size,
        ) as server:
            yield server
    finally:
        postgres.drop_database(database)


def create_api_key(server: PatronServer, *, email: str, scopes: list[str]) -> str:
    """An API key made with ``patron apikey create``, as an administrator would."""
    command = [sys.executable, "-m", "patron.cli", "apikey", "create"]
    command += ["--user", email, "--name", "benchmark"]
    for scope in scopes:
        command += ["--scope", scope]
    result = subprocess.run(
        command,
        env=server.environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"patron apikey create failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def sign_in(server: PatronServer, *, email: str) -> str:
    """Sign in through the panel's form (CSRF token included); return the session cookie."""
    with httpx2.Client(base_url=server.url, timeout=30, follow_redirects=False) as client:
        page = client.get("/login")
        found = CSRF_FIELD.search(page.text)
        if page.status_code != 200 or found is None:
            raise BenchError(f"the sign-in page is not usable (HTTP {page.status_code})")
        response = client.post(
            "/login",
            data={"email": email, "password": server.password, "csrf_token": found.group(1)},
        )
        token = client.cookies.get(SESSION_COOKIE)
        if response.status_code != 303 or not token:
            raise BenchError(f"signing in as {email} failed (HTTP {response.status_code})")
        return token
