"""Webhooks out: every decision (model, rule, moderator) of a site with a callback URL becomes a signed event,
delivered by the webhook queue with retries, every attempt recorded, visible and re-sendable by admins."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from core import signing
from core.keys import create_site
from core.decisions import record_decision
from core.vocabulary import moderator_reason
from core.queues import SCORE_QUEUE, WEBHOOK_QUEUE
from core.storage.models import Comment, DeliveryAttempt, Site, WebhookDelivery, utcnow
from tests.integration_support import Receiver, run_webhook_jobs


@pytest.fixture
def vigie(app):
    """The app's services (settings, database, Redis), which this process's jobs also use (as in a worker)."""
    return app.extensions["vigie"]


@pytest.fixture
def quick_retries(settings, monkeypatch):
    """Retries without waiting (the schedule's shape is tested separately)."""
    monkeypatch.setattr(settings, "webhook_retry_intervals", [0, 0, 0])


def _set_callback(vigie, site_id, url):
    with vigie.db.session() as session:
        session.get(Site, site_id).callback_url = url


def _decide(vigie, site_id, status="flagged", actor="moderator", text="Un commentaire", external_id="c-1"):
    """Store a comment and decide it the way the worker and the dashboard do (record_decision, then commit)."""
    with vigie.db.session() as session:
        comment = Comment(site_id=site_id, text=text, external_id=external_id, source="api")
        session.add(comment)
        session.flush()
        record_decision(session, comment, status, actor=actor, actor_name="marie",
                        reasons=[moderator_reason("Insulte")], services=vigie)
        return comment.id


def _deliveries(vigie):
    with vigie.db.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _attempts(vigie, delivery_id):
    with vigie.db.session() as session:
        return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                    .order_by(DeliveryAttempt.id)))


def test_moderator_decision_is_delivered_signed(vigie, site, app):
    with Receiver() as receiver:
        _set_callback(vigie, site.id, receiver.url)
        comment_id = _decide(vigie, site.id)
        assert run_webhook_jobs(app) == 0
        (request,) = receiver.wait_for(1)
    signing.verify_vigie(request.headers["X-Vigie-Signature"], request.body, [site.secret])
    event = json.loads(request.body)
    (delivery,) = _deliveries(vigie)
    assert event["delivery_id"] == delivery.id == int(request.headers["X-Vigie-Delivery"])
    assert event["comment"] == {**event["comment"], "id": comment_id, "external_id": "c-1", "status": "flagged",
                                "previous_status": "pending", "decided_by": "moderator"}
    assert event["site"] == site.slug
    assert delivery.state == "delivered" and delivery.attempts == 1 and delivery.delivered_at is not None
    (attempt,) = _attempts(vigie, delivery.id)
    assert attempt.status_code == 200 and attempt.error is None


def test_failing_receiver_is_retried_until_it_accepts(vigie, site, app, quick_retries):
    with Receiver(statuses=[500, 503]) as receiver:
        _set_callback(vigie, site.id, receiver.url)
        _decide(vigie, site.id)
        run_webhook_jobs(app)
        requests = receiver.wait_for(3)
    assert [r.status for r in requests] == [500, 503, 200]
    assert len({r.headers["X-Vigie-Delivery"] for r in requests}) == 1  # one delivery, three attempts
    for r in requests:  # each attempt is signed afresh and verifies
        signing.verify_vigie(r.headers["X-Vigie-Signature"], r.body, [site.secret])
    (delivery,) = _deliveries(vigie)
    assert delivery.state == "delivered" and delivery.attempts == 3
    assert [a.status_code for a in _attempts(vigie, delivery.id)] == [500, 503, 200]


def test_receiver_that_never_accepts_ends_failed_and_can_be_resent(vigie, site, app, client, quick_retries):
    with Receiver(statuses=[500] * 4) as receiver:
        _set_callback(vigie, site.id, receiver.url)
        _decide(vigie, site.id)
        run_webhook_jobs(app)
        assert len(receiver.wait_for(4)) == 4  # the first attempt and three retries
        (delivery,) = _deliveries(vigie)
        assert delivery.state == "failed" and delivery.attempts == 4

        listed = client.get("/api/v1/webhook-deliveries?state=failed", headers=site.headers).get_json()
        (item,) = listed["deliveries"]
        assert item["id"] == delivery.id and [a["status_code"] for a in item["attempt_log"]] == [500] * 4

        resent = client.post(f"/api/v1/webhook-deliveries/{delivery.id}/resend", headers=site.headers)
        assert resent.status_code == 202 and resent.get_json()["state"] == "pending"
        run_webhook_jobs(app)
        assert len(receiver.wait_for(5)) == 5
    shown = client.get(f"/api/v1/webhook-deliveries/{delivery.id}", headers=site.headers).get_json()
    assert shown["state"] == "delivered" and shown["attempts"] == 5


