from core.storage.db import Database
from core.storage.models import (
    Actor,
    ApiKey,
    Article,
    AuditEntry,
    Base,
    Comment,
    CommentReport,
    DeliveryAttempt,
    ModelResult,
    ScoreLabel,
    Site,
    Status,
    User,
    WebhookDelivery,
)

__all__ = ["Actor", "ApiKey", "Article", "AuditEntry", "Base", "Comment", "CommentReport", "Database",
           "DeliveryAttempt", "ModelResult", "ScoreLabel", "Site", "Status", "User", "WebhookDelivery"]
