"""Permission dependencies for segment routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import require
from patron.auth.principal import Principal

SegmentRead = Annotated[Principal, Depends(require("segments:read"))]
# a preview lists customers, so it also needs the right to see them
SegmentPreview = Annotated[Principal, Depends(require("segments:read", "customers:read"))]
SegmentWrite = Annotated[Principal, Depends(require("segments:write"))]
SegmentMembersRead = Annotated[Principal, Depends(require("segments:read", "customers:read"))]
SegmentMembersWrite = Annotated[Principal, Depends(require("segments:write", "customers:read"))]
SegmentExport = Annotated[Principal, Depends(require("segments:read", "customers:export"))]
