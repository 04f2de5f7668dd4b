from core.storage.db import Database
from core.storage.models import (
    Actor,
    ApiKey,
    AuditEntry,
    Base,
    Comment,
    DeliveryAttempt,
    ModelResult,
    ScoreLabel,
    Site,
    Status,
    User,
    WebhookDelivery,
)

__all__ = ["Actor", "ApiKey", "AuditEntry", "Base", "Comment", "Database", "DeliveryAttempt", "ModelResult",
           "ScoreLabel", "Site", "Status", "User", "WebhookDelivery"]
