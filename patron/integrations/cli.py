"""``patron integrations ...``: maintenance commands for store connections."""

from __future__ import annotations

import typer

from patron.config import get_settings

integrations_app = typer.Typer(help="Store integrations.", no_args_is_help=True)


@integrations_app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored integration secret with the current PATRON_SECRET_KEY.

    Run it after a key rotation; then the old key can leave PATRON_OLD_SECRET_KEYS.
    """
    from patron.cli import _run_in_transaction
    from patron.integrations import service
    from patron.kit.crypto import SecretBox

    settings = get_settings()
    box = SecretBox(settings)
    count = _run_in_transaction(settings, lambda db: service.rotate_secrets(db, box))
    typer.echo(f"Re-encrypted the secrets of {count} store connection(s).")
