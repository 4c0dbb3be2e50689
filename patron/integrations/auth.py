"""Permission dependencies for the integration routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

IntegrationsRead = Annotated[Principal, Depends(require("integrations:read"))]
IntegrationsWrite = Annotated[Principal, Depends(require("integrations:write"))]
