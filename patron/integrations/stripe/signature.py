"""Stripe's ``Stripe-Signature`` header: ``t=<unix time>,v1=<hex HMAC-SHA256>[,v1=...]``.

Each ``v1`` is the HMAC-SHA256 of ``"{t}.{raw body}"`` under an endpoint secret; while a
secret is being rolled Stripe sends one ``v1`` per active secret. Other schemes (``v0``, the
test-mode scheme) are ignored. A signature older or newer than the tolerance is refused, so
a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

MAX_HEADER = 4000
MAX_SIGNATURES = 10


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    message: str = ""


VALID = Verdict(True)
MISSING = Verdict(
    False, "invalid_signature", "The Stripe-Signature header is missing or unreadable."
)
WRONG = Verdict(False, "invalid_signature", "No v1 signature matches an active endpoint secret.")
EXPIRED = Verdict(
    False, "signature_expired", "The signature's timestamp is outside the tolerance window."
)


def parse(header: str) -> tuple[int | None, list[str]]:
    """The timestamp and the ``v1`` signatures of a header (others ignored)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header[:MAX_HEADER].split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value and len(signatures) < MAX_SIGNATURES:
            signatures.append(value.strip().lower())
    return timestamp, signatures


def expected(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    body: bytes, header: str, secrets: Iterable[bytes], *, now: float, tolerance: int
) -> Verdict:
    """Check the signature over the raw body before anything parses it; every pair of
    secret and signature is compared in constant time."""
    timestamp, given = parse(header)
    if timestamp is None or not given:
        return MISSING
    matched = False
    for secret in secrets:
        digest = expected(secret, timestamp, body).encode()
        for signature in given:
            matched |= hmac.compare_digest(digest, signature.encode("ascii", "replace"))
    if not matched:
        return WRONG
    if abs(now - timestamp) > tolerance:
        return EXPIRED
    return VALID
