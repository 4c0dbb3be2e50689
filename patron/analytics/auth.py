"""Permission dependencies for reports and dashboards."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

ReportRead = Annotated[Principal, Depends(require("reports:read"))]
