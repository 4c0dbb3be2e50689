"""Text to tree: the Lark grammar in ``grammar.lark``, the limits, and readable errors."""

from __future__ import annotations

import functools
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedInput, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError
from lark.lexer import PatternStr

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
    ItemKind,
    Node,
    Not,
    Period,
    PropertyFilter,
    TimesOp,
    Unit,
    Value,
    Within,
)
from patron.segments.errors import SegmentError, SegmentSyntaxError, TooComplex

MAX_LENGTH = 10_000
MAX_DEPTH = 50
MAX_CONDITIONS = 100
MAX_FILTERS = 10
MAX_TEXT = 500
MAX_TIMES = 1_000_000
MAX_NUMBER = Decimal("1e15")
MAX_DECIMALS = 4
MAX_PERIOD: dict[Unit, int] = {"days": 36_500, "weeks": 5_200, "months": 1_200, "years": 100}

DESCRIPTIONS = {
    "NAME": "a name",
    "CUSTOM_FIELD": "custom.<field>",
    "STRING": 'a quoted text ("...")',
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "BOOLEAN": "true or false",
    "COMPARE": "=, !=, <, <=, > or >=",
    "DATE_WORD": "before, after or on",
    "TEXT_WORD": "contains",
    "UNIT": "days, weeks, months or years",
    "ITEM_KIND": "product, variant or category",
    "LIMIT": "least or most",
    "TIMES": "times",
    "_OR": "or",
    "_AND": "and",
    "_NOT": "not",
    "NEGATED": "not",
    "$END": "the end of the expression",
}
ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


@functools.cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


def _describe(terminal: str) -> str:
    if terminal in DESCRIPTIONS:
        return DESCRIPTIONS[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    return f'"{pattern.value}"' if isinstance(pattern, PatternStr) else terminal.lower()


def _expected(terminals: set[str]) -> list[str]:
    return sorted({_describe(name) for name in terminals})


def _syntax_error(error: UnexpectedInput, text: str) -> SegmentSyntaxError:
    line, column = error.line, error.column
    if isinstance(error, UnexpectedCharacters):
        expected = _expected(set(error.allowed or ()))
        found = f"'{text[error.pos_in_stream]}'" if error.pos_in_stream is not None else "this"
    elif isinstance(error, UnexpectedToken):
        expected = _expected(set(error.expected))
        found = "end of the expression" if error.token.type == "$END" else f"'{error.token.value}'"
        if error.token.type == "$END":
            line, column = _end(text)
    else:
        assert isinstance(error, UnexpectedEOF)
        expected = _expected(set(error.expected))
        found = "end of the expression"
        line, column = _end(text)
    message = f"Line {line}, column {column}: unexpected {found}"
    if expected:
        message += "; expected " + _join(expected)
    return SegmentSyntaxError(message + ".", line=line, column=column, expected=expected)


def _end(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _check_nesting(text: str) -> None:
    """Refuse deep parentheses before parsing (the tree builder would recurse into them)."""
    depth, line, column, in_string, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if in_string:
            in_string = not (char == '"' and not escaped)
            escaped = char == "\\" and not escaped
        elif char == '"':
            in_string = True
        elif char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise TooComplex(
                    f"Line {line}, column {column}: parentheses nest deeper than {MAX_DEPTH}.",
                    line=line,
                    column=column,
                )
        elif char == ")":
            depth -= 1


def _at(token: Token) -> tuple[int, int]:
    return (token.line or 1, token.column or 1)


def _fail(token: Token, message: str, error: type[SegmentError] = SegmentSyntaxError) -> None:
    line, column = _at(token)
    raise error(f"Line {line}, column {column}: {message}", line=line, column=column)


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    if len(body) > MAX_TEXT * 2:
        _fail(token, f"a text longer than {MAX_TEXT} characters.", TooComplex)
    text = re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), body)
    if len(text) > MAX_TEXT:
        _fail(token, f"a text longer than {MAX_TEXT} characters.", TooComplex)
    return text


def _number(token: Token) -> Decimal:
    whole, _, decimals = str(token).lstrip("-").partition(".")
    if len(whole.lstrip("0")) > 15 or len(decimals) > MAX_DECIMALS:
        _fail(token, f"numbers may have at most 15 digits and {MAX_DECIMALS} decimals.", TooComplex)
    return Decimal(str(token))


