"""The ``patron`` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from patron import __version__
from patron.analytics.rfm_cli import rfm_app
from patron.analytics.sales.cli import reports_app
from patron.audit.service import Actor
from patron.config import ConfigurationError, Settings, get_settings
from patron.db.embedded import EmbeddedDatabaseError, EmbeddedServer, binaries_dir
from patron.db.engine import Database, resolve_database_url
from patron.integrations.cli import integrations_app

app = typer.Typer(
    help="Patron, the CRM for e-commerce businesses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The embedded PostgreSQL server.", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
key_app = typer.Typer(help="API keys, for scripts and automation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="apikey")
app.add_typer(integrations_app, name="integrations")
app.add_typer(rfm_app, name="rfm")
app.add_typer(reports_app, name="reports")

T = TypeVar("T")
CLI_ACTOR = Actor("system", None, "cli")


def fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _settings() -> Settings:
    settings = get_settings()
    try:
        settings.check_production_safety()
    except ConfigurationError as error:
        fail(str(error))
    return settings


def _database_url(settings: Settings) -> str:
    try:
        return resolve_database_url(settings)
    except EmbeddedDatabaseError as error:
        fail(str(error))
        raise


def _run_in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        database = Database(_database_url(settings), pool_size=2)
        try:
            async with database.transaction() as session:
                return await work(session)
        finally:
            await database.dispose()

    from patron.errors import CRMError

    try:
        return asyncio.run(main())
    except CRMError as error:
        fail(f"{error.message} ({error.code})")
        raise


def _migrate(settings: Settings) -> str:
    from patron.db.migrate import upgrade
    from patron.users.service import ensure_builtin_roles

    url = _database_url(settings)
    upgrade(url)
    _run_in_transaction(settings, ensure_builtin_roles)
    return url


@app.command()
def version() -> None:
    """Print Patron's version."""
    typer.echo(f"patron {__version__}")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    _migrate(_settings())
    typer.echo("Database is up to date.")


def _seed_demo(settings: Settings) -> None:
    from patron import demo

    if not settings.seeds_demo_data:
        if settings.is_production and _run_in_transaction(settings, demo.has_demo_users):
            fail(
                "Refusing to start in production: the database holds demo accounts. "
                "Disable or delete them first."
            )
        return
    if _run_in_transaction(settings, demo.is_empty):
        typer.echo("First start: creating the demo staff and the demo shop…")
    result = _run_in_transaction(settings, lambda db: demo.seed(db, settings))
    if result.created:
        shop = f": {result.shop.describe()}" if result.shop and result.shop.created else ""
        typer.secho(f"Demo data created{shop}.", fg=typer.colors.GREEN)


