"""Delivery of outgoing webhook events (put in the outbox by ``core.outbox``; queue ``vigie-webhooks``, served by a
model-free worker: ``vigie worker --queues webhooks``), so a slow or failing receiver never slows scoring.

Each attempt POSTs the event to the site's callback URL with a fresh ``X-Vigie-Signature`` (the site's first
signing secret) and a timeout of ``VIGIE_WEBHOOK_TIMEOUT_S``, and records a ``DeliveryAttempt``. Any 2xx answer
delivers it. Otherwise the job raises and RQ retries it after ``VIGIE_WEBHOOK_RETRY_INTERVALS`` (default 10 s,
30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h: 12 attempts over about 24 h; the worker's scheduler
must run, which ``vigie worker`` does); after the last one the delivery is marked ``failed`` and an admin can
resend it. Redirects are not followed (a receiver must answer at its own URL). A URL that core.netguard refuses
(loopback, private, link-local, metadata addresses not in the allow-list) is never connected to: the delivery is
marked ``failed`` at once.
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl
import time
from datetime import timedelta

from rq import get_current_job

from core import metrics, netguard
from core.netguard import AllowList
from core.outbox import encode, signed_headers
from core.services import Services
from core.storage.models import DeliveryAttempt, Site, WebhookDelivery, utcnow

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 500
REFUSED = "refused"  # the URL is not allowed (core.netguard): no connection, no retry


class DeliveryFailed(Exception):
    """The receiver did not accept the event; RQ retries the job."""


def post(url: str, body: bytes, headers: dict, timeout_s: float, allow=None) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one POST; a status is None when no answer came. The URL is checked and its host
    resolved once (core.netguard): a refused address is never connected to, the connection goes to the address
    that was checked, redirects are not followed. Errors are Vigie's own words: nothing the remote sent (a
    non-HTTP service's banner, a body) is ever copied into them."""
    try:
        target = netguard.check_url(url, allow)
    except netguard.UnsafeURL as exc:
        return None, f"{REFUSED}: {exc}"[:MAX_ERROR_CHARS]
    connection = netguard.pinned_connection(target, timeout_s)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        status = response.status
        return status, None if 200 <= status < 300 else f"HTTP {status}"
    except ConnectionRefusedError:
        return None, "connection refused"
    except (TimeoutError, socket.timeout):
        return None, f"timed out after {timeout_s:g} s"
    except ssl.SSLCertVerificationError:
        return None, "TLS certificate not valid for this host"
    except ssl.SSLError:
        return None, "TLS error"
    except http.client.HTTPException:
        return None, "the receiver did not answer with valid HTTP"
    except OSError as exc:
        return None, f"network error: {exc.strerror or type(exc).__name__}"[:MAX_ERROR_CHARS]
    finally:
        connection.close()


def deliver(svc: Services, delivery_id: int) -> dict:
    """One delivery attempt. Raises DeliveryFailed when the receiver did not take it (RQ retries)."""
    with svc.db.sessionmaker() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.state == "delivered":
            return {"delivery": delivery_id, "state": "skipped"}
        site = session.get(Site, delivery.site_id)
        secret = (site.signing_secrets or [""])[0] if site is not None else ""
        body = encode(delivery.payload)
        headers = signed_headers(secret, body, delivery.event, delivery.id)
        started = time.perf_counter()
        status, error = post(delivery.url, body, headers, svc.settings.webhook_timeout_s,
                             AllowList.from_settings(svc.settings))
        duration_ms = (time.perf_counter() - started) * 1000
        ok = status is not None and 200 <= status < 300
        refused = status is None and (error or "").startswith(REFUSED)
        if not ok and error is None:
            error = f"HTTP {status}"
        session.add(DeliveryAttempt(delivery_id=delivery.id, status_code=status, error=None if ok else error,
                                    duration_ms=duration_ms))
        delivery.attempts = (delivery.attempts or 0) + 1
        if ok:
            delivery.state, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
        else:
            job = get_current_job()
            retries_left = (job.retries_left or 0) if job is not None else 0
            if retries_left and job.retry_intervals and not refused:
                index = max(len(job.retry_intervals) - retries_left, 0)
                delivery.state = "pending"
                delivery.next_attempt_at = utcnow() + timedelta(seconds=job.retry_intervals[index])
            else:
                delivery.state, delivery.next_attempt_at = "failed", None
        outcome = "delivered" if ok else "refused" if refused else delivery.state.replace("pending", "retry")
        session.commit()
    metrics.delivery(outcome)
    if refused:  # retrying cannot help: failed at once
        log.warning("webhook delivery %s refused: %s", delivery_id, error)
        return {"delivery": delivery_id, "state": "failed", "error": error}
    if not ok:
        log.info("webhook delivery %s to %s failed: %s", delivery_id, delivery.url, error)
        raise DeliveryFailed(f"delivery {delivery_id}: {error}")
    return {"delivery": delivery_id, "state": "delivered", "status": status}
