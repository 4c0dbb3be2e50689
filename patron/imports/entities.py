"""What the runner needs per entity: validate a row, its unique keys, count existing rows
(dry run), write a batch and finish. :func:`handler_for` builds the one a job needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM, Actor
from patron.config import Settings
from patron.imports import customers, repository, rows
from patron.imports.fields import CUSTOM_FIELD_ENTITY, PRESETS
from patron.kit.ids import new_id
from patron.models import Channel, ImportJob


@dataclass(frozen=True)
class Written:
    inserted: int
    updated: int
    errors: list[rows.RowError] = field(default_factory=list)  # rows refused while writing


class Handler(Protocol):
    def validate(self, number: int, row: list[str]) -> Any: ...

    def keys(self, record: Any) -> list[tuple[str, str]]: ...

    def header_of(self, field: str) -> str: ...

    async def count_existing(self, db: AsyncSession, records: Sequence[Any]) -> int: ...

    async def write(self, db: AsyncSession, records: Sequence[Any]) -> Written: ...

    async def finish(self, db: AsyncSession) -> None: ...


class BaseHandler:
    def __init__(self, context: rows.Context) -> None:
        self.context = context
        self.headers = {target: header for _, header, target in context.columns}

    def header_of(self, field: str) -> str:
        return self.headers.get(field, field)

    async def finish(self, db: AsyncSession) -> None:
        return None


class CustomerHandler(BaseHandler):
    def __init__(
        self, context: rows.Context, target: customers.Target | None, channel_id: Any
    ) -> None:
        super().__init__(context)
        self.target = target
        self.channel_id = channel_id

    def validate(self, number: int, row: list[str]) -> rows.CustomerRecord:
        return rows.customer(self.context, number, row)

    def keys(self, record: rows.CustomerRecord) -> list[tuple[str, str]]:
        found = []
        if record.email:
            found.append(("email", record.email.lower()))
        if record.external_id:
            found.append(("external_id", record.external_id))
        return found

    async def count_existing(self, db: AsyncSession, records: Sequence[Any]) -> int:
        matched: set[int] = set()
        if self.context.match_on == "external_id":
            known = await repository.known_external_ids(
                db,
                self.channel_id,
                [r.external_id for r in records if r.external_id],
                table="customer_external_id",
            )
            matched = {r.row for r in records if r.external_id in known}
        emails = await repository.known_emails(
            db, [r.email for r in records if r.email and r.row not in matched]
        )
        return len(matched) + sum(
            1 for r in records if r.row not in matched and r.email and r.email.lower() in emails
        )

    async def write(self, db: AsyncSession, records: Sequence[Any]) -> Written:
        assert self.target is not None, "a dry run does not write"
        result = await customers.write(db, self.target, records)
        return Written(result.inserted, result.updated)


def context_for(job: ImportJob, custom: dict[str, Any]) -> rows.Context:
    options = job.options or {}
    preset = PRESETS.get(job.preset)
    return rows.Context(
        entity=job.entity,
        mapping=dict(job.mapping or {}),
        headers=list(job.headers),
        match_on=job.match_on,
        date_order=str(options.get("date_order") or "auto"),
        default_country=options.get("default_country") or None,
        consent_default=str(
            options.get("consent_default") or (preset.consent_default if preset else "")
        ),
        custom=custom,
    )


def channel_name(job: ImportJob) -> tuple[str, str]:
    preset = PRESETS.get(job.preset)
    name = (job.options or {}).get("channel") or (preset.channel if preset else "") or "Import"
    kind = preset.channel_kind if preset and name == preset.channel else "import"
    return str(name), kind


async def ensure_channel(db: AsyncSession, name: str, kind: str) -> Channel:
    channel = await repository.channel_named(db, name)
    if channel is None:
        channel = Channel(id=new_id(), name=name, kind=kind)
        db.add(channel)
        await db.flush()
    return channel


async def handler_for(
    db: AsyncSession, job: ImportJob, settings: Settings, *, actor: Actor | None = None
) -> Handler:
    """The job's handler; with an ``actor`` it can write (it may create the channel)."""
    custom = await repository.custom_definitions(db, CUSTOM_FIELD_ENTITY[job.entity])
    context = context_for(job, custom)
    name, kind = channel_name(job)
    channel = (
        await ensure_channel(db, name, kind)
        if actor is not None
        else await repository.channel_named(db, name)
    )
    channel_id = channel.id if channel else None
    if job.entity == "products":
        from patron.imports.products import ProductHandler

        return ProductHandler(context, channel_id, job)
    if job.entity == "orders":
        from patron.imports.orders import OrderHandler

        return OrderHandler(context, channel_id, job, settings)
    target = None
    if actor is not None:
        assert channel_id is not None
        mapped = context.mapped()
        consents = tuple(
            channel
            for channel in ("email", "sms")
            if f"{channel}_consent" in mapped or (channel == "email" and context.consent_default)
        )
        target = customers.Target(
            match_on=job.match_on,
            channel_id=channel_id,
            mapped=mapped,
            source=str((job.options or {}).get("source") or f"import: {job.filename}")[:100],
            actor_type=actor.type if actor is not SYSTEM else "system",
            actor_id=actor.id,
            actor_label=actor.label,
            import_id=job.id,
            filename=job.filename,
            consents=consents,
        )
    return CustomerHandler(context, target, channel_id)
