"""JSON shapes of the sales and product reports (amounts as decimal strings)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from patron.analytics.period import ReportPeriod
from patron.analytics.sales.reports import Change, ChannelFigures, Figures, return_rate
from patron.analytics.sales.repository import (
    PairsWindow,
    ProductPair,
    ProductReturns,
    TopProduct,
)
from patron.kit.schemas import Schema


class PeriodOut(Schema):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    grain: Literal["day", "week", "month"]
    channel: str | None = None

    @classmethod
    def of(cls, period: ReportPeriod) -> PeriodOut:
        return cls(start=period.start, end=period.end, grain=period.grain, channel=period.channel)


class FiguresOut(Schema):
    orders: int
    gross_sales: Decimal = Field(description="Line prices times quantities, before discounts")
    discounts: Decimal
    shipping: Decimal
    tax: Decimal
    revenue: Decimal = Field(description="Order totals: gross − discounts + shipping + tax")
    refunds: Decimal = Field(description="Refunds processed in the period")
    net_revenue: Decimal = Field(description="revenue − refunds")
    units: int
    returns: int = Field(description="Returns requested in the period (rejected ones excluded)")
    returned_units: int
    average_order_value: Decimal = Field(description="revenue / orders; 0 without orders")

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(**figures.as_dict())


class ChangeOut(Schema):
    current: Decimal
    previous: Decimal
    absolute: Decimal
    percent: Decimal | None = Field(description="null when the previous period had none")
    direction: Literal["up", "down", "flat"]

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            current=change.current,
            previous=change.previous,
            absolute=change.absolute,
            percent=change.percent,
            direction=change.direction,
        )


class BucketOut(FiguresOut):
    start: date = Field(description="First day of the day, week (Monday) or month")


class ChannelOut(FiguresOut):
    channel_id: uuid.UUID | None = Field(description="null for orders entered without a channel")
    name: str

    @classmethod
    def of_channel(cls, row: ChannelFigures) -> ChannelOut:
        return cls(channel_id=row.channel_id, name=row.name, **row.figures.as_dict())


class SalesReportOut(Schema):
    period: PeriodOut
    previous_period: PeriodOut
    currency: str = Field(description="Every amount is in this (the shop's) currency")
    totals: FiguresOut
    previous_totals: FiguresOut
    changes: dict[str, ChangeOut]
    buckets: list[BucketOut]
    channels: list[ChannelOut]


class TopProductOut(Schema):
    product_id: uuid.UUID | None
    title: str
    units: int
    revenue: Decimal
    orders: int

    @classmethod
    def of(cls, row: TopProduct) -> TopProductOut:
        return cls.model_validate(row)


class ProductReturnsOut(Schema):
    product_id: uuid.UUID | None
    title: str
    sold: int
    returned: int
    return_rate: Decimal = Field(description="Returned units per 100 sold")

    @classmethod
    def of(cls, row: ProductReturns) -> ProductReturnsOut:
        return cls(
            product_id=row.product_id,
            title=row.title,
            sold=row.sold,
            returned=row.returned,
            return_rate=return_rate(row),
        )


class ProductPairOut(Schema):
    first_product_id: uuid.UUID
    first_title: str
    second_product_id: uuid.UUID
    second_title: str
    orders: int = Field(description="Orders with both products (of the period, or of pairs_window)")

    @classmethod
    def of(cls, row: ProductPair) -> ProductPairOut:
        return cls(
            first_product_id=row.first_id,
            first_title=row.first_title,
            second_product_id=row.second_id,
            second_title=row.second_title,
            orders=row.orders,
        )


class PairsWindowOut(Schema):
    """Where precomputed pairs come from: the orders of these days, counted at that time."""

    computed: bool = Field(description="False until the nightly job first counts the pairs")
    start: date | None
    end: date | None
    computed_at: datetime | None

    @classmethod
    def of(cls, window: PairsWindow | None) -> PairsWindowOut:
        if window is None:
            return cls(computed=False, start=None, end=None, computed_at=None)
        return cls(
            computed=True, start=window.first, end=window.last, computed_at=window.computed_at
        )


class ProductsReportOut(Schema):
    period: PeriodOut
    currency: str
    top: list[TopProductOut]
    returns: list[ProductReturnsOut]
    pairs: list[ProductPairOut]
    pairs_window: PairsWindowOut | None = Field(
        None,
        description="Set when the period has too many orders to pair live: the pairs are then"
        " the nightly precomputed ones of these days (every channel, or the channel asked for)",
    )
