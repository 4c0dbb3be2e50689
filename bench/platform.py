"""The platform's first figure: authenticated requests against PostgreSQL's own select rate.

- ``GET /api/v1/me`` with an API key: the API's fixed cost per request (middleware, key
  lookup, role, JSON response).
- ``GET /`` (the panel's home) with a session cookie: a server-rendered page with the
  administrator's dashboard queries (staff count, job counts, sign-in activity).
- ``pgbench -S`` on the same server: the select-only rate PostgreSQL itself reaches with the
  same number of clients: the raw-PostgreSQL reference (the design's lower bound on cost).
"""

from __future__ import annotations

import httpx2

from bench import pgbench
from bench.harness import Context, run_async, say, start_report
from bench.load import BenchError, Scenario, check_result, run_load
from bench.report import Figure, Report, load_average
from bench.servers import (
    ADMIN_EMAIL,
    SESSION_COOKIE,
    PatronServer,
    create_api_key,
    patron_server,
    sign_in,
)

NAME = "platform"
TITLE = "Authenticated API and panel requests beside pgbench select-only"


def _preflight(server: PatronServer, scenario: Scenario, expect: str) -> None:
    """One request before the load: the right page, for the right person, not an error."""
    response = httpx2.get(
        server.url + scenario.path,
        headers=dict(scenario.headers),
        cookies=dict(scenario.cookies),
        timeout=30,
        follow_redirects=False,
    )
    if response.status_code != 200 or expect not in response.text:
        raise BenchError(
            f"{scenario.name}: expected 200 with {expect!r}, got HTTP {response.status_code}"
        )


def run(context: Context) -> Report:
    options = context.options
    report = start_report(
        context,
        NAME,
        TITLE,
        server="patron serve --no-worker (one uvicorn process), JSON logs at INFO",
        clients=options.clients,
        duration_s=options.duration,
        warmup_s=options.warmup,
        max_requests=options.max_requests,
    )
    say("Starting patron serve on a throwaway database (migrations, demo staff)…")
    http: list[Figure] = []
    with patron_server(context.postgres, options.workdir) as server:
        key = create_api_key(server, email=ADMIN_EMAIL, scopes=["users:read"])
        cookie = sign_in(server, email=ADMIN_EMAIL)
        scenarios = [
            (
                Scenario(
                    "GET /api/v1/me (API key)",
                    "/api/v1/me",
                    headers={"Authorization": f"Bearer {key}"},
                ),
                ADMIN_EMAIL,
            ),
            (
                Scenario("GET / panel home (session)", "/", cookies={SESSION_COOKIE: cookie}),
                "Active staff",
            ),
        ]
        for scenario, expect in scenarios:
            _preflight(server, scenario, expect)
            say(
                f"{scenario.name}: {options.clients} clients, {options.warmup:g} s warm-up, "
                f"{options.duration:g} s…"
            )
            result = run_async(
                run_load(
                    server.url,
                    scenario,
                    clients=options.clients,
                    duration=options.duration,
                    max_requests=options.max_requests,
                    warmup=options.warmup,
                    server_cpu=server.cpu_seconds,
                )
            )
            check_result(scenario.name, result)
            if result.failed:
                say(f"  {result.failed} errors: {dict(result.errors)}")
            http.append(Figure.from_load(scenario.name, result))

    say(f"pgbench -S: {options.clients} clients, {options.duration:g} s…")
    baseline = Figure.from_pgbench(
        "pgbench -S (select-only)",
        pgbench.select_only(context.postgres, clients=options.clients, duration=options.duration),
    )
    report.figures = [*(figure.relative_to(baseline) for figure in http), baseline]
    report.environment["load_average_after"] = load_average()
    return report
