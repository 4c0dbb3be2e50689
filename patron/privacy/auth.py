"""Permission dependencies for privacy routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

PrivacyExport = Annotated[Principal, Depends(require("customers:read", "customers:export"))]
PrivacyErase = Annotated[Principal, Depends(require("customers:read", "customers:erase"))]
# reading a request: its kind's permission is checked against the request itself
PrivacyRead = Annotated[Principal, Depends(require("customers:read"))]