def _whole(token: Token, limit: int) -> int:
    if not re.fullmatch(r"\d+", str(token)) or len(str(token)) > 9:
        _fail(token, "expected a whole number.")
    number = int(str(token))
    if number > limit:
        _fail(token, f"at most {limit} here.", TooComplex)
    return number


def _value(token: Token) -> Value:
    if token.type == "STRING":
        return _unquote(token)
    if token.type == "NUMBER":
        return _number(token)
    if token.type == "BOOLEAN":
        return str(token) == "true"
    if token.type == "DATE":
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            _fail(token, f"'{token}' is not a date.")
    return str(token)  # a bare word: lifecycle = vip


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    def start(self, node: Node) -> Node:
        return node

    def any_of(self, *items: Node) -> Node:
        return AnyOf(tuple(items))

    def all_of(self, *items: Node) -> Node:
        return AllOf(tuple(items))

    def negation(self, item: Node) -> Node:
        return Not(item)

    def field(self, token: Token) -> Token:
        return token

    def comparison(self, field: Token, op: Token, value: Token) -> Node:
        words = {"before": "<", "after": ">", "on": "=", "contains": "contains"}
        operator = words.get(str(op), str(op))
        return Compare(str(field), operator, _value(value), pos=_at(field))

    def starts_with(self, field: Token, value: Token) -> Node:
        return Compare(str(field), "starts_with", _value(value), pos=_at(field))

    def presence(self, field: Token, *negated: Token) -> Node:
        return IsSet(str(field), bool(negated), pos=_at(field))

    def period(self, amount: Token, unit: Token) -> Period:
        name = str(unit) if str(unit).endswith("s") else f"{unit}s"
        plural: Unit = name  # type: ignore[assignment]
        return Period(_whole(amount, MAX_PERIOD[plural]), plural)

    def within(self, field: Token, period: Period) -> Node:
        return Within(str(field), period, pos=_at(field))

    def ago(self, field: Token, period: Period) -> Node:
        return Ago(str(field), period, pos=_at(field))

    def has_tag(self, tag: Token) -> Node:
        return HasTag(_unquote(tag))

    def tag_compare(self, op: Token, tag: Token) -> Node:
        if str(op) not in ("=", "!="):
            _fail(op, "tags compare only with = or !=.")
        node = HasTag(_unquote(tag))
        return node if str(op) == "=" else Not(node)

    def consent(self, channel: Token, op: Token, status: Token) -> Node:
        if str(op) not in ("=", "!="):
            _fail(op, "consent compares only with = or !=.")
        value = _unquote(status) if status.type == "STRING" else str(status)
        return ConsentIs(str(channel), str(op), value, pos=_at(channel))

    def anything(self) -> tuple[ItemKind, str | None]:
        return ("anything", None)

    def item(self, kind: Token, target: Token) -> tuple[ItemKind, str | None]:
        item_kind: ItemKind = str(kind)  # type: ignore[assignment]
        return (item_kind, _unquote(target))

    def times(self, limit: Token, count: Token, _word: Token) -> tuple[str, Any]:
        op: TimesOp = ">=" if str(limit) == "least" else "<="
        return ("times", (op, _whole(count, MAX_TIMES)))

    def window(self, period: Period) -> tuple[str, Any]:
        return ("within", period)

    def amount(self, number: Token) -> tuple[str, Any]:
        return ("amount_over", _number(number))

    def where(self, *filters: PropertyFilter) -> tuple[str, Any]:
        if len(filters) > MAX_FILTERS:
            raise TooComplex(f"At most {MAX_FILTERS} property filters per event condition.")
        return ("where", tuple(filters))

    def property_filter(self, name: Token, op: Token, value: Token) -> PropertyFilter:
        return PropertyFilter(str(name), str(op), _value(value), pos=_at(name))

    def bought(self, target: tuple[ItemKind, str | None], *options: tuple[str, Any]) -> Node:
        found = _options(options, {"times", "within", "amount_over"})
        op, times = found.get("times", (">=", 1))
        return Bought(
            target[0], target[1], op, times, found.get("within"), found.get("amount_over")
        )

    def did(self, event: Token, *options: tuple[str, Any]) -> Node:
        found = _options(options, {"times", "within", "where"})
        op, times = found.get("times", (">=", 1))
        return Did(_unquote(event), op, times, found.get("within"), found.get("where", ()))

    def in_segment(self, name: Token) -> Node:
        return InSegment(_unquote(name), pos=_at(name))


