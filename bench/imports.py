"""Importing a customer CSV through Patron's import code path, beside PostgreSQL's plain COPY.

A CSV of N customers (default 1,000,000) in the Patron format is generated, streamed to disk:
email, names, phone (40 % of rows, national numbers), company, tags, a full address, email
consent. On a throwaway migrated database the file is then

1. uploaded with ``patron.imports.service.upload`` (streamed to the data directory, sniffed),
2. checked by the dry-run job function (every row validated, existing customers looked up),
3. imported by the import job function (batches of 5,000: validation overlapping with
   set-based upserts of customers, addresses, consents with their history, metrics rows),

and, on the same server in the same run, loaded by ``COPY ... FROM STDIN (FORMAT csv)`` into
a plain table with the file's columns and no index: the raw lower bound; and, on a second
migrated database, written into Patron's own tables by hand-written set-based SQL (COPY into a
stage table, one INSERT per table, every index and constraint): the lower bound for this
schema. Figures: rows per
second of each step and the peak resident memory of this process during it (sampled every
50 ms); the import's rate divided by COPY's is the design's "fraction of COPY". Beside them,
the CPU each step cost: this process's (``client CPU``, where Patron's code runs) and the
PostgreSQL backends' that served it (``server CPU``, read by process id when the server runs
on this machine). On a shared machine the wall-clock rates follow the neighbours' load; the
CPU per row is the figure that compares two versions.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import event

from bench.harness import Context, say, start_report
from bench.report import Figure, Report
from patron.audit.service import SYSTEM
from patron.config import Settings
from patron.db.engine import Database
from patron.db.migrate import upgrade
from patron.imports import repository, runner, service

NAME = "imports"
TITLE = "Customer CSV import through the job functions, beside plain COPY of the same file"
DEFAULT_ROWS = 1_000_000

HEADER = [
    "email", "first_name", "last_name", "phone", "company", "tags", "address_line1",
    "city", "postal_code", "country", "email_consent",
]  # fmt: skip
FIRST = ["Ada", "Ben", "Chloé", "Dmitri", "Emma", "Finn", "Grace", "Hiro", "Inès", "Jonas",
         "Kemi", "Liam", "Mia", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven",
         "Zoë"]  # fmt: skip
LAST = ["Smith", "Müller", "García", "Rossi", "Dubois", "Kowalski", "Nakamura", "Okafor",
        "Jensen", "Silva", "O'Brien", "Novak", "Haddad", "Larsen", "Moreau"]  # fmt: skip
PLACES = [("GB", "London", "SW1A 1AA", "020 7946 {:04d}"), ("DE", "Berlin", "10115",
          "030 901{:05d}"), ("FR", "Paris", "75001", "01 42 68 {:02d} {:02d}"),
          ("US", "Springfield", "62701", "(217) 555-{:04d}")]  # fmt: skip
TAGS = ["", "", "vip", "newsletter", "wholesale, vip", "b2b"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("imports options")
    group.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help="customers in the file (default 1e6)"
    )


def _phone(country: str, pattern: str, rng: random.Random) -> str:
    if country == "FR":
        return pattern.format(rng.randrange(100), rng.randrange(100))
    return pattern.format(rng.randrange(10_000 if country != "DE" else 100_000))


def generate(path: Path, rows: int, *, seed: int = 2026) -> None:
    """A realistic customer CSV, written row by row (never held in memory)."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            country, city, postal, phone = rng.choice(PLACES)
            writer.writerow(
                [
                    f"{first.lower()}.{i}@example.com".replace("é", "e").replace("ë", "e"),
                    first,
                    last,
                    _phone(country, phone, rng) if rng.random() < 0.4 else "",
                    "Acme Ltd" if rng.random() < 0.1 else "",
                    rng.choice(TAGS),
                    f"{rng.randrange(1, 300)} High Street",
                    city,
                    postal,
                    country,
                    rng.choice(["yes", "no", ""]),
                ]
            )


