"""Identifiers: UUIDv7 made in Python (time-ordered, safe to expose, shard-friendly)."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
