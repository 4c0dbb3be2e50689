"""The benchmark harness's pure helpers: percentiles, pgbench parsing, the table, the verdict.

The benchmarks themselves are commands (``make bench``), never timed assertions here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.imports import BackendCpu
from bench.load import BenchError, LoadResult, check_result, percentile
from bench.pgbench import parse_log_line, parse_summary
from bench.report import Figure, format_table

PGBENCH_OUTPUT = """\
pgbench (18.6)
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 15 s
number of transactions actually processed: 401234
number of failed transactions: 3 (0.001%)
latency average = 0.598 ms
initial connection time = 12.345 ms
tps = 26748.912345 (without initial connection time)
"""


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(values, 0.0) == 1
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2  # unsorted input


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        percentile([1.0], 1.5)


@given(st.lists(st.floats(0, 1e6), min_size=1), st.floats(0, 1))
def test_percentile_is_an_observed_value_that_covers_the_fraction(
    values: list[float], fraction: float
) -> None:
    found = percentile(values, fraction)
    assert found in values
    assert sum(v <= found for v in values) >= fraction * len(values)


def test_pgbench_summary_and_log_lines() -> None:
    assert parse_summary(PGBENCH_OUTPUT) == (26748.912345, 401234, 3, 0.598)
    assert parse_log_line("3 117 523 0 1795402000 123456") == pytest.approx(0.000523)
    assert parse_log_line("3 118 failed 0 1795402000 123456") is None
    assert parse_log_line("") is None
    with pytest.raises(BenchError, match="could not read"):
        parse_summary("connection to server failed")


def _result(ok: int, errors: dict[str, int], server_cpu: float | None = None) -> LoadResult:
    return LoadResult(
        clients=16, elapsed=2.0, latencies=(0.01,) * ok, errors=errors, server_cpu=server_cpu
    )


def test_most_requests_failing_fails_the_benchmark() -> None:
    check_result("fine", _result(90, {"HTTP 500": 10}))
    with pytest.raises(BenchError, match=r"60 of 100 requests failed \(HTTP 303: 60\)"):
        check_result("redirected", _result(40, {"HTTP 303": 60}))
    with pytest.raises(BenchError, match="no request completed"):
        check_result("silent", _result(0, {}))


def test_table_shows_rates_errors_and_the_ratio() -> None:
    baseline = Figure("pgbench -S", "tps", 16, 15, 30000, 0, 2000.0, 0.5, 0.9, 1.2)
    served = Figure.from_load("GET /x", _result(400, {"HTTP 500": 2}, server_cpu=1.0))
    served = served.relative_to(baseline)
    table = format_table([served, baseline])
    assert served.rate == 200
    assert served.ratio == pytest.approx(0.1)
    assert "| GET /x " in table
    assert "200 req/s" in table
    assert "2,000 tps" in table
    assert "0.1000 (1:10)" in table
    assert "50 %" in table  # server CPU: 1 s over 2 s
    assert "2.50 ms" in table  # server CPU per request: 1 s over 400 requests
    assert "ratio: rate ÷ the rate of pgbench -S" in table
    assert table.splitlines()[1].startswith("|---")


def test_backend_cpu_counts_the_time_of_live_processes_only() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", "sum(range(3 * 10**7)); print('done', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        cpu = BackendCpu()
        before = cpu.times()
        assert before == {}, "no process yet: nothing, not unknown"
        cpu.add(worker.pid)
        assert worker.stdout is not None
        assert worker.stdout.readline() == "done\n"
        spent = BackendCpu.spent(before, cpu.times())
        assert spent is not None
        assert spent > 0
        assert BackendCpu.spent(None, cpu.times()) is None
    finally:
        worker.communicate("\n")
    assert cpu.times() is None, "every process it follows has ended: unknown"