def test_unreachable_receiver_is_recorded_with_the_error(vigie, site, app, settings, monkeypatch):
    monkeypatch.setattr(settings, "webhook_retry_intervals", [])
    with Receiver() as receiver:
        url = receiver.url
    _set_callback(vigie, site.id, url)  # the receiver is gone: connection refused
    _decide(vigie, site.id)
    run_webhook_jobs(app)
    (delivery,) = _deliveries(vigie)
    (attempt,) = _attempts(vigie, delivery.id)
    assert delivery.state == "failed" and attempt.status_code is None and "refused" in attempt.error.lower()


def test_retries_back_off_for_about_a_day(vigie, site, app, settings):
    intervals = settings.webhook_retry_intervals
    assert intervals == sorted(intervals)
    assert timedelta(hours=23) <= timedelta(seconds=sum(intervals)) <= timedelta(hours=25)
    with Receiver(statuses=[500]) as receiver:
        _set_callback(vigie, site.id, receiver.url)
        _decide(vigie, site.id)
        before = utcnow()
        run_webhook_jobs(app)
        receiver.wait_for(1)
    (delivery,) = _deliveries(vigie)
    assert delivery.state == "pending" and delivery.attempts == 1
    wait = delivery.next_attempt_at.replace(tzinfo=before.tzinfo) - before
    assert timedelta(seconds=intervals[0] - 2) <= wait <= timedelta(seconds=intervals[0] + 5)
    assert ScheduledJobRegistry(WEBHOOK_QUEUE, connection=vigie.redis).count == 1  # waiting for its retry


def test_deliveries_run_on_their_own_queue_never_with_scoring(vigie, site, app):
    with Receiver() as receiver:
        _set_callback(vigie, site.id, receiver.url)
        _decide(vigie, site.id, actor="model")
        assert Queue(WEBHOOK_QUEUE, connection=vigie.redis).count == 1
        assert Queue(SCORE_QUEUE, connection=vigie.redis).count == 0
        assert receiver.requests == []  # nothing is sent from the deciding process


def test_rolled_back_decision_sends_nothing(vigie, site):
    _set_callback(vigie, site.id, "http://127.0.0.1:9/never")
    with vigie.db.sessionmaker() as session:
        comment = Comment(site_id=site.id, text="Bonjour", source="api")
        session.add(comment)
        session.flush()
        record_decision(session, comment, "approved", actor="model", services=vigie)
        session.rollback()
    assert _deliveries(vigie) == []
    assert Queue(WEBHOOK_QUEUE, connection=vigie.redis).count == 0


def test_site_without_callback_gets_no_delivery(vigie, site):
    _decide(vigie, site.id)
    assert _deliveries(vigie) == []


def test_admin_api_is_scoped_to_the_keys_site(vigie, site, client, app):
    with Receiver() as receiver:
        _set_callback(vigie, site.id, receiver.url)
        _decide(vigie, site.id)
        delivery_id = _deliveries(vigie)[0].id
    with vigie.db.session() as session:
        _, other_key, _ = create_site(session, "autre-journal")
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.get("/api/v1/webhook-deliveries", headers=other).get_json() == {"deliveries": []}
    assert client.get(f"/api/v1/webhook-deliveries/{delivery_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/webhook-deliveries/{delivery_id}/resend", headers=other).status_code == 404
    assert client.get("/api/v1/webhook-deliveries").status_code == 401
    bad = client.get("/api/v1/webhook-deliveries", headers={"Authorization": "Bearer vg_wrong"})
    assert bad.status_code == 401
    assert client.get("/api/v1/webhook-deliveries?state=bogus", headers=site.headers).status_code == 400
    assert client.get("/api/v1/webhook-deliveries?limit=x", headers=site.headers).status_code == 400
    with vigie.db.session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_deliveries_never_queued_are_picked_up_later(vigie, site, app):
    """Redis was down when the decision committed: the row stays pending and the workers' reconciler sends it."""
    from dataclasses import replace

    from redis import Redis

    from core.reconcile import requeue_deliveries

    dead_redis = Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)  # nothing listens there
    with Receiver() as receiver:
        _set_callback(vigie, site.id, receiver.url)
        with vigie.db.session() as session:  # the decision commits even though its delivery cannot be queued
            comment = Comment(site_id=site.id, text="Bonjour", source="api")
            session.add(comment)
            session.flush()
            record_decision(session, comment, "approved", actor="model", services=replace(vigie, redis=dead_redis))
        (row,) = _deliveries(vigie)
        assert row.state == "pending" and Queue(WEBHOOK_QUEUE, connection=vigie.redis).count == 0
        assert requeue_deliveries(vigie, older_than_s=0) == 1
        assert requeue_deliveries(vigie, older_than_s=0) == 0  # queued once, not on every reconciler run
        run_webhook_jobs(app)
        assert len(receiver.wait_for(1)) == 1
    assert _deliveries(vigie)[0].state == "delivered"