def _banner(settings: Settings, host: str, port: int) -> None:
    from patron import demo

    typer.echo("")
    typer.secho(f"  Patron {__version__} is running at http://{host}:{port}", bold=True)
    if settings.seeds_demo_data:
        password = demo.demo_password(settings)
        typer.echo("  Demo sign-ins (password: " + password + "):")
        for email, _name, role, _team in demo.DEMO_STAFF:
            typer.echo(f"    {role:<10} {email}")
    typer.echo("  API documentation: /api/docs    Stop with Ctrl+C")
    typer.echo("")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (PATRON_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PATRON_PORT)")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Run no jobs in this process")
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies trusted for X-Forwarded-* headers")
    ] = "127.0.0.1",
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes sharing the port (each with its own job worker)"
        ),
    ] = 1,
) -> None:
    """Migrate, seed demo data on first start, and serve the panel and API."""
    import uvicorn

    from patron.app import create_app
    from patron.logs import configure_logging

    settings = _settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)
    host = host or settings.host
    port = port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})
    embedded = EmbeddedServer(settings.data_dir) if settings.uses_embedded_database else None
    started_here = embedded is not None and not embedded.status().running
    _migrate(settings)
    _seed_demo(settings)
    _banner(settings, host, port)
    # uvicorn re-raises SIGTERM once it has shut down; make that an exit that runs `finally`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": True,
        "forwarded_allow_ips": forwarded_allow_ips,
        "log_level": "warning",
        "access_log": False,
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(settings, run_worker_in_process=not no_worker), **options)
        else:
            from patron.serving import IN_PROCESS_WORKER

            # the processes read their settings as this one did, with the chosen address
            os.environ.update(
                {
                    "PATRON_HOST": host,
                    "PATRON_PORT": str(port),
                    IN_PROCESS_WORKER: str(int(not no_worker)),
                }
            )
            # a process that is slow to start on a busy machine is not restarted in a loop
            uvicorn.run(
                "patron.serving:app",
                factory=True,
                workers=workers,
                timeout_worker_healthcheck=60,
                **options,
            )
    finally:
        if embedded is not None and started_here:
            embedded.stop()
            typer.echo("Embedded PostgreSQL stopped.")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once")] = 4,
) -> None:
    """Run background jobs. Start as many workers, on as many machines, as you need."""
    from patron.logs import configure_logging
    from patron.worker.app import run_worker, set_runtime

    settings = _settings()
    configure_logging(json=settings.json_logs, level=settings.log_level)

    async def main() -> None:
        database = Database(_database_url(settings), pool_size=concurrency + 1)
        set_runtime(settings, database)
        task = asyncio.create_task(
            run_worker(database, concurrency=concurrency, name=f"patron-worker-{os.getpid()}")
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await database.dispose()

    typer.echo(f"Worker started (concurrency {concurrency}); stop with Ctrl+C.")
    asyncio.run(main())


@app.command()
def demo(
    force: Annotated[
        bool, typer.Option(help="Add the demo staff even if there are other users")
    ] = False,
    customers: Annotated[
        int, typer.Option(min=0, max=100_000, help="Customers in the demo shop")
    ] = 300,
) -> None:
    """Create the demo staff accounts and a demo shop with two years of orders (never in
    production)."""
    from patron import demo as demo_data

    settings = _settings()
    if settings.is_production:
        fail("Demo data is never created in production.")
    _migrate(settings)
    result = _run_in_transaction(
        settings, lambda db: demo_data.seed(db, settings, force=force, customers=customers)
    )
    if not result.created:
        fail("The database already has users; use --force to add the demo staff anyway.")
    typer.echo(f"Demo staff created; password: {result.password}")
    if result.shop is not None and result.shop.created:
        typer.echo(f"Demo shop created: {result.shop.describe()}.")
    else:
        typer.echo("The database already holds customers or orders; no demo shop was added.")


# -- the embedded database -------------------------------------------------------------


def _embedded(settings: Settings) -> EmbeddedServer:
    if not settings.uses_embedded_database:
        fail("PATRON_DATABASE_URL is set: Patron is not using its embedded server.")
    return EmbeddedServer(settings.data_dir)


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server (later commands reuse it)."""
    try:
        status = _embedded(_settings()).ensure_running()
    except EmbeddedDatabaseError as error:
        fail(str(error))
        return
    typer.echo(f"Embedded PostgreSQL is running (pid {status.pid}).")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    try:
        stopped = _embedded(_settings()).stop()
    except EmbeddedDatabaseError as error:
        fail(str(error))
        return
    typer.echo(
        "Embedded PostgreSQL stopped." if stopped else "Embedded PostgreSQL was not running."
    )


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded server runs, and where."""
    settings = _settings()
    server = _embedded(settings)
    status = server.status()
    if status.running:
        typer.echo(f"running (pid {status.pid}) in {server.cluster_dir}")
    else:
        typer.echo(f"stopped ({server.cluster_dir})")
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    from patron.db.engine import libpq_url

    typer.echo(libpq_url(_database_url(_settings())))


@db_app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def db_psql(ctx: typer.Context) -> None:
    """Open psql on Patron's database (extra arguments go to psql)."""
    from patron.db.engine import libpq_url

    url = libpq_url(_database_url(_settings()))
    psql = str(binaries_dir() / "psql")
    sys.exit(subprocess.call([psql, url, *ctx.args]))


# -- users -----------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="Email address")],
    name: Annotated[str, typer.Option(help="Full name")] = "",
    role: Annotated[
        str, typer.Option(help="admin, manager, sales, support, marketing, analyst")
    ] = "admin",
    password: Annotated[
        bool, typer.Option("--password", help="Set a password now instead of emailing an invite")
    ] = False,
    service: Annotated[
        bool, typer.Option("--service", help="A service account for API keys")
    ] = False,
) -> None:
    """Create a staff member (invited by email, or with a password typed now)."""
    from patron.users import service as users

    settings = _settings()
    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )

    async def work(db: AsyncSession) -> Any:
        return await users.create_user(
            db,
            settings,
            actor=CLI_ACTOR,
            email=email,
            name=name or email.split("@")[0],
            role=role,
            password=secret,
            kind="service" if service else "person",
        )

    user = _run_in_transaction(settings, work)
    how = (
        "with the password given"
        if secret
        else ("as a service account" if service else "and invited by email")
    )
    typer.echo(f"Created {user.email} ({user.role}) {how}. id={user.id}")


