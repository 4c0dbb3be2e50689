"""Webhook signatures: base64 HMAC-SHA256 of the raw body (Shopify and WooCommerce)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def body_signature(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def signature_matches(body: bytes, header: str, secrets: Iterable[bytes]) -> bool:
    """True when ``header`` is the signature of ``body`` under one of ``secrets``; compared in
    constant time, and before anything reads the body."""
    given = header.strip().encode("latin-1", "replace")
    if not given:
        return False
    matched = False
    for secret in secrets:
        # every secret is tried, so the time taken does not tell which one matched
        matched |= hmac.compare_digest(body_signature(secret, body).encode(), given)
    return matched
