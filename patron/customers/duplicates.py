"""Finding likely duplicates: set-based SQL that fills the review queue.

Three signals, each a self-join the indexes answer: the same email (one customer's primary
address is another's secondary one), the same phone, and a similar name at the same
address. A pair already reviewed (dismissed or merged) is never proposed again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import Actor
from patron.auth.principal import Principal
from patron.customers.repository import visible_customers
from patron.errors import Conflict, NotFound
from patron.kit.ids import new_id
from patron.kit.pagination import PageParams, paginate
from patron.kit.time import utcnow
from patron.models import Customer, DuplicateCandidate

NAME_SIMILARITY = 0.5

MAX_NEW_PAIRS = 10_000  # per signal and scan; the next scan picks up the rest

_PAIRS = """
    SELECT least(a, b) AS first, greatest(a, b) AS second, min(reason) AS reason,
           max(score) AS score
    FROM ({pairs}) found
    WHERE a <> b AND NOT EXISTS (
        SELECT 1 FROM duplicate_candidate d
        WHERE d.customer_a_id = least(a, b) AND d.customer_b_id = greatest(a, b))
    GROUP BY 1, 2
    LIMIT :limit
"""

_SAME_EMAIL = """
    SELECT c.id AS a, e.customer_id AS b, 'same_email' AS reason, 1.0 AS score
    FROM customer_email e
    JOIN customer c ON c.email = e.email AND c.merged_into_id IS NULL
    JOIN customer o ON o.id = e.customer_id AND o.merged_into_id IS NULL
"""

_SAME_PHONE = """
    SELECT c.id AS a, o.id AS b, 'same_phone' AS reason, 0.9 AS score
    FROM customer c
    JOIN customer o ON o.phone = c.phone AND o.id > c.id AND o.merged_into_id IS NULL
    WHERE c.phone IS NOT NULL AND c.merged_into_id IS NULL
    UNION ALL
    SELECT c.id, p.customer_id, 'same_phone', 0.9
    FROM customer_phone p
    JOIN customer c ON c.phone = p.phone AND c.merged_into_id IS NULL
    JOIN customer o ON o.id = p.customer_id AND o.merged_into_id IS NULL
"""

_NAME_AND_ADDRESS = """
    SELECT x.customer_id AS a, y.customer_id AS b, 'similar_name_same_address' AS reason,
           round(similarity(c.search_name, o.search_name)::numeric, 2)::float AS score
    FROM customer_address x
    JOIN customer_address y
      ON y.country = x.country AND y.postal_code = x.postal_code
     AND y.customer_id > x.customer_id
     AND lower(regexp_replace(y.line1, '\\W', '', 'g'))
       = lower(regexp_replace(x.line1, '\\W', '', 'g'))
    JOIN customer c ON c.id = x.customer_id AND c.merged_into_id IS NULL
    JOIN customer o ON o.id = y.customer_id AND o.merged_into_id IS NULL
    WHERE x.postal_code <> '' AND similarity(c.search_name, o.search_name) >= :similarity
"""


async def find_duplicates(db: AsyncSession) -> int:
    """Add newly found pairs to the review queue; returns how many were added."""
    added = 0
    for pairs in (_SAME_EMAIL, _SAME_PHONE, _NAME_AND_ADDRESS):
        found = await db.execute(
            text(_PAIRS.format(pairs=pairs)),
            {"similarity": NAME_SIMILARITY, "limit": MAX_NEW_PAIRS},
        )
        rows = [
            {
                "id": new_id(),
                "customer_a_id": row.first,
                "customer_b_id": row.second,
                "reason": row.reason,
                "score": float(row.score),
            }
            for row in found
        ]
        if rows:
            inserted = await db.execute(
                insert(DuplicateCandidate)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["customer_a_id", "customer_b_id"])
                .returning(DuplicateCandidate.id)
            )
            added += len(inserted.all())
    return added


@dataclass(frozen=True)
class Pair:
    candidate: DuplicateCandidate
    first: Customer
    second: Customer


async def open_pairs(
    db: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[Pair], str | None]:
    """Open candidates whose two customers the principal may both see, best first."""
    visible = visible_customers(principal).with_only_columns(Customer.id).scalar_subquery()
    query = select(DuplicateCandidate).where(
        DuplicateCandidate.status == "open",
        DuplicateCandidate.customer_a_id.in_(visible),
        DuplicateCandidate.customer_b_id.in_(visible),
    )
    rows, cursor = await paginate(
        db, query, order=[DuplicateCandidate.score, DuplicateCandidate.id], params=params
    )
    ids = {c.customer_a_id for c in rows} | {c.customer_b_id for c in rows}
    customers = {c.id: c for c in await db.scalars(select(Customer).where(Customer.id.in_(ids)))}
    pairs = [Pair(c, customers[c.customer_a_id], customers[c.customer_b_id]) for c in rows]
    return pairs, cursor


async def candidate_for(
    db: AsyncSession, principal: Principal, candidate_id: uuid.UUID
) -> DuplicateCandidate:
    visible = visible_customers(principal).with_only_columns(Customer.id).scalar_subquery()
    candidate = await db.scalar(
        select(DuplicateCandidate).where(
            DuplicateCandidate.id == candidate_id,
            DuplicateCandidate.customer_a_id.in_(visible),
            DuplicateCandidate.customer_b_id.in_(visible),
        )
    )
    if candidate is None:
        raise NotFound("No such duplicate candidate.", code="candidate_not_found")
    return candidate


async def dismiss(
    db: AsyncSession, *, candidate: DuplicateCandidate, actor: Actor
) -> DuplicateCandidate:
    if candidate.status != "open":
        raise Conflict(f"This pair was already {candidate.status}.", code="already_reviewed")
    candidate.status = "dismissed"
    candidate.resolved_at = utcnow()
    candidate.resolved_by_id = actor.id
    await db.flush()
    return candidate