class PeakMemory:
    """The process's resident memory, sampled every 50 ms while the block runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.baseline = self.process.memory_info().rss
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @contextmanager
    def watching(self) -> Iterator[PeakMemory]:
        self.peak = self.baseline = self.process.memory_info().rss
        thread = threading.Thread(target=self._sample, daemon=True)
        self._stop.clear()
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def peak_mib(self) -> float:
        return round(self.peak / 2**20, 1)


class BackendCpu:
    """CPU time used by the PostgreSQL backends of some connections (user and system), when
    the server runs on this machine; ``None`` where it cannot be read."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def add(self, pid: int) -> None:
        self.pids.add(pid)

    def times(self) -> dict[int, float] | None:
        found: dict[int, float] = {}
        for pid in self.pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue  # closed since: not counted (the pool keeps its connections)
            except psutil.AccessDenied:
                return None
            found[pid] = float(times.user + times.system)
        return found if found or not self.pids else None

    @staticmethod
    def spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        if before is None or after is None:
            return None
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Step:
    seconds: float
    peak_mib: float
    client_cpu: float
    server_cpu: float | None


def _figure(name: str, rows: int, errors: int, step: Step) -> Figure:
    seconds = step.seconds
    return Figure(
        name=name,
        unit="rows/s",
        clients=1,
        duration=round(seconds, 2),
        succeeded=rows,
        failed=errors,
        rate=rows / seconds if seconds else 0.0,
        p50_ms=None,
        p95_ms=None,
        p99_ms=None,
        client_cpu_percent=100 * step.client_cpu / seconds if seconds else None,
        server_cpu_percent=(
            100 * step.server_cpu / seconds if seconds and step.server_cpu is not None else None
        ),
        server_cpu_ms=(1000 * step.server_cpu / rows if rows and step.server_cpu is not None
                       else None),
    )  # fmt: skip


async def _file_chunks(path: Path) -> Any:
    with open(path, "rb") as data:  # noqa: ASYNC230 (a benchmark, nothing else runs)
        while chunk := data.read(1024 * 1024):
            yield chunk


async def _patron_import(settings: Settings, path: Path) -> dict[str, Any]:
    database = Database(settings.database_url, pool_size=2)
    backends = BackendCpu()

    def connected(dbapi_connection: Any, _record: Any) -> None:
        backends.add(dbapi_connection.driver_connection.info.backend_pid)

    event.listen(database.engine.sync_engine, "connect", connected)
    try:
        timings: dict[str, Any] = {}

        async def upload() -> Any:
            async with database.transaction() as db:
                job = await service.upload(
                    db, settings, actor=SYSTEM, entity="customers", filename=path.name,
                    chunks=_file_chunks(path),
                )  # fmt: skip
                job.status = "validating"
                return job.id

        async def measure(name: str, step: Callable[[], Any]) -> Any:
            memory = PeakMemory()
            with memory.watching():
                server_before, client_before = backends.times(), time.process_time()
                started = time.perf_counter()
                result = await step()
                seconds = time.perf_counter() - started
                client = time.process_time() - client_before
                server = BackendCpu.spent(server_before, backends.times())
            timings[name] = Step(seconds, memory.peak_mib, client, server)
            return result

        job_id = await measure("upload", upload)
        await measure("dry_run", lambda: runner.dry_run(database.transaction, settings, job_id))
        async with database.transaction() as db:
            job = await repository.get_job(db, job_id)
            timings["dry_run_result"] = (job.would_insert, job.would_update, job.error_count)
            job.status = "queued"
        await measure("import", lambda: runner.run_import(database.transaction, settings, job_id))
        async with database.transaction() as db:
            job = await repository.get_job(db, job_id)
            timings["result"] = (job.status, job.inserted, job.updated, job.error_count)
        return timings
    finally:
        await database.dispose()


def _copy(url: str, path: Path) -> tuple[int, Step]:
    columns = ", ".join(f"{name} text" for name in HEADER)
    backend = BackendCpu()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE TABLE copy_customers ({columns})".encode())
        backend.add(connection.info.backend_pid)
        memory = PeakMemory()
        with memory.watching():
            server_before, client_before = backend.times(), time.process_time()
            started = time.perf_counter()
            _copy_file(connection, path)
            seconds = time.perf_counter() - started
            client = time.process_time() - client_before
            server = BackendCpu.spent(server_before, backend.times())
        row = connection.execute(b"SELECT count(*) FROM copy_customers").fetchone()
    return int(row[0]) if row else 0, Step(seconds, memory.peak_mib, client, server)


