"""``patron integrations rotate-secrets``: after a key rotation, stored secrets are
re-encrypted with the new key, so the old one can be retired."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patron.cli import app
from patron.config import get_settings
from patron.db.engine import Database
from patron.integrations import service
from patron.kit.crypto import SecretBox
from patron.models import StoreConnection
from tests.conftest import IsolatedDatabase, make_settings
from tests.test_integrations_helpers import SECRET, connect_shop

OLD_KEY = "old-secret-key-" + "o" * 40
NEW_KEY = "new-secret-key-" + "n" * 40


async def _connect(url: str, tmp_path: Path) -> StoreConnection:
    database = Database(url, pool_size=1)
    try:
        async with database.transaction() as db:
            return await connect_shop(db, make_settings(url, tmp_path, secret_key=OLD_KEY))
    finally:
        await database.dispose()


async def _reload(url: str, connection: StoreConnection) -> StoreConnection:
    database = Database(url, pool_size=1)
    try:
        async with database.transaction() as db:
            fresh = await db.get(StoreConnection, connection.id)
            assert fresh is not None
            return fresh
    finally:
        await database.dispose()


def test_rotate_secrets_re_encrypts_with_the_new_key(
    isolated_database: IsolatedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = asyncio.run(_connect(isolated_database.url, tmp_path))
    monkeypatch.setenv("PATRON_DATABASE_URL", isolated_database.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATRON_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("PATRON_OLD_SECRET_KEYS", json.dumps([OLD_KEY]))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["integrations", "rotate-secrets"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 store connection" in result.output
    rotated = asyncio.run(_reload(isolated_database.url, connection))
    only_new = SecretBox(make_settings(isolated_database.url, tmp_path, secret_key=NEW_KEY))
    assert service.webhook_secrets(only_new, rotated) == [SECRET.encode()]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(make_settings(isolated_database.url, tmp_path, secret_key=OLD_KEY)).decrypt(
            rotated.webhook_secret
        )
