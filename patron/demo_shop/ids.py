"""Deterministic UUIDv7: the generated time in the high bits, seeded random bits below.

The same seed gives the same ids, and ids still sort by the time of what they identify.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_RAND_B = (1 << 62) - 1
_UNKNOWN = uuid.SafeUUID.unknown


class IdMaker:
    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def at(self, when: datetime) -> uuid.UUID:
        millis = int(when.timestamp() * 1000)
        rand = self._bits(74)
        made = object.__new__(uuid.UUID)  # skips UUID()'s argument checks: the value is valid
        value = (millis << 80) | ((rand >> 62) << 64) | _VERSION_AND_VARIANT | (rand & _RAND_B)
        object.__setattr__(made, "int", value)
        object.__setattr__(made, "is_safe", _UNKNOWN)
        return made
