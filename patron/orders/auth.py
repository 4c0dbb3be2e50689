"""Permission dependencies for order, cart and channel routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

OrderRead = Annotated[Principal, Depends(require("orders:read"))]
OrderWrite = Annotated[Principal, Depends(require("orders:write"))]
# a bulk export carries customers' names and emails
OrderExport = Annotated[Principal, Depends(require("orders:read", "customers:export"))]
ChannelAdmin = Annotated[Principal, Depends(require("settings:admin"))]
