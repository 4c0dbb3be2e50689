"""The SSRF guard every outbound request goes through (patron.kit.outbound)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from patron.kit import outbound
from tests.live import http_server

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
]


@pytest.fixture
def local_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with http_server(Handler) as port:
        yield port, seen


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_not_public(
    address: str,
) -> None:
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address: str) -> None:
    assert outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://2130706433:{port}/",  # 127.0.0.1 written as one number
    ],
)
async def test_a_request_to_the_local_machine_is_refused_without_the_allowance(
    url: str, local_server: tuple[int, list[dict[str, str]]]
) -> None:
    port, seen = local_server
    with pytest.raises(outbound.OutboundRefused) as refused:
        await outbound.post(
            url.format(port=port),
            content=b"{}",
            headers={},
            timeout_seconds=2,
            allow_private=False,
        )
    assert refused.value.code == "address_not_allowed"
    assert seen == []


async def test_with_the_allowance_it_connects_to_the_checked_address_and_keeps_the_host(
    local_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = local_server
    response = await outbound.post(
        f"http://localhost:{port}/hook",
        content=b"{}",
        headers={"X-Test": "1"},
        timeout_seconds=2,
        allow_private=True,
    )
    assert response.status_code == 204
    [headers] = seen
    assert headers["host"] == f"localhost:{port}"
    assert headers["x-test"] == "1"


async def test_the_pinned_url_names_the_resolved_address_not_the_name() -> None:
    target = await outbound.pin("https://localhost:8443/a?b=c", allow_private=True)
    assert target.host == "localhost"
    assert target.address.is_loopback
    assert target.url in ("https://127.0.0.1:8443/a?b=c", "https://[::1]:8443/a?b=c")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "url_scheme"),
        ("gopher://example.com/", "url_scheme"),
        ("http:///nohost", "url_host"),
        ("http://example.com:99999/", "url_port"),
        ("http://no-such-host.invalid/", "host_unresolved"),
    ],
)
async def test_urls_that_cannot_be_called_are_refused_with_a_code(url: str, code: str) -> None:
    with pytest.raises(outbound.OutboundRefused) as refused:
        await outbound.pin(url, allow_private=False)
    assert refused.value.code == code


async def test_only_the_start_of_a_huge_answer_is_read() -> None:
    class Endless(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):  # 10 MB, without a Content-Length
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass  # the client stopped reading, as it should

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with http_server(Endless) as port:
        reply = await outbound.post(
            f"http://127.0.0.1:{port}/",
            content=b"{}",
            headers={},
            timeout_seconds=5,
            allow_private=True,
            max_body=4096,
        )
    assert reply.status_code == 200
    assert reply.body == b"x" * 4096
