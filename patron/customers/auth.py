"""Permission dependencies for customer routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

CustomerRead = Annotated[Principal, Depends(require("customers:read"))]
CustomerWrite = Annotated[Principal, Depends(require("customers:write"))]
CustomerExport = Annotated[Principal, Depends(require("customers:export"))]
InteractionRead = Annotated[Principal, Depends(require("customers:read", "interactions:read"))]
InteractionWrite = Annotated[Principal, Depends(require("customers:read", "interactions:write"))]
