"""``python -m bench [CAPABILITY ...]``: run benchmarks, print their figures, keep them as JSON.

Each capability is a module of this package with ``NAME``, ``TITLE`` and
``run(context) -> Report``; add it to ``CAPABILITIES`` and it becomes a subcommand (and part
of a plain ``python -m bench``, which runs them all).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bench import (
    customers,
    dataset,
    events,
    imports,
    ingest,
    platform,
    product_reports,
    scale,
    segments,
)
from bench.harness import Context, Options, say
from bench.load import BenchError
from bench.report import RESULTS_DIR, Report, format_table, machine, write_json
from bench.servers import default_data_dir, postgres_server


class Capability(Protocol):
    NAME: str
    TITLE: str

    def run(self, context: Context) -> Report: ...


CAPABILITIES: dict[str, Capability] = {
    platform.NAME: platform,
    dataset.NAME: dataset,
    imports.NAME: imports,
    customers.NAME: customers,
    events.NAME: events,
    ingest.NAME: ingest,
    scale.NAME: scale,
    segments.NAME: segments,
    product_reports.NAME: product_reports,
}


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _common_options(*, defaults: bool) -> argparse.ArgumentParser:
    """The options every capability takes, before or after its name.

    A subcommand's parser gets them without defaults, so that ``--duration 5 platform`` is
    not reset by the subcommand's own default.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    if not defaults:

        def add(*names: str, **options: Any) -> None:
            options["default"] = argparse.SUPPRESS
            group.add_argument(*names, **options)

    else:

        def add(*names: str, **options: Any) -> None:
            group.add_argument(*names, **options)

    add("--clients", type=_positive_int, default=16, help="concurrent clients (default 16)")
    add(
        "--duration",
        type=_positive_float,
        default=15.0,
        help="seconds measured per scenario (default 15)",
    )
    add(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of unrecorded load before each scenario (default 2)",
    )
    add(
        "--max-requests",
        type=_positive_int,
        default=1_000_000,
        help="stop a scenario after this many requests even before --duration (default 1e6)",
    )
    add(
        "--database-url",
        default=os.environ.get("PATRON_BENCH_DATABASE_URL", ""),
        help="a PostgreSQL server to use (a superuser URL; throwaway databases are made and "
        "dropped on it) instead of the embedded one; default $PATRON_BENCH_DATABASE_URL",
    )
    add(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help=f"the embedded PostgreSQL's data directory (default {default_data_dir()})",
    )
    add(
        "--pgbench",
        default=None,
        help="the pgbench binary (default: the embedded server's own; with --database-url, "
        "the one on PATH)",
    )
    add(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON results go (default bench/results)",
    )
    return common


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Patron's benchmarks; with no capability, run them all.",
        parents=[_common_options(defaults=True)],
    )
    commands = main.add_subparsers(dest="capability", metavar="CAPABILITY")
    for name, module in CAPABILITIES.items():
        command = commands.add_parser(
            name,
            help=module.TITLE,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[_common_options(defaults=False)],
        )
        add_arguments = getattr(module, "add_arguments", None)  # a capability's own options
        if add_arguments is not None:
            add_arguments(command)
    return main


def _run(names: Sequence[str], arguments: argparse.Namespace) -> list[Report]:
    reports: list[Report] = []
    with (
        tempfile.TemporaryDirectory(prefix="patron-bench-run-") as workdir,
        postgres_server(
            arguments.database_url or None, arguments.data_dir, arguments.pgbench
        ) as pg,
    ):
        options = Options(
            clients=arguments.clients,
            duration=arguments.duration,
            warmup=max(0.0, arguments.warmup),
            max_requests=arguments.max_requests,
            workdir=Path(workdir),
            results_dir=arguments.results_dir,
        )
        say(f"PostgreSQL: {pg.label}")
        context = Context(options=options, postgres=pg, machine=machine(), arguments=arguments)
        for name in names:
            report = CAPABILITIES[name].run(context)
            path = write_json(report, options.results_dir)
            reports.append(report)
            environment = report.environment
            print(f"\n{report.title}", flush=True)
            print(
                f"{environment['cpus']} CPUs, {environment['memory_gib']} GiB, "
                f"PostgreSQL {environment['postgres_version']} ({environment['postgres']}), "
                f"pgbench {environment['pgbench_version']}, "
                f"load {environment['load_average_before']} → "
                f"{environment.get('load_average_after')}\n"
            )
            print(format_table(report.figures), flush=True)
            say(f"\nResults written to {path}")
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    names = [arguments.capability] if arguments.capability else list(CAPABILITIES)
    try:
        _run(names, arguments)
    except BenchError as error:
        print(f"\nBenchmark failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted; servers stopped and databases dropped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
