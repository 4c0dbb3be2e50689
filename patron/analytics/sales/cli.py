"""``patron reports ...``: maintenance of the report rollups."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from patron.config import get_settings
from patron.kit.time import utcnow

reports_app = typer.Typer(help="Reports and their rollups.", no_args_is_help=True)


@reports_app.command("rebuild")
def rebuild(
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: first order)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: today)")
    ] = None,
) -> None:
    """Recompute the daily sales and product rollups (and the monthly product rows) from the
    orders, a month per transaction, then the products bought together (the last year's) and
    the customer and cohort rollups and the staff report's owned orders (all of them, in one
    transaction), then the staff report's timeline counts, then the segment conditions' event
    rollups (daily counts and each customer's latest events, from every event, in one
    transaction). From the first order (no --from), it also records the product rollup as
    filled (an upgraded database).

    Safe while Patron runs: each day is locked while it is recomputed; order changes wait
    while the customer rollups are rebuilt, event writes while the event rollups are.
    """
    from patron.analytics import customer_rollups, product_rollups, rollups, staff_rollups
    from patron.analytics.period import InvalidPeriod, period_of
    from patron.cli import _database_url, fail
    from patron.db.engine import Database
    from patron.segments import rollups as segment_rollups

    settings = get_settings()

    async def main() -> tuple[int, int, int, tuple[int, int]]:
        database = Database(_database_url(settings), pool_size=2)
        try:
            today = utcnow().date()
            first_text = start
            if first_text is None:
                async with database.transaction() as db:
                    first_text = str(await rollups.first_order_day(db) or today)
            try:
                period = period_of(start=first_text, end=end, today=today)
            except InvalidPeriod as error:
                fail(f"{error.message} ({error.code})")
                raise
            days = await rollups.rebuild_in_chunks(database, first=period.start, last=period.end)
            async with database.transaction() as db:
                if start is None:  # from the first order: the product rollup is complete
                    await product_rollups.mark_filled(db)
                await product_rollups.refresh_pairs(db, today=today)
            async with database.transaction() as db:
                facts = await customer_rollups.rebuild(db)
            async with database.transaction() as db:
                activity = await staff_rollups.rebuild_activity(db)
            async with database.transaction() as db:
                return days, facts, activity, await segment_rollups.rebuild_events(db)
        finally:
            await database.dispose()

    days, facts, activity, (event_days, event_recent) = asyncio.run(main())
    typer.echo(
        f"Rebuilt {days} day, channel and currency row(s) of the sales and product rollups,"
        " and the products bought together."
    )
    typer.echo(
        f"Rebuilt the customer rollups and the staff report's owned orders from {facts}"
        " order fact(s)."
    )
    typer.echo(f"Rebuilt the staff report's {activity} daily timeline count(s).")
    typer.echo(
        f"Rebuilt the event rollups: {event_days} customer-day row(s), "
        f"{event_recent} customer-and-name row(s) of latest events."
    )
