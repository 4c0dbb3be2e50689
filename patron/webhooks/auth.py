"""Permission dependencies for webhook routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

WebhooksRead = Annotated[Principal, Depends(require("integrations:read"))]
WebhooksWrite = Annotated[Principal, Depends(require("integrations:write"))]
