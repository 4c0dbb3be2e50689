"""Checking web addresses that Patron stores and shows as links (images, tracking, checkout)."""

from __future__ import annotations

from urllib.parse import urlsplit

from patron.errors import InvalidInput

MAX_URL = 2000


def check_http_url(value: str, *, field: str = "url", max_length: int = MAX_URL) -> str:
    """An absolute http(s) URL with a host; anything else (javascript:, data:, relative) is 422."""
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or len(url) > max_length
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        message = f"{value[:100]!r} is not a valid http(s) address."
        raise InvalidInput(
            message, code="invalid_url", details=[{"field": field, "message": message}]
        )
    return url


def image_source(url: str, hosts: list[str]) -> str:
    """The URL if the panel may load it as a picture: https, on a host the Content Security
    Policy names (``PATRON_IMAGE_HOSTS``; ``*.example.com`` covers its subdomains)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return ""
    if parts.scheme.lower() != "https" or not host:
        return ""
    for allowed in hosts:
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return url.strip()
    return ""
