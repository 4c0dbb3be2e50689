"""What every capability's benchmark gets: the options, the PostgreSQL server, a way to run
async load, and a consistent way to report progress."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from bench.report import Report, load_average, now_iso
from bench.servers import PostgresServer

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    clients: int
    duration: float  # seconds per measured scenario
    warmup: float  # seconds of unrecorded load before each scenario
    max_requests: int  # cap on the requests of one scenario, whatever the duration
    workdir: Path  # logs of the servers started for this run (temporary)
    results_dir: Path


@dataclass
class Context:
    options: Options
    postgres: PostgresServer
    machine: dict[str, Any]
    # everything parsed, including a capability's own options (its ``add_arguments``)
    arguments: argparse.Namespace | None = None


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run load on uvloop: the generator shares the machine, so it should be cheap."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)


def start_report(context: Context, capability: str, title: str, **extra: Any) -> Report:
    """A capability's report before its figures: the machine, the load average, the
    PostgreSQL server, and ``extra``."""
    postgres = context.postgres
    return Report(
        capability=capability,
        title=title,
        started_at=now_iso(),
        environment={
            **context.machine,
            "load_average_before": load_average(),
            "postgres": postgres.label,
            "postgres_version": postgres.version(),
            "pgbench_version": "",
            **extra,
        },
    )
