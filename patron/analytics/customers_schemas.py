"""What the customer, cohort and staff reports answer (amounts and shares as decimal strings)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from pydantic import Field

from patron.analytics.period import ReportPeriod
from patron.kit.schemas import Schema


class PeriodOut(Schema):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    grain: str
    channel: str | None

    @classmethod
    def of(cls, period: ReportPeriod) -> PeriodOut:
        return cls(start=period.start, end=period.end, grain=period.grain, channel=period.channel)


class CountFigure(Schema):
    value: int
    previous: int | None = Field(description="The same figure for the previous period")
    change: Decimal | None = Field(
        description="Relative change from the previous period (0.25 = +25 %); null when the "
        "previous figure is zero or unknown"
    )


class AmountFigure(Schema):
    value: Decimal
    previous: Decimal | None
    change: Decimal | None


class CustomersHeadline(Schema):
    customers_ordered: CountFigure = Field(description="Customers with an order in the period")
    new_customers: CountFigure = Field(description="Customers whose first order is in the period")
    returning_customers: CountFigure = Field(
        description="Customers who ordered in the period and had ordered before it"
    )
    orders: CountFigure
    repeat_purchase_rate: AmountFigure = Field(
        description="Share of the customers who ordered in the period with two or more orders "
        "by its end"
    )
    lifetime_value: AmountFigure = Field(
        description="Average net spent per customer (orders up to the end of the period, less "
        "refunds, in the shop currency)"
    )
    signups: CountFigure = Field(description="Customers created in the period")
    churned_share: AmountFigure = Field(
        description="Share of the customers who ever ordered who are now in the churned stage "
        "(today's stages, so no previous figure)"
    )


class CustomersBucket(Schema):
    bucket: date
    new_customers: int
    returning_customers: int
    orders: int
    signups: int


class CohortValue(Schema):
    cohort: date = Field(description="The bucket of the cohort's first orders")
    customers: int
    net_spent: Decimal
    lifetime_value: Decimal


class CustomersReport(Schema):
    period: PeriodOut
    previous_period: PeriodOut
    currency: str
    headline: CustomersHeadline
    buckets: list[CustomersBucket]
    lifetime_value_by_cohort: list[CohortValue]
    churned_customers: int
    customers_ever_ordered: int


class CohortRow(Schema):
    cohort: date = Field(description="The first day of the month of the cohort's first orders")
    customers: int
    retention: list[Decimal] = Field(
        description="Share of the cohort who ordered in month +1, +2, ... (months that have "
        "ended; at most 12)"
    )
    returned: list[int] = Field(description="How many of the cohort ordered in each month")


class CohortsReport(Schema):
    period: PeriodOut
    months: int = Field(description="The longest retention row")
    cohorts: list[CohortRow]


class StaffMeasureOut(Schema):
    key: str
    label: str
    kind: str


class StaffRow(Schema):
    user_id: uuid.UUID
    name: str
    email: str
    team: str | None
    is_active: bool
    figures: dict[str, int | Decimal]


class StaffReport(Schema):
    period: PeriodOut
    currency: str
    measures: list[StaffMeasureOut]
    rows: list[StaffRow]
