"""PostgreSQL's own rate, measured with pgbench on the same server in the same run.

``pgbench -i`` fills a throwaway database; a run writes per-transaction logs (``--log``) so
that its latency percentiles are computed exactly as the HTTP ones are.
"""

from __future__ import annotations

import re
import resource
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.load import BenchError, percentile
from bench.servers import PostgresServer

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_VERSION = re.compile(r"\d+(?:\.\d+)+")
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    threads: int
    duration: float
    tps: float
    transactions: int
    failed: int
    latency_average_ms: float | None
    latencies: tuple[float, ...]  # seconds, one per logged transaction
    client_cpu: float  # CPU seconds pgbench itself used

    def cpu_percent(self) -> float:
        return 100 * self.client_cpu / self.duration

    def latency_ms(self, fraction: float) -> float | None:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else None


def version(binary: str) -> str:
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = _VERSION.search(output)
    return found.group(0) if found else "unknown"


def parse_summary(output: str) -> tuple[float, int, int, float | None]:
    """tps, transactions processed, failed transactions and average latency from a run."""
    tps = _TPS.search(output)
    processed = _PROCESSED.search(output)
    if tps is None or processed is None:
        raise BenchError(f"could not read pgbench's figures from its output:\n{output[-2000:]}")
    failed = _FAILED.search(output)
    latency = _LATENCY.search(output)
    return (
        float(tps.group(1)),
        int(processed.group(1)),
        int(failed.group(1)) if failed else 0,
        float(latency.group(1)) if latency else None,
    )


def parse_log_line(line: str) -> float | None:
    """The latency in seconds of one ``--log`` line, or None for a failed transaction.

    Lines read ``client_id transaction_no time script_no time_epoch time_us [...]`` with the
    time in microseconds (or a word such as ``failed`` when the transaction failed).
    """
    fields = line.split()
    if len(fields) < 3 or not fields[2].isdigit():
        return None
    return int(fields[2]) / 1_000_000


def _run(command: list[str], timeout: float) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(command[:2])} did not finish in {timeout:.0f} s") from None
    if result.returncode != 0:
        raise BenchError(
            f"{Path(command[0]).name} failed (exit {result.returncode}):\n"
            f"{(result.stderr or result.stdout)[-2000:]}"
        )
    return result.stdout + result.stderr


def select_only(
    postgres: PostgresServer, *, clients: int, duration: float, scale: int = 1, threads: int = 2
) -> PgbenchResult:
    """``pgbench -i -s SCALE`` into a throwaway database, then ``pgbench -S`` for DURATION."""
    database = postgres.create_database("patron_bench_pgbench")
    try:
        url = postgres.libpq_url(database)
        _run([postgres.pgbench, "-i", "-s", str(scale), "-q", url], timeout=600)
        seconds = max(1, round(duration))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = children.ru_utime + children.ru_stime
        with tempfile.TemporaryDirectory(prefix="patron-pgbench-") as logs:
            output = _run(
                [
                    postgres.pgbench,
                    "-S",
                    "-n",
                    "-c",
                    str(clients),
                    "-j",
                    str(min(threads, clients)),
                    "-T",
                    str(seconds),
                    "--log",
                    f"--log-prefix={logs}/pgbench_log",
                    url,
                ],
                timeout=seconds + 120,
            )
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = children.ru_utime + children.ru_stime - cpu_before
            latencies: list[float] = []
            for path in sorted(Path(logs).glob("pgbench_log*")):
                with open(path) as lines:
                    for line in lines:
                        latency = parse_log_line(line)
                        if latency is not None:
                            latencies.append(latency)
        tps, processed, failed, average = parse_summary(output)
        return PgbenchResult(
            clients=clients,
            threads=min(threads, clients),
            duration=seconds,
            tps=tps,
            transactions=processed,
            failed=failed,
            latency_average_ms=average,
            latencies=tuple(latencies),
            client_cpu=cpu,
        )
    finally:
        postgres.drop_database(database)
