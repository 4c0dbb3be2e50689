"""The canonical text of a tree: parsing it gives the same tree back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from patron.models.customers import CONSENT_STATUSES
from patron.segments.ast import (
    Ago,
    AllOf,
    AnyOf,
    Bought,
    Compare,
    ConsentIs,
    Did,
    HasTag,
    InSegment,
    IsSet,
    Node,
    Not,
    Period,
    TimesOp,
    Value,
    Within,
)

DATE_WORDS = {"<": "before", ">": "after", "=": "on"}


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def render_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat()


def render_period(period: Period) -> str:
    unit = period.unit[:-1] if period.amount == 1 else period.unit
    return f"{period.amount} {unit}"


def render_times(op: TimesOp, times: int) -> str:
    if op == ">=" and times == 1:
        return ""
    word = "least" if op == ">=" else "most"
    return f" at {word} {times} {'time' if times == 1 else 'times'}"


def _compare(node: Compare) -> str:
    if isinstance(node.value, date) and node.op in DATE_WORDS:
        return f"{node.field} {DATE_WORDS[node.op]} {render_value(node.value)}"
    op = "starts with" if node.op == "starts_with" else node.op
    return f"{node.field} {op} {render_value(node.value)}"


def _group(node: Node, parent: type[AllOf] | type[AnyOf]) -> str:
    text = to_text(node)
    # an inner group of the same kind, or an "or" inside an "and", needs its parentheses
    if isinstance(node, AllOf | AnyOf) and (isinstance(node, parent) or parent is AllOf):
        return f"({text})"
    return text


def to_text(node: Node) -> str:
    if isinstance(node, AllOf):
        return " and ".join(_group(item, AllOf) for item in node.items)
    if isinstance(node, AnyOf):
        return " or ".join(_group(item, AnyOf) for item in node.items)
    if isinstance(node, Not):
        inner = to_text(node.item)
        return f"not ({inner})" if isinstance(node.item, AllOf | AnyOf) else f"not {inner}"
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, IsSet):
        return f"{node.field} is {'not ' if node.negated else ''}set"
    if isinstance(node, Within):
        return f"{node.field} within {render_period(node.period)}"
    if isinstance(node, Ago):
        return f"{node.field} more than {render_period(node.period)} ago"
    if isinstance(node, HasTag):
        return f"has tag {quote(node.tag)}"
    if isinstance(node, ConsentIs):
        status = node.status if node.status in CONSENT_STATUSES else quote(node.status)
        return f"{node.channel} consent {node.op} {status}"
    if isinstance(node, Bought):
        target = (
            "anything" if node.kind == "anything" else f"{node.kind} {quote(node.target or '')}"
        )
        text = f"bought {target}{render_times(node.times_op, node.times)}"
        if node.within is not None:
            text += f" within {render_period(node.within)}"
        if node.amount_over is not None:
            text += f" amount over {format(node.amount_over, 'f')}"
        return text
    if isinstance(node, Did):
        text = f"did {quote(node.event)}{render_times(node.times_op, node.times)}"
        if node.within is not None:
            text += f" within {render_period(node.within)}"
        if node.where:
            filters = ", ".join(f"{f.name} {f.op} {render_value(f.value)}" for f in node.where)
            text += f" where {filters}"
        return text
    assert isinstance(node, InSegment)
    return f"in segment {quote(node.name)}"
