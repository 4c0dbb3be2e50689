"""The typed syntax tree of a segment expression, and its JSON form for the visual builder.

Nodes are frozen dataclasses and compare by value (positions are kept for error messages
but never compared), so ``parse(to_text(node)) == node`` can be checked directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from patron.segments.errors import SegmentSyntaxError

Value = str | Decimal | date | bool
Unit = Literal["days", "weeks", "months", "years"]
TimesOp = Literal[">=", "<="]
ItemKind = Literal["anything", "product", "variant", "category"]

COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=", "contains", "starts_with")
UNITS: tuple[Unit, ...] = ("days", "weeks", "months", "years")
ITEM_KINDS: tuple[ItemKind, ...] = ("anything", "product", "variant", "category")
TIMES_OPS: tuple[TimesOp, ...] = (">=", "<=")


def _position() -> Any:
    return dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Period:
    amount: int
    unit: Unit


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Value
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class IsSet:
    field: str
    negated: bool = False
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class Within:
    """The date lies in the last ``period`` (``last_order within 90 days``)."""

    field: str
    period: Period
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class Ago:
    """The date lies before the last ``period`` (``last_order more than 90 days ago``)."""

    field: str
    period: Period
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class HasTag:
    tag: str


@dataclass(frozen=True)
class ConsentIs:
    channel: str
    op: str
    status: str
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class Bought:
    kind: ItemKind
    target: str | None = None
    times_op: TimesOp = ">="
    times: int = 1
    within: Period | None = None
    amount_over: Decimal | None = None


@dataclass(frozen=True)
class PropertyFilter:
    name: str
    op: str
    value: Value
    pos: tuple[int, int] | None = _position()


@dataclass(frozen=True)
class Did:
    event: str
    times_op: TimesOp = ">="
    times: int = 1
    within: Period | None = None
    where: tuple[PropertyFilter, ...] = ()


@dataclass(frozen=True)
class InSegment:
    name: str
    pos: tuple[int, int] | None = _position()


Node = (
    AllOf
    | AnyOf
    | Not
    | Compare
    | IsSet
    | Within
    | Ago
    | HasTag
    | ConsentIs
    | Bought
    | Did
    | InSegment
)


# -- JSON -------------------------------------------------------------------------------------


def value_to_json(value: Value) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, Decimal):
        return {"number": format(value, "f")}
    return {"date": value.isoformat()}


def _period_json(period: Period | None) -> dict[str, Any] | None:
    return None if period is None else {"amount": period.amount, "unit": period.unit}


def to_json(node: Node) -> dict[str, Any]:
    """A plain-JSON form of the tree: every node is an object with a ``type``."""
    if isinstance(node, AllOf | AnyOf):
        kind = "and" if isinstance(node, AllOf) else "or"
        return {"type": kind, "items": [to_json(item) for item in node.items]}
    if isinstance(node, Not):
        return {"type": "not", "item": to_json(node.item)}
    if isinstance(node, Compare):
        value = value_to_json(node.value)
        return {"type": "compare", "field": node.field, "op": node.op, "value": value}
    if isinstance(node, IsSet):
        return {"type": "is_set", "field": node.field, "negated": node.negated}
    if isinstance(node, Within | Ago):
        kind = "within" if isinstance(node, Within) else "ago"
        return {"type": kind, "field": node.field, "period": _period_json(node.period)}
    if isinstance(node, HasTag):
        return {"type": "has_tag", "tag": node.tag}
    if isinstance(node, ConsentIs):
        return {"type": "consent", "channel": node.channel, "op": node.op, "status": node.status}
    if isinstance(node, Bought):
        return {
            "type": "bought",
            "kind": node.kind,
            "target": node.target,
            "times_op": node.times_op,
            "times": node.times,
            "within": _period_json(node.within),
            "amount_over": None if node.amount_over is None else format(node.amount_over, "f"),
        }
    if isinstance(node, Did):
        return {
            "type": "did",
            "event": node.event,
            "times_op": node.times_op,
            "times": node.times,
            "within": _period_json(node.within),
            "where": [
                {"name": f.name, "op": f.op, "value": value_to_json(f.value)} for f in node.where
            ],
        }
    return {"type": "in_segment", "name": node.name}


class _Reader:
    """Reads one JSON object, turning any shape error into a ``segment_syntax`` error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise SegmentSyntaxError(f"{where}: expected an object.")
        self.data = data
        self.where = where

    def fail(self, message: str) -> SegmentSyntaxError:
        return SegmentSyntaxError(f"{self.where}: {message}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self.fail(f"'{key}' must be a string.")
        return value

    def integer(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"'{key}' must be a whole number.")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> Any:
        value = self.text(key)
        if value not in options:
            raise self.fail(f"'{key}' must be one of {', '.join(options)}.")
        return value

    def period(self, key: str, *, required: bool = False) -> Period | None:
        raw = self.data.get(key)
        if raw is None and not required:
            return None
        reader = _Reader(raw, f"{self.where}.{key}")
        return Period(reader.integer("amount"), reader.choice("unit", UNITS))

    def number(self, key: str) -> Decimal | None:
        raw = self.data.get(key)
        return None if raw is None else _decimal(raw, self.fail)

    def value(self, key: str) -> Value:
        raw = self.data.get(key)
        if isinstance(raw, bool | str):
            return raw
        if isinstance(raw, int | float):
            return _decimal(raw, self.fail)
        if isinstance(raw, dict) and set(raw) == {"number"}:
            return _decimal(raw["number"], self.fail)
        if isinstance(raw, dict) and set(raw) == {"date"} and isinstance(raw["date"], str):
            try:
                return date.fromisoformat(raw["date"])
            except ValueError:
                raise self.fail("not a date (YYYY-MM-DD).") from None
        raise self.fail(f"'{key}' must be a string, a boolean, {{number}} or {{date}}.")


def _decimal(raw: Any, fail: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise fail("not a number.")
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        raise fail("not a number.") from None
    if not number.is_finite():
        raise fail("not a finite number.")
    return number


def from_json(data: Any, where: str = "ast") -> Node:
    """The tree from its JSON form (limits are checked by :func:`check_limits`)."""
    reader = _Reader(data, where)
    kind = reader.text("type")
    if kind in ("and", "or"):
        raw_items = reader.data.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            raise reader.fail("'items' must be a non-empty list.")
        items = tuple(from_json(item, f"{where}.items[{i}]") for i, item in enumerate(raw_items))
        if len(items) == 1:
            return items[0]
        return AllOf(items) if kind == "and" else AnyOf(items)
    if kind == "not":
        return Not(from_json(reader.data.get("item"), f"{where}.item"))
    if kind == "compare":
        op = reader.choice("op", COMPARE_OPS)
        return Compare(reader.text("field"), op, reader.value("value"))
    if kind == "is_set":
        return IsSet(reader.text("field"), bool(reader.data.get("negated", False)))
    if kind in ("within", "ago"):
        period = reader.period("period", required=True)
        assert period is not None
        node_type = Within if kind == "within" else Ago
        return node_type(reader.text("field"), period)
    if kind == "has_tag":
        return HasTag(reader.text("tag"))
    if kind == "consent":
        op = reader.choice("op", ("=", "!="))
        return ConsentIs(reader.text("channel"), op, reader.text("status"))
    if kind == "bought":
        item_kind = reader.choice("kind", ITEM_KINDS)
        target = None if item_kind == "anything" else reader.text("target")
        return Bought(
            item_kind,
            target,
            reader.choice("times_op", (">=", "<=")),
            reader.integer("times"),
            reader.period("within"),
            reader.number("amount_over"),
        )
    if kind == "did":
        raw_where = reader.data.get("where") or []
        if not isinstance(raw_where, list):
            raise reader.fail("'where' must be a list.")
        filters = []
        for i, raw in enumerate(raw_where):
            item = _Reader(raw, f"{where}.where[{i}]")
            op = item.choice("op", COMPARE_OPS[:6])
            filters.append(PropertyFilter(item.text("name"), op, item.value("value")))
        return Did(
            reader.text("event"),
            reader.choice("times_op", (">=", "<=")),
            reader.integer("times"),
            reader.period("within"),
            tuple(filters),
        )
    if kind == "in_segment":
        return InSegment(reader.text("name"))
    raise reader.fail(f"unknown node type '{kind}'.")