def _options(options: tuple[tuple[str, Any], ...], allowed: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in options:
        if key not in allowed or key in found:
            words = {"times": "'at least/most'", "within": "'within'", "amount_over": "'amount'"}
            raise SegmentSyntaxError(f"{words.get(key, key)} may appear only once per condition.")
        found[key] = value
    return found


def parse(text: str) -> Node:
    """The tree of ``text``, or a :class:`SegmentError` saying where and what went wrong."""
    if len(text) > MAX_LENGTH:
        raise TooComplex(f"An expression may be at most {MAX_LENGTH} characters long.")
    if not text.strip():
        raise SegmentSyntaxError("The expression is empty.", line=1, column=1)
    _check_nesting(text)
    try:
        tree = _lark().parse(text)
        node = _ToTree().transform(tree)
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None
    except VisitError as error:
        if isinstance(error.orig_exc, SegmentError):
            raise error.orig_exc from None
        raise
    except RecursionError:
        raise TooComplex(f"The expression nests deeper than {MAX_DEPTH} levels.") from None
    check_limits(node)
    return node


def _walk(node: Node, depth: int, counts: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise TooComplex(f"The expression nests deeper than {MAX_DEPTH} levels.")
    if isinstance(node, AllOf | AnyOf):
        for item in node.items:
            _walk(item, depth + 1, counts)
        return
    if isinstance(node, Not):
        _walk(node.item, depth + 1, counts)
        return
    counts[0] += 1
    if counts[0] > MAX_CONDITIONS:
        raise TooComplex(f"An expression may hold at most {MAX_CONDITIONS} conditions.")
    _check_literals(node)


def _check_literals(node: Node) -> None:
    texts: list[Any] = []
    numbers: list[Any] = []
    if isinstance(node, Compare):
        texts, numbers = [node.field, node.value], [node.value]
    elif isinstance(node, Bought | Did):
        texts = [node.target if isinstance(node, Bought) else node.event]
        numbers = [node.amount_over] if isinstance(node, Bought) else []
        if not 0 <= node.times <= MAX_TIMES:
            raise TooComplex(f"'times' must be between 0 and {MAX_TIMES}.")
        if node.within is not None:
            _check_period(node.within)
        if isinstance(node, Did):
            if len(node.where) > MAX_FILTERS:
                raise TooComplex(f"At most {MAX_FILTERS} property filters per event condition.")
            texts += [part for f in node.where for part in (f.name, f.value)]
            numbers += [f.value for f in node.where]
    elif isinstance(node, Within | Ago):
        texts = [node.field]
        _check_period(node.period)
    elif isinstance(node, HasTag | InSegment | ConsentIs | IsSet):
        texts = [
            getattr(node, name, None) for name in ("tag", "name", "channel", "status", "field")
        ]
    for text in texts:
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise TooComplex(f"A text may be at most {MAX_TEXT} characters long.")
        if isinstance(text, str) and "\x00" in text:
            raise SegmentSyntaxError("A text may not contain the NUL character.")
    for number in numbers:
        if isinstance(number, Decimal) and (
            abs(number) >= MAX_NUMBER or -number.as_tuple().exponent > MAX_DECIMALS  # type: ignore[operator]
        ):
            raise TooComplex(f"Numbers may have at most 15 digits and {MAX_DECIMALS} decimals.")


def _check_period(period: Period) -> None:
    if not 0 <= period.amount <= MAX_PERIOD[period.unit]:
        raise TooComplex(f"A period may be at most {MAX_PERIOD[period.unit]} {period.unit}.")


def check_limits(node: Node) -> None:
    """Depth, number of conditions and literal sizes (also for trees that came as JSON)."""
    _walk(node, 1, [0])
