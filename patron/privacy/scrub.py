"""Finding and removing a person's values inside free text and JSON."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from patron.audit.service import REDACTED

# in an audit row about the person, only these keys keep their values (they describe the
# action, not the person); every other value is replaced, its key kept
SAFE_KEYS = frozenset(
    {
        "request_id",
        "source",
        "purpose",
        "fields",
        "counts",
        "merged_id",
        "survivor_id",
        "channel_id",
        "channel",
        "currency",
        "total",
        "number",
        "status",
        "kind",
        "bytes",
    }
)
MIN_NEEDLE = 4


@dataclass(frozen=True)
class Needles:
    """The strings that identify a person: emails, phones, full names, street lines."""

    values: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Needles:
        kept = sorted(
            {" ".join(v.split()) for v in values if v and len(v.strip()) >= MIN_NEEDLE},
            key=lambda v: (-len(v), v),
        )
        if not kept:
            return cls()
        pattern = re.compile("|".join(re.escape(v) for v in kept), re.IGNORECASE)
        return cls(tuple(kept), pattern)

    def __bool__(self) -> bool:
        return bool(self.values)

    def like_patterns(self) -> list[str]:
        """ILIKE patterns matching any text that contains one of the needles."""
        return [
            "%" + v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            for v in self.values
        ]

    def found_in(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def scrub(self, value: Any) -> Any:
        """``value`` with every needle inside its strings replaced by the redaction mark."""
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value) if self._pattern else value
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value


def redact_all(value: Any) -> Any:
    """The same shape with every value replaced (the keys say what changed, not to what)."""
    if isinstance(value, dict):
        return {key: redact_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_all(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    return REDACTED


def redact_audit_details(details: dict[str, Any], needles: Needles) -> dict[str, Any]:
    """An audit row about the person: copies of values go, what describes the action stays."""
    return {
        key: needles.scrub(item) if key in SAFE_KEYS else redact_all(item)
        for key, item in details.items()
    }
