"""Permission dependencies for catalog routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

CatalogRead = Annotated[Principal, Depends(require("catalog:read"))]
CatalogWrite = Annotated[Principal, Depends(require("catalog:write"))]
