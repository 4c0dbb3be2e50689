"""Outbound HTTP that cannot be aimed at the inside of the network (SSRF guard).

Every request resolves its host once, refuses it if ANY resolved address is private,
loopback, link-local, multicast, reserved or unspecified (IPv4, IPv6 and IPv4-mapped IPv6),
then connects to the address it checked: the URL carries the IP, the ``Host`` header and the
TLS server name carry the original host, so a second DNS answer (rebinding) is never used.
Redirects are not followed and environment proxies are ignored. ``allow_private`` lifts the
address check for installations that deliberately call their own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx2

from patron.errors import CRMError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(CRMError):
    """The target of an outbound request is not allowed (scheme, host or address)."""

    status = 422
    code = "outbound_refused"


def is_public(address: IPAddress) -> bool:
    """Whether an address is reachable on the public internet and safe to call."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    address: IPAddress


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundRefused(
            f"The host {host} cannot be resolved.", code="host_unresolved"
        ) from error
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise OutboundRefused(f"The host {host} has no address.", code="host_unresolved")
    return found


def check_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL, or a refusal."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("Only http and https URLs can be called.", code="url_scheme")
    if not parts.hostname:
        raise OutboundRefused("The URL has no host.", code="url_host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise OutboundRefused("The URL has an invalid port.", code="url_port") from error
    return parts.scheme, parts.hostname, port


async def pin(url: str, *, allow_private: bool) -> Target:
    """Resolve and check ``url``'s host; the returned URL names the checked address."""
    _, host, port = check_url(url)
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise OutboundRefused(
                    f"{host} resolves to {address}, a private or reserved address;"
                    " outbound requests to it are not allowed.",
                    code="address_not_allowed",
                )
    address = addresses[0]
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{port}"
    return Target(urlunsplit(parts._replace(netloc=netloc)), host, address)


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: httpx2.Headers
    body: bytes  # at most ``max_body`` bytes of it


async def post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
    allow_private: bool,
    max_body: int = 64 * 1024,
) -> Reply:
    """POST to a checked address, within ``timeout_seconds`` in all, keeping the start of the
    answer (a receiver cannot hold the worker with a slow or endless body)."""
    return await send(
        "POST",
        url,
        content=content,
        headers=headers,
        timeout_seconds=timeout_seconds,
        allow_private=allow_private,
        max_body=max_body,
    )


async def send(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    timeout_seconds: float,
    allow_private: bool,
    content: bytes | None = None,
    max_body: int = 64 * 1024,
) -> Reply:
    """Send a request to a checked address, within ``timeout_seconds`` in all, reading at
    most ``max_body`` bytes of the answer."""
    target = await pin(url, allow_private=allow_private)
    host_header = urlsplit(url).netloc.rsplit("@", 1)[-1]
    async with (
        asyncio.timeout(timeout_seconds),
        httpx2.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, trust_env=False
        ) as client,
    ):
        request = client.build_request(
            method,
            target.url,
            content=content,
            headers={**headers, "Host": host_header},
            extensions={"sni_hostname": target.host},
        )
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) >= max_body:
                    break
        finally:
            await response.aclose()
        return Reply(response.status_code, response.headers, bytes(body[:max_body]))
