"""The report tables as CSV rows (the panel's download links and the API share them)."""

from __future__ import annotations

from typing import Any

from patron.analytics.sales.reports import (
    Figures,
    ProductsReport,
    SalesReport,
    return_rate,
)

FIGURE_HEADERS = [
    "orders",
    "gross_sales",
    "discounts",
    "shipping",
    "tax",
    "revenue",
    "refunds",
    "net_revenue",
    "average_order_value",
    "units",
    "returns",
    "returned_units",
]

Table = tuple[list[str], list[list[Any]]]


def _figures(figures: Figures) -> list[Any]:
    values = figures.as_dict()
    return [values[name] for name in FIGURE_HEADERS]


def sales_csv(report: SalesReport, table: str) -> Table:
    if table == "channels":
        return (
            ["channel", "currency", *FIGURE_HEADERS],
            [[row.name, report.currency, *_figures(row.figures)] for row in report.channels],
        )
    return (
        [report.period.grain, "currency", *FIGURE_HEADERS],
        [
            [start.isoformat(), report.currency, *_figures(figures)]
            for start, figures in report.buckets
        ],
    )


def products_csv(report: ProductsReport, table: str) -> Table:
    if table == "returns":
        return (
            ["product_id", "product", "units_sold", "units_returned", "return_rate_percent"],
            [
                [row.product_id or "", row.title, row.sold, row.returned, return_rate(row)]
                for row in report.returns
            ],
        )
    if table == "pairs":
        return (
            ["first_product_id", "first_product", "second_product_id", "second_product", "orders"],
            [
                [row.first_id, row.first_title, row.second_id, row.second_title, row.orders]
                for row in report.pairs
            ],
        )
    return (
        ["product_id", "product", "units", "revenue", "currency", "orders"],
        [
            [row.product_id or "", row.title, row.units, row.revenue, report.currency, row.orders]
            for row in report.top
        ],
    )
