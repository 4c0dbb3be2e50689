"""Every ORM model, imported here so that metadata and Alembic see them all."""

from patron.models.audit import AuditEvent
from patron.models.ops import JobFailure, MailMessage, RateLimitCounter
from patron.models.staff import (
    ApiKey,
    AuthToken,
    RecoveryCode,
    Role,
    StaffSession,
    StaffUser,
    Team,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuthToken",
    "JobFailure",
    "MailMessage",
    "RateLimitCounter",
    "RecoveryCode",
    "Role",
    "StaffSession",
    "StaffUser",
    "Team",
]
