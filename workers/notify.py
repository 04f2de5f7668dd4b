"""Hook called after every stored decision (model, rule or moderator). The integrations layer turns it into a
signed webhook event to the site's callback URL, delivered by RQ on the webhook queue."""
from __future__ import annotations


def on_decided(session, redis, comment, audit_entry) -> None:
    """Called inside the deciding transaction, after the decision row is written. Must be cheap and must not
    raise for a delivery problem (delivery happens later, on its own queue)."""
    return None