def _copy_file(connection: psycopg.Connection[Any], path: Path) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(b"COPY copy_customers FROM STDIN (FORMAT csv, HEADER true)") as copy,
        open(path, "rb") as data,
    ):
        while chunk := data.read(1024 * 1024):
            copy.write(chunk)


# The same file written into Patron's own tables by hand-written set-based SQL, in one
# transaction on a second migrated database: COPY into a stage table, then one INSERT per
# table Patron's import writes (customers, phones, addresses, metrics rows, email consents
# and their history), with every index and constraint the schema has. Ids are time-ordered
# like Patron's UUIDv7 ones (no random b-tree inserts); phones become E.164 by country. What
# it leaves out is Patron's per-row validation, duplicate checks, audit and resumability.
_E164 = """
    CASE WHEN coalesce(s.phone, '') = '' THEN NULL ELSE '+' || CASE s.country
        WHEN 'GB' THEN '44' WHEN 'DE' THEN '49' WHEN 'FR' THEN '33' ELSE '1' END
      || CASE WHEN s.country = 'US' THEN regexp_replace(s.phone, '[^0-9]', '', 'g')
              ELSE ltrim(regexp_replace(s.phone, '[^0-9]', '', 'g'), '0') END END"""
_ORDERED_ID = (
    "CAST(lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)), 12, '0')"
    " || lpad(to_hex(row_number() OVER ()), 20, '0') AS uuid)"
)
HAND_WRITTEN = (
    f"""CREATE TEMP TABLE hand ON COMMIT DROP AS
        SELECT {_ORDERED_ID} AS id, s.email, s.first_name, s.last_name, {_E164} AS phone,
               s.company, s.tags, s.address_line1, s.city, s.postal_code, s.country,
               s.email_consent
        FROM copy_customers s""",
    """INSERT INTO customer (id, email, first_name, last_name, phone, company, country, tags,
                             source)
       SELECT id, lower(email), first_name, last_name, phone, nullif(company, ''), country,
              CASE WHEN coalesce(tags, '') = '' THEN '{}'
                   ELSE string_to_array(replace(tags, ' ', ''), ',') END, 'import'
       FROM hand""",
    "INSERT INTO customer_phone (id, customer_id, phone) "
    "SELECT gen_random_uuid(), id, phone FROM hand WHERE phone IS NOT NULL",
    """INSERT INTO customer_address (id, customer_id, first_name, last_name, line1, city,
                                     postal_code, country, is_default_billing,
                                     is_default_shipping)
       SELECT gen_random_uuid(), id, first_name, last_name, address_line1, city, postal_code,
              country, true, true FROM hand""",
    "INSERT INTO customer_metrics (customer_id) SELECT id FROM hand ON CONFLICT DO NOTHING",
    """INSERT INTO consent (id, customer_id, channel, status, source)
       SELECT gen_random_uuid(), id, 'email',
              CASE email_consent WHEN 'yes' THEN 'subscribed' ELSE 'unsubscribed' END, 'import'
       FROM hand WHERE email_consent IN ('yes', 'no')""",
    """INSERT INTO consent_event (id, customer_id, channel, purpose, status, source)
       SELECT gen_random_uuid(), id, 'email', 'marketing',
              CASE email_consent WHEN 'yes' THEN 'subscribed' ELSE 'unsubscribed' END, 'import'
       FROM hand WHERE email_consent IN ('yes', 'no')""",
)


def _hand_written(url: str, path: Path) -> tuple[int, Step]:
    """COPY into a stage table, then the hand-written INSERTs, all timed as one step."""
    columns = ", ".join(f"{name} text" for name in HEADER)
    backend = BackendCpu()
    with psycopg.connect(url) as connection:
        backend.add(connection.info.backend_pid)
        memory = PeakMemory()
        with memory.watching():
            server_before, client_before = backend.times(), time.process_time()
            started = time.perf_counter()
            connection.execute(f"CREATE TEMP TABLE copy_customers ({columns})".encode())
            _copy_file(connection, path)
            for statement in HAND_WRITTEN:
                connection.execute(statement.encode())
            connection.commit()
            seconds = time.perf_counter() - started
            client = time.process_time() - client_before
            server = BackendCpu.spent(server_before, backend.times())
        row = connection.execute(b"SELECT count(*) FROM customer").fetchone()
    return int(row[0]) if row else 0, Step(seconds, memory.peak_mib, client, server)


