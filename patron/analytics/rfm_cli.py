"""``patron rfm ...``: run the RFM scoring now instead of waiting for the night."""

from __future__ import annotations

import typer

from patron.config import get_settings

rfm_app = typer.Typer(help="RFM scores and groups.", no_args_is_help=True)


@rfm_app.command("score")
def score() -> None:
    """Recompute the quintile cut points and every customer's RFM scores and group."""
    from patron.analytics import rfm
    from patron.cli import _run_in_transaction

    run = _run_in_transaction(get_settings(), rfm.score_everyone)
    cuts = run.cut_points
    typer.echo(f"Scored {cuts.customers} customer(s) with orders; {run.changed} score(s) changed.")
    if cuts.customers:
        typer.echo(
            f"Cut points: days since last order {cuts.recency_days}, "
            f"orders {cuts.orders_count}, spent {[str(m) for m in cuts.monetary or []]}."
        )
