"""Demo data for a first look: a staff member for every role and a shop with two years of
history (see :mod:`patron.demo_shop`), never in production."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.auth import repository
from patron.config import ConfigurationError, Settings
from patron.demo_shop.seed import ShopSummary, seed_shop
from patron.models import StaffUser
from patron.users import service as users

DEMO_STAFF = (
    ("admin@example.com", "Ada Admin", "admin", None),
    ("manager@example.com", "Max Manager", "manager", "Sales"),
    ("sales@example.com", "Sam Sales", "sales", "Sales"),
    ("support@example.com", "Sue Support", "support", "Support"),
    ("marketing@example.com", "Mia Marketing", "marketing", None),
    ("analyst@example.com", "Ali Analyst", "analyst", None),
)


@dataclass(frozen=True)
class DemoResult:
    created: bool
    password: str | None
    emails: tuple[str, ...] = tuple(email for email, *_ in DEMO_STAFF)
    shop: ShopSummary | None = None


def password_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-password.txt"


def demo_password(settings: Settings) -> str:
    """PATRON_DEMO_PASSWORD, else the one generated at first start (kept in the data dir)."""
    if settings.demo_password is not None:
        return settings.demo_password.get_secret_value()
    path = password_file(settings)
    if path.exists():
        return path.read_text().strip()
    password = "-".join(secrets.token_hex(3) for _ in range(3))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


async def is_empty(db: AsyncSession) -> bool:
    return not await db.scalar(select(func.count()).select_from(StaffUser))


async def has_demo_users(db: AsyncSession) -> bool:
    return bool(await db.scalar(select(func.count()).where(StaffUser.is_demo)))


async def seed(
    db: AsyncSession,
    settings: Settings,
    *,
    force: bool = False,
    customers: int = 300,
    shop: bool = True,
) -> DemoResult:
    """Create the demo staff if the database has no staff at all (or ``force``), then the
    demo shop (unless not wanted) if it has no customers and no orders yet."""
    if settings.is_production:
        raise ConfigurationError("Demo data is never created in production.")
    if not force and not await is_empty(db):
        return DemoResult(created=False, password=None)
    password = demo_password(settings)
    teams = {}
    for email, name, role, team_name in DEMO_STAFF:
        if await db.scalar(select(StaffUser).where(StaffUser.email == email)) is not None:
            continue
        if team_name and team_name not in teams:
            teams[team_name] = await repository.team_by_name(db, team_name) or (
                await users.create_team(db, actor=SYSTEM, name=team_name)
            )
        await users.create_user(
            db,
            settings,
            actor=SYSTEM,
            email=email,
            name=name,
            role=role,
            team_id=teams[team_name].id if team_name else None,
            password=password,
            is_demo=True,
        )
    await db.flush()
    summary = await seed_shop(db, settings, customers=customers) if shop else None
    return DemoResult(created=True, password=password, shop=summary)
