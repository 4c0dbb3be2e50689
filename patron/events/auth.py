"""Permission dependencies for tracking routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

EventWrite = Annotated[Principal, Depends(require("events:write"))]
# a customer's events are part of their history
EventRead = Annotated[Principal, Depends(require("customers:read"))]
