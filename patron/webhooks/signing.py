"""Signing deliveries: ``v1=`` hex HMAC-SHA256 of ``"{timestamp}.{body}"`` with the secret."""

from __future__ import annotations

import hashlib
import hmac

from patron.kit.crypto import random_token

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + random_token(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(
    secrets: list[str],
    *,
    event_id: str,
    event_type: str,
    delivery_id: str,
    attempt: int,
    timestamp: int,
    body: bytes,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Patron-Webhooks/1",
        "Patron-Webhook-Id": event_id,
        "Patron-Webhook-Event": event_type,
        "Patron-Webhook-Delivery": delivery_id,
        "Patron-Webhook-Attempt": str(attempt),
        "Patron-Webhook-Timestamp": str(timestamp),
        "Patron-Webhook-Signature": ", ".join(signature(s, timestamp, body) for s in secrets),
    }
