"""Writing a batch of validated customer records with set-based SQL.

The batch is copied into a temporary stage table, then a handful of statements insert or
update the customers (``ON CONFLICT`` on the live-email unique index, or a join on the
channel's external IDs), their external IDs, addresses, consents with their history, and
metrics rows. Every statement is idempotent for a batch already written, so replaying the
last batch after a crash changes nothing twice.

An update never blanks data: an empty cell keeps the stored value; tags and custom fields are
added to what the customer has.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import uuid_utils
from sqlalchemy import Uuid, select, table, text
from sqlalchemy import column as sql_column
from sqlalchemy.ext.asyncio import AsyncSession

from patron.imports.rows import CustomerRecord
from patron.segments.changes import mark_selected_customers_changed

STAGE = "import_stage_customer"
_STAGE_COLUMNS = (
    "row_no",
    "new_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "birthday",
    "locale",
    "country",
    "tags",
    "source",
    "lifecycle_stage",
    "lifecycle_locked",
    "custom_fields",
    "external_id",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_id",
    "email_event_id",
    "sms_event_id",
    "timeline_id",
)
_CREATE_STAGE = f"""
    CREATE TEMP TABLE {STAGE} (
        row_no integer NOT NULL,
        new_id uuid NOT NULL,
        email citext,
        first_name text NOT NULL,
        last_name text NOT NULL,
        phone text,
        company text,
        birthday date,
        locale text,
        country text,
        tags text[] NOT NULL,
        source text NOT NULL,
        lifecycle_stage text NOT NULL,
        lifecycle_locked boolean NOT NULL,
        custom_fields jsonb NOT NULL,
        external_id text,
        line1 text,
        line2 text,
        city text,
        region text,
        postal_code text,
        email_consent text,
        email_consent_at timestamptz,
        sms_consent text,
        sms_consent_id uuid,
        email_event_id uuid,
        sms_event_id uuid,
        timeline_id uuid NOT NULL,
        customer_id uuid,
        inserted boolean NOT NULL DEFAULT false,
        matched boolean NOT NULL DEFAULT false,
        other_email boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP
"""

# new values ({new}) over stored ones ({old}), for the mapped fields only
_SET = {
    "first_name": "first_name = CASE WHEN {new}.first_name <> '' THEN {new}.first_name "
    "ELSE {old}.first_name END",
    "last_name": "last_name = CASE WHEN {new}.last_name <> '' THEN {new}.last_name "
    "ELSE {old}.last_name END",
    "phone": "phone = coalesce({new}.phone, {old}.phone)",
    "company": "company = coalesce({new}.company, {old}.company)",
    "birthday": "birthday = coalesce({new}.birthday, {old}.birthday)",
    "locale": "locale = coalesce({new}.locale, {old}.locale)",
    "country": "country = coalesce({new}.country, {old}.country)",
    "tags": "tags = {old}.tags || ARRAY(SELECT t FROM unnest({new}.tags) t "
    "WHERE t <> ALL({old}.tags))",
    "lifecycle_stage": "lifecycle_stage = CASE WHEN {new}.lifecycle_locked "
    "THEN {new}.lifecycle_stage ELSE {old}.lifecycle_stage END, "
    "lifecycle_locked = {old}.lifecycle_locked OR {new}.lifecycle_locked",
    "custom": "custom_fields = {old}.custom_fields || {new}.custom_fields",
}
_FIELD_SETS = {
    "first_name": ("first_name",),
    "last_name": ("last_name",),
    "full_name": ("first_name", "last_name"),
    "phone": ("phone",),
    "company": ("company",),
    "birthday": ("birthday",),
    "locale": ("locale",),
    "country": ("country",),
    "address_line1": ("country",),
    "tags": ("tags",),
    "lifecycle_stage": ("lifecycle_stage",),
}


def set_clause(mapped: set[str], *, new: str, old: str) -> str:
    keys: list[str] = []
    for name in sorted(mapped):
        targets = ("custom",) if name.startswith("custom.") else _FIELD_SETS.get(name, ())
        keys.extend(k for k in targets if k not in keys)
    parts = [_SET[k].format(new=new, old=old) for k in keys]
    return ", ".join([*parts, "updated_at = now()"])


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    updated: int


def _new_id() -> str:
    return str(uuid_utils.uuid7())


# COPY's text format, written by hand: psycopg's ``write_row`` adapts each of the 28 values
# through its dumpers (the tags list and the JSON in Python): ~45 µs a row, three times this
_NULL = "\\N"


def _escaped(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t")
        return value.replace("\n", "\\n").replace("\r", "\\r")
    return value


def _cell(value: str | None) -> str:
    return _NULL if value is None else _escaped(value)


def _array(values: list[str]) -> str:
    """A text[] literal: every element quoted, so commas, braces and NULL stay text."""
    if not values:
        return "{}"
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return _escaped("{" + ",".join(quoted) + "}")


def _stage_line(record: CustomerRecord, default_source: str) -> str:
    """One line of the stage table's COPY data (columns in ``_STAGE_COLUMNS`` order)."""
    birthday, consent_at = record.birthday, record.email_consent_at
    sms = record.sms_consent
    return "\t".join(
        (
            str(record.row),
            _new_id(),
            _cell(record.email),
            _cell(record.first_name),
            _cell(record.last_name),
            _cell(record.phone),
            _cell(record.company),
            _NULL if birthday is None else birthday.isoformat(),
            _cell(record.locale),
            _cell(record.country),
            _array(record.tags),
            _cell(record.source or default_source),
            _cell(record.lifecycle_stage or "lead"),
            "f" if record.lifecycle_stage is None else "t",
            _cell(json.dumps(record.custom_fields)) if record.custom_fields else "{}",
            _cell(record.external_id),
            _cell(record.line1),
            _cell(record.line2),
            _cell(record.city),
            _cell(record.region),
            _cell(record.postal_code),
            _cell(record.email_consent),
            _NULL if consent_at is None else consent_at.isoformat(),
            _cell(sms),
            _new_id() if sms else _NULL,
            _new_id() if record.email_consent else _NULL,
            _new_id() if sms else _NULL,
            _new_id(),
        )
    )


async def _copy_stage(
    db: AsyncSession, records: Sequence[CustomerRecord], default_source: str
) -> None:
    await db.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    await db.execute(text(_CREATE_STAGE))
    connection = await db.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    data = "".join(_stage_line(record, default_source) + "\n" for record in records)
    async with driver.cursor() as cursor:
        columns = ", ".join(_STAGE_COLUMNS)
        async with cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
            await copy.write(data)


_MATCH_EXTERNAL = text(
    f"""
    UPDATE {STAGE} s SET customer_id = o.customer_id, matched = true
    FROM {STAGE} t CROSS JOIN LATERAL (
        SELECT coalesce(c.merged_into_id, c.id) AS customer_id
        FROM customer_external_id x JOIN customer c ON c.id = x.customer_id
        WHERE x.channel_id = :channel_id AND x.external_id = t.external_id
        LIMIT 1
    ) o
    WHERE t.external_id IS NOT NULL AND s.row_no = t.row_no
    """  # noqa: S608 (constant table name)
)

# an address a customer has as one of their other emails (and no live customer has as
# their own) finds that customer; the oldest such link wins (a shop without other emails
# skips the lookups)
_MATCH_OTHER_EMAIL = text(
    f"""
    UPDATE {STAGE} s SET customer_id = o.customer_id, matched = true, other_email = true
    FROM {STAGE} t CROSS JOIN LATERAL (
        SELECT coalesce(c.merged_into_id, c.id) AS customer_id
        FROM customer_email e JOIN customer c ON c.id = e.customer_id
        WHERE e.email = t.email AND NOT EXISTS (
            SELECT 1 FROM customer p WHERE p.email = e.email AND p.merged_into_id IS NULL)
        ORDER BY e.created_at, e.id
        LIMIT 1
    ) o
    WHERE NOT t.matched AND t.email IS NOT NULL AND s.row_no = t.row_no
        AND EXISTS (SELECT 1 FROM customer_email)
    """  # noqa: S608 (constant table name)
)

# The customers this batch will update, locked in id order before any is written: a bulk
# action and an order change lock theirs in that order too (staff_rollups.LOCK_OWNERS), so an
# import meeting either on the same customers queues behind it instead of deadlocking, which
# it could while its updates locked them in the file's order.
_LOCK_EXISTING = text(
    f"""
    SELECT c.id FROM customer c
    WHERE c.id IN (
        SELECT customer_id FROM {STAGE} WHERE matched
        UNION ALL
        SELECT e.id FROM {STAGE} s JOIN customer e
            ON e.email = s.email AND e.merged_into_id IS NULL
        WHERE NOT s.matched AND s.email IS NOT NULL)
    ORDER BY c.id
    FOR NO KEY UPDATE OF c
    """  # noqa: S608 (constant table name)
)

_UPDATE_MATCHED = f"""
    UPDATE customer c SET {{sets}},
        email = CASE WHEN s.email IS NULL OR s.other_email OR EXISTS (
                    SELECT 1 FROM customer o
                    WHERE o.email = s.email AND o.merged_into_id IS NULL AND o.id <> c.id)
                THEN c.email ELSE s.email END
    FROM {STAGE} s WHERE s.matched AND c.id = s.customer_id
"""  # noqa: S608 (constant fragments)

_UPSERT = f"""
    WITH up AS (
        INSERT INTO customer AS customer (
            id, email, first_name, last_name, phone, company, birthday, locale, country, tags,
            source, lifecycle_stage, lifecycle_locked, custom_fields, created_at, updated_at)
        SELECT new_id, email, first_name, last_name, phone, company, birthday, locale, country,
            tags, source, lifecycle_stage, lifecycle_locked, custom_fields, now(), now()
        FROM {STAGE} WHERE NOT matched
        ORDER BY row_no
        ON CONFLICT (email) WHERE merged_into_id IS NULL AND email IS NOT NULL
        DO UPDATE SET {{sets}}
        RETURNING id, lower(coalesce(email::text, id::text)) AS match_key, (xmax = 0) AS inserted
    )
    UPDATE {STAGE} s SET customer_id = up.id, inserted = up.inserted
    FROM up WHERE NOT s.matched
        AND lower(coalesce(s.email::text, s.new_id::text)) = up.match_key
"""  # noqa: S608 (constant fragments)

_EXTERNAL_IDS = text(
    f"""
    INSERT INTO customer_external_id (id, customer_id, channel_id, external_id, created_at)
    SELECT new_id, customer_id, :channel_id, external_id, now() FROM {STAGE}
    WHERE external_id IS NOT NULL AND (NOT matched OR other_email)
    ON CONFLICT (channel_id, external_id) DO NOTHING
    """  # noqa: S608
)

# The stored addresses, consents and other emails of the batch's customers are looked up one
# customer at a time, by customer_id only (a LATERAL subquery with LIMIT or an aggregate keeps
# the planner from joining whole tables, which made every batch of a large import read all
# the rows the earlier batches wrote), and not at all for the customers this batch created.
_ADDRESSES = text(
    f"""
    INSERT INTO customer_address (
        id, customer_id, first_name, last_name, company, line1, line2, city, region,
        postal_code, country, phone, is_default_billing, is_default_shipping,
        created_at, updated_at)
    SELECT DISTINCT ON (s.customer_id)
        s.new_id, s.customer_id, s.first_name, s.last_name, coalesce(s.company, ''),
        s.line1, s.line2, s.city, s.region, s.postal_code, s.country, s.phone,
        d.billing IS NOT TRUE, d.shipping IS NOT TRUE, now(), now()
    FROM {STAGE} s
    LEFT JOIN LATERAL (
        SELECT bool_or(a.is_default_billing) AS billing,
               bool_or(a.is_default_shipping) AS shipping,
               bool_or(lower(a.line1) = lower(s.line1) AND a.postal_code = s.postal_code
                       AND a.country = s.country) AS same
        FROM customer_address a WHERE NOT s.inserted AND a.customer_id = s.customer_id
    ) d ON true
    WHERE s.line1 IS NOT NULL AND s.country IS NOT NULL AND d.same IS NOT TRUE
    ORDER BY s.customer_id, s.row_no
    ON CONFLICT (id) DO NOTHING
    """  # noqa: S608
)

_CONSENT_EVENTS = """
    INSERT INTO consent_event (
        id, customer_id, channel, purpose, status, previous_status, occurred_at, source,
        actor_label)
    SELECT DISTINCT ON (s.customer_id)
        s.{channel}_event_id, s.customer_id, '{channel}', 'marketing', s.{column}, c.status,
        {occurred}, :source, :actor
    FROM {stage} s
    LEFT JOIN LATERAL (
        SELECT max(status) FILTER (WHERE channel = '{channel}' AND purpose = 'marketing')
            AS status
        FROM consent WHERE NOT s.inserted AND customer_id = s.customer_id
    ) c ON true
    WHERE s.{column} IS NOT NULL AND c.status IS DISTINCT FROM s.{column}
    ORDER BY s.customer_id, s.row_no
"""

_CONSENTS = """
    INSERT INTO consent AS consent (
        id, customer_id, channel, purpose, status, changed_at, source)
    SELECT DISTINCT ON (s.customer_id)
        s.{consent_id}, s.customer_id, '{channel}', 'marketing', s.{column}, {occurred}, :source
    FROM {stage} s WHERE s.{column} IS NOT NULL
    ORDER BY s.customer_id, s.row_no
    ON CONFLICT (customer_id, channel, purpose) DO UPDATE
        SET status = EXCLUDED.status, changed_at = EXCLUDED.changed_at, source = EXCLUDED.source
        WHERE consent.status <> EXCLUDED.status
"""

_METRICS = text(
    f"""
    INSERT INTO customer_metrics (customer_id, updated_at)
    SELECT customer_id, now() FROM {STAGE} WHERE inserted
    ON CONFLICT (customer_id) DO NOTHING
    """  # noqa: S608
)

_TIMELINE = text(
    f"""
    INSERT INTO timeline_entry (
        id, customer_id, kind, occurred_at, actor_type, actor_id, actor_label, summary, data,
        pinned, created_at)
    SELECT DISTINCT ON (s.customer_id)
        s.timeline_id, s.customer_id, 'import', now(), :actor_type, :actor_id, :actor,
        :summary, CAST(:data AS jsonb), false, now()
    FROM {STAGE} s WHERE NOT s.inserted AND s.customer_id IS NOT NULL
    ORDER BY s.customer_id, s.row_no
    """  # noqa: S608
)

_COUNTS = text(
    f"""
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
    FROM {STAGE} WHERE customer_id IS NOT NULL
    """  # noqa: S608
)
_WRITTEN = select(sql_column("customer_id", Uuid)).select_from(table(STAGE))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Target:
    """Where and how a batch is written."""

    match_on: str
    channel_id: uuid.UUID
    mapped: set[str]
    source: str  # consent source and the default customer source
    actor_type: str
    actor_id: uuid.UUID | None
    actor_label: str
    import_id: uuid.UUID
    filename: str
    consents: tuple[str, ...]  # consent channels the file carries ("email", "sms")


async def write(db: AsyncSession, target: Target, records: Sequence[CustomerRecord]) -> WriteResult:
    """Insert or update these customers (unique by key within the batch)."""
    if not records:
        return WriteResult(0, 0)
    await _copy_stage(db, records, target.source)
    matched = 0
    if target.match_on == "external_id":
        found = await db.execute(_MATCH_EXTERNAL, {"channel_id": target.channel_id})
        matched += _rowcount(found)
    matched += _rowcount(await db.execute(_MATCH_OTHER_EMAIL))
    await db.execute(_LOCK_EXISTING)
    if matched:
        sets = set_clause(target.mapped, new="s", old="c")
        await db.execute(text(_UPDATE_MATCHED.format(sets=sets)))
    sets = set_clause(target.mapped, new="EXCLUDED", old="customer")
    await db.execute(text(_UPSERT.format(sets=sets)))
    await db.execute(_EXTERNAL_IDS, {"channel_id": target.channel_id})
    await db.execute(_ADDRESSES)
    actor = target.actor_label or "import"
    for channel, column, at, consent_id in (
        ("email", "email_consent", "coalesce(s.email_consent_at, now())", "new_id"),
        ("sms", "sms_consent", "now()", "sms_consent_id"),
    ):
        if channel not in target.consents:
            continue
        params = {"source": target.source[:100], "actor": actor}
        fragment = {
            "channel": channel,
            "column": column,
            "occurred": at,
            "stage": STAGE,
            "consent_id": consent_id,
        }
        await db.execute(text(_CONSENT_EVENTS.format(**fragment)), params)
        await db.execute(text(_CONSENTS.format(**fragment)), {"source": target.source[:100]})
    await db.execute(_METRICS)
    row = (await db.execute(_COUNTS)).one()
    await mark_selected_customers_changed(db, _WRITTEN)
    inserted, updated = int(row[0]), int(row[1])
    if updated:
        await db.execute(
            _TIMELINE,
            {
                "actor_type": target.actor_type,
                "actor_id": target.actor_id,
                "actor": actor,
                "summary": f"Updated by the import of {target.filename}"[:500],
                "data": f'{{"import_id": "{target.import_id}"}}',
            },
        )
    return WriteResult(inserted, updated)
