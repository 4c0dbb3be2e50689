"""What identifies a Stripe connection: the account id (``acct_...``), in place of the shop
domain the stores have; one connection per Stripe account."""

from __future__ import annotations

import re

from patron.errors import InvalidInput

ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{6,40}$")


def account_id(value: str) -> str:
    account = value.strip()
    if not ACCOUNT_ID.match(account):
        message = (
            "Give the Stripe account id, for example acct_1A2b3C4d5E6f7G8h "
            "(Stripe dashboard → Settings → Business → Account details)."
        )
        raise InvalidInput(
            message,
            code="invalid_stripe_account",
            details=[{"field": "shop_domain", "message": message}],
        )
    return account
