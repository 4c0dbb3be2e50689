"""Product pictures in the panel: loaded only from hosts the administrator allowed."""

from __future__ import annotations

import re

import httpx2
import pytest

from patron.config import Settings
from patron.kit.urls import image_source
from patron.web.middleware import content_security_policy
from tests.conftest import MakeKey, MakeUser, bearer, sign_in

ALLOWED = ["cdn.example.com", "*.shopcdn.net"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.image_hosts = ALLOWED
    return settings


def test_only_https_pictures_on_an_allowed_host_are_shown() -> None:
    assert image_source("https://cdn.example.com/a.jpg", ALLOWED) == "https://cdn.example.com/a.jpg"
    assert image_source("https://eu.shopcdn.net/b.png?v=2", ALLOWED).endswith("b.png?v=2")
    assert image_source("http://cdn.example.com/a.jpg", ALLOWED) == ""
    assert image_source("https://evil.example.org/cdn.example.com.jpg", ALLOWED) == ""
    assert image_source("https://shopcdn.net.evil.org/x.jpg", ALLOWED) == ""
    assert image_source("https://cdn.example.com/a.jpg", []) == ""
    assert image_source("javascript:alert(1)", ALLOWED) == ""


def test_the_content_security_policy_names_the_allowed_hosts_and_nothing_else() -> None:
    policy = content_security_policy(ALLOWED)
    assert "img-src 'self' data: https://cdn.example.com https://*.shopcdn.net;" in policy
    assert "img-src 'self' data:;" in content_security_policy()


def test_a_host_that_is_not_a_host_name_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        Settings(image_hosts=["cdn.example.com; script-src *"])
    assert Settings(image_hosts=[" CDN.Example.com "]).image_hosts == ["cdn.example.com"]


async def test_the_product_page_shows_allowed_pictures_and_links_the_rest(
    client: httpx2.AsyncClient, make_user: MakeUser, make_key: MakeKey
) -> None:
    admin = await make_user("admin")
    created = await client.post(
        "/api/v1/products",
        headers=bearer(await make_key(admin)),
        json={
            "title": "Linen Shirt",
            "images": [
                "https://cdn.example.com/shirt-front.jpg",
                "https://elsewhere.example.org/shirt-back.jpg",
            ],
            "variants": [{"sku": "LS-1", "price": "49.90"}],
        },
    )
    assert created.status_code == 201, created.text
    await sign_in(client, admin)
    page = await client.get(f"/products/{created.json()['id']}")
    assert page.status_code == 200
    pictures = re.findall(r'<img src="([^"]+)"[^>]*data-picture', page.text)
    assert pictures == ["https://cdn.example.com/shirt-front.jpg"]
    assert "shirt-back.jpg</a>" in page.text
    assert "https://cdn.example.com" in page.headers["content-security-policy"]