def _change_user(email: str, changes: dict[str, Any]) -> None:
    from patron.auth import repository
    from patron.errors import NotFound
    from patron.users import service as users

    settings = _settings()

    async def work(db: AsyncSession) -> None:
        user = await repository.user_by_email(db, email)
        if user is None:
            raise NotFound(f"No user with email {email}.")
        await users.update_user(db, user, actor=CLI_ACTOR, changes=changes)

    _run_in_transaction(settings, work)


@user_app.command("set-role")
def user_set_role(email: str, role: str) -> None:
    """Give a staff member another role."""
    _change_user(email, {"role": role})
    typer.echo(f"{email} is now {role}.")


@user_app.command("disable")
def user_disable(email: str) -> None:
    """Disable an account: its sessions end and its API keys stop working."""
    _change_user(email, {"is_active": False})
    typer.echo(f"{email} is disabled.")


@user_app.command("enable")
def user_enable(email: str) -> None:
    """Enable a disabled account."""
    _change_user(email, {"is_active": True})
    typer.echo(f"{email} is enabled.")


# -- API keys --------------------------------------------------------------------------


@key_app.command("create")
def apikey_create(
    user: Annotated[str, typer.Option("--user", help="Email of the key's owner")],
    name: Annotated[str, typer.Option(help="What the key is for")],
    scope: Annotated[list[str], typer.Option("--scope", help="A scope; repeat for several")],
    expires_days: Annotated[int | None, typer.Option(min=1, help="Days until it expires")] = None,
) -> None:
    """Create an API key and print it once."""
    from patron.auth import apikeys, repository
    from patron.auth.dependencies import role_scopes
    from patron.auth.principal import Principal
    from patron.errors import NotFound
    from patron.kit.time import utcnow

    settings = _settings()

    async def work(db: AsyncSession) -> apikeys.CreatedKey:
        owner = await repository.user_by_email(db, user)
        if owner is None:
            raise NotFound(f"No user with email {user}.")
        role = await repository.role_by_name(db, owner.role)
        assert role is not None
        principal = Principal(owner, role, role_scopes(role))
        expires = utcnow() + timedelta(days=expires_days) if expires_days else None
        return await apikeys.create_key(db, principal, name=name, scopes=scope, expires_at=expires)

    created = _run_in_transaction(settings, work)
    typer.echo(f"id:     {created.key.id}", err=True)
    typer.echo(f"scopes: {', '.join(created.key.scopes)}", err=True)
    typer.echo("The key (shown once):", err=True)
    typer.echo(created.secret)


@key_app.command("list")
def apikey_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this owner's keys")] = None,
) -> None:
    """List API keys (never their secrets)."""
    from patron.auth import repository
    from patron.kit.pagination import PageParams
    from patron.users import repository as users_repository

    settings = _settings()

    async def work(db: AsyncSession) -> list[str]:
        owner = await repository.user_by_email(db, user) if user else None
        if user and owner is None:
            return []
        keys, _ = await users_repository.list_api_keys(
            db, PageParams(limit=200), owner=owner.id if owner else None
        )
        owners = await users_repository.users_by_ids(db, {k.user_id for k in keys})
        return [
            f"{k.id}  {k.prefix}…  {owners[k.user_id].email:<30} {k.name:<24} "
            f"{'revoked' if k.revoked_at else 'active'}  {','.join(k.scopes)}"
            for k in keys
        ]

    lines = _run_in_transaction(settings, work)
    typer.echo("\n".join(lines) if lines else "No API keys.")


@key_app.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke an API key by id; it stops working at once."""
    import uuid

    from patron.auth import apikeys
    from patron.errors import NotFound
    from patron.models import ApiKey

    settings = _settings()
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail("That is not a key id (see `patron apikey list`).")
        return

    async def work(db: AsyncSession) -> None:
        key = await db.get(ApiKey, parsed)
        if key is None:
            raise NotFound("No such API key.")
        await apikeys.revoke(db, key, actor=CLI_ACTOR)

    _run_in_transaction(settings, work)
    typer.echo(f"Key {key_id} revoked.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
