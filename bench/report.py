"""Figures, the printed table, the machine they were measured on, and the JSON record."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.load import LoadResult
from bench.pgbench import PgbenchResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    """One row of the table: a rate with its latency percentiles (milliseconds)."""

    name: str
    unit: str  # "req/s" or "tps"
    clients: int
    duration: float
    succeeded: int
    failed: int
    rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: Mapping[str, int] = field(default_factory=dict)
    client_cpu_percent: float | None = None  # the load generator (or pgbench), % of one core
    server_cpu_percent: float | None = None  # the Patron process, % of one core
    server_cpu_ms: float | None = None  # the Patron process's CPU time per successful request
    baseline: str | None = None  # the name of the figure this one is divided by
    ratio: float | None = None

    @classmethod
    def from_load(cls, name: str, result: LoadResult) -> Figure:
        return cls(
            name=name,
            unit="req/s",
            clients=result.clients,
            duration=round(result.elapsed, 3),
            succeeded=result.succeeded,
            failed=result.failed,
            rate=result.rate,
            p50_ms=result.latency_ms(0.50),
            p95_ms=result.latency_ms(0.95),
            p99_ms=result.latency_ms(0.99),
            errors=dict(result.errors),
            client_cpu_percent=result.cpu_percent(result.client_cpu),
            server_cpu_percent=result.cpu_percent(result.server_cpu),
            server_cpu_ms=(
                1000 * result.server_cpu / result.succeeded
                if result.server_cpu is not None and result.succeeded
                else None
            ),
        )

    @classmethod
    def from_pgbench(cls, name: str, result: PgbenchResult) -> Figure:
        return cls(
            name=name,
            unit="tps",
            clients=result.clients,
            duration=result.duration,
            succeeded=result.transactions,
            failed=result.failed,
            rate=result.tps,
            p50_ms=result.latency_ms(0.50),
            p95_ms=result.latency_ms(0.95),
            p99_ms=result.latency_ms(0.99),
            errors={"failed transactions": result.failed} if result.failed else {},
            client_cpu_percent=result.cpu_percent(),
        )

    def relative_to(self, baseline: Figure) -> Figure:
        ratio = self.rate / baseline.rate if baseline.rate else None
        return Figure(**{**asdict(self), "baseline": baseline.name, "ratio": ratio})


@dataclass
class Report:
    capability: str
    title: str
    started_at: str
    environment: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "capability": self.capability,
            "title": self.title,
            "started_at": self.started_at,
            "environment": self.environment,
            "figures": [asdict(figure) for figure in self.figures],
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} %"


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f} (1:{1 / value:,.0f})" if 0 < value < 1 else f"{value:.4f}"


def format_table(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable in a terminal, and pasted as is into docs/benchmarks.md.

    CPU columns are percentages of one core used during the measured phase by the load
    generator (or pgbench) and by the Patron process, and the Patron process's CPU time per
    request: the figure least disturbed by other work on the machine.
    """
    header = ["benchmark", "clients", "ok", "errors", "rate", "p50 ms", "p95 ms", "p99 ms"]
    header += ["ratio", "client CPU", "server CPU", "server CPU/req"]
    rows = [header]
    for figure in figures:
        rows.append(
            [
                figure.name,
                str(figure.clients),
                str(figure.succeeded),
                str(figure.failed),
                f"{figure.rate:,.0f} {figure.unit}",
                _ms(figure.p50_ms),
                _ms(figure.p95_ms),
                _ms(figure.p99_ms),
                _ratio(figure.ratio),
                _percent(figure.client_cpu_percent),
                _percent(figure.server_cpu_percent),
                "" if figure.server_cpu_ms is None else f"{figure.server_cpu_ms:.2f} ms",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = set(range(1, len(header)))

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(cells) + " |"

    rule = "|".join(
        "-" * (width + 1) + ":" if i in numeric else "-" * (width + 2)
        for i, width in enumerate(widths)
    )
    lines = [line(rows[0]), f"|{rule}|", *(line(row) for row in rows[1:])]
    baselines = sorted({figure.baseline for figure in figures if figure.baseline})
    lines += ["", *(f"ratio: rate ÷ the rate of {name}" for name in baselines)]
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "commit": _git_commit(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    return [round(value, 2) for value in os.getloadavg()]


def write_json(report: Report, directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    path = directory / f"{report.capability}-{stamp}.json"
    path.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return path