def _hand_written_database(context: Context, path: Path) -> tuple[int, Step]:
    database = context.postgres.create_database("patron_bench_imports_sql")
    try:
        upgrade(context.postgres.sqlalchemy_url(database))
        return _hand_written(context.postgres.libpq_url(database), path)
    finally:
        context.postgres.drop_database(database)


def run(context: Context) -> Report:
    arguments = getattr(context, "arguments", None)
    rows = int(getattr(arguments, "rows", DEFAULT_ROWS) or DEFAULT_ROWS)
    workdir = context.options.workdir
    path = workdir / "customers.csv"
    say(f"Generating {rows:,} customers into {path}…")
    started = time.perf_counter()
    generate(path, rows)
    size_mib = path.stat().st_size / 2**20
    say(f"  {size_mib:,.0f} MiB in {time.perf_counter() - started:.0f} s")
    load_before = [round(value, 2) for value in os.getloadavg()]
    database = context.postgres.create_database("patron_bench_imports")
    try:
        url = context.postgres.sqlalchemy_url(database)
        say("Migrating a throwaway database…")
        upgrade(url)
        settings = Settings(
            _env_file=None,
            database_url=url,
            data_dir=workdir / "data",
            import_max_bytes=4 * 2**30,
        )
        say("COPY of the same file into a plain table…")
        copied, copy_step = _copy(context.postgres.libpq_url(database), path)
        say(f"  {copied:,} rows in {copy_step.seconds:.1f} s")
        say("Upload, dry run and import through patron.imports…")
        timings = asyncio.run(_patron_import(settings, path))
        say("Hand-written set-based SQL into Patron's tables, on a second database…")
        by_hand, hand_step = _hand_written_database(context, path)
        say(f"  {by_hand:,} customers in {hand_step.seconds:.1f} s")
    finally:
        context.postgres.drop_database(database)
        path.unlink(missing_ok=True)
    status, inserted, updated, errors = timings["result"]
    copy_figure = _figure("PostgreSQL COPY (plain table, no index)", copied, 0, copy_step)
    figures = [
        _figure("hand-written SQL into Patron's tables (all indexes)", by_hand, 0, hand_step),
        _figure("upload (stream to disk, sniff)", rows, 0, timings["upload"]),
        _figure("dry run (validate every row, look up)", rows, timings["dry_run_result"][2],
                timings["dry_run"]),
        _figure("import job (validate + upsert, 5,000/batch)", inserted + updated, errors,
                timings["import"]),
    ]  # fmt: skip
    steps = {
        "copy": copy_step,
        "hand_written_sql": hand_step,
        **{k: timings[k] for k in ("upload", "dry_run", "import")},
    }
    report = start_report(
        context,
        NAME,
        TITLE,
        with_pgbench=False,
        load_since=load_before,
        rows=rows,
        file_mib=round(size_mib, 1),
        import_status=status,
        peak_rss_mib={
            ("copy_client" if name == "copy" else name): step.peak_mib
            for name, step in steps.items()
        },
        cpu_us_per_row={
            name: {
                "client": round(1e6 * step.client_cpu / max(rows, 1), 1),
                "postgres": (
                    None
                    if step.server_cpu is None
                    else round(1e6 * step.server_cpu / max(rows, 1), 1)
                ),
            }
            for name, step in steps.items()
        },
    )
    report.figures = [*(f.relative_to(copy_figure) for f in figures), copy_figure]
    say(
        "Peak resident memory of the benchmark process (MiB): "
        + ", ".join(f"{k} {v}" for k, v in report.environment["peak_rss_mib"].items())
    )
    say(
        "CPU per row (µs, client / PostgreSQL backend): "
        + ", ".join(
            f"{name} {cpu['client']} / {cpu['postgres']}"
            for name, cpu in report.environment["cpu_us_per_row"].items()
        )
    )
    return report
