from __future__ import annotations

import httpx2

from tests.conftest import MakeUser, sign_in


async def test_an_admin_signs_in_and_sees_the_home_page(
    client: httpx2.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user("admin")
    await sign_in(client, admin)
    home = await client.get("/")
    assert home.status_code == 200
    assert "Hello, Admin Person" in home.text
