"""What every capability's benchmark gets: the options, the PostgreSQL server, a way to run
async load, and a consistent way to report progress."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import uvloop

from bench import pgbench
from bench.report import Report, load_average, now_iso
from bench.servers import PostgresServer

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from patron.config import Settings

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


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


def options_of(cls: type[D], context: Context) -> D:
    """A capability's own options (a dataclass whose fields are its command-line options),
    or their defaults when every capability runs without them."""
    given = vars(context.arguments) if context.arguments else {}
    return cls(**{item.name: given[item.name] for item in fields(cls) if item.name in given})


def start_report(
    context: Context,
    capability: str,
    title: str,
    *,
    postgres: PostgresServer | None = None,
    with_pgbench: bool = True,
    load_since: list[float] | None = None,
    **environment: Any,
) -> Report:
    """A capability's report, its environment naming the machine, its load and the
    PostgreSQL server measured (``postgres``, else the context's) beside ``environment``.
    With ``load_since`` (the load average read when the run began), the load before and now."""
    server = postgres or context.postgres
    if load_since is not None:
        environment = {
            "load_average_before": load_since,
            "load_average_after": load_average(),
            **environment,
        }
    return Report(
        capability=capability,
        title=title,
        started_at=now_iso(),
        environment={
            **context.machine,
            "load_average_before": load_average(),
            "postgres": server.label,
            "postgres_version": server.version(),
            "pgbench": server.pgbench,
            "pgbench_version": pgbench.version(server.pgbench) if with_pgbench else "n/a",
            **environment,
        },
    )


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run load on uvloop: the generator shares the machine, so it should be cheap."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)


def scratch_settings(url: str, name: str) -> Settings:
    """Settings of an in-process run against ``url``: test environment, a throwaway secret
    and a fresh temporary data directory named after the run."""
    from patron.config import Settings

    return Settings(
        _env_file=None,
        environment="test",
        secret_key=f"{name}-" + "x" * 40,
        database_url=url,
        data_dir=Path(tempfile.mkdtemp(prefix=f"patron-{name}-")),
    )
