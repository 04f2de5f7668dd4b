"""A site's own model in a real browser (French) with a real worker process: an admin trains a candidate with the
button (background job, progress on the page), promotes it, and the worker scores the site's next comment with it
without a restart (the stored result carries the site model's version); the rollback brings the default back."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.decisions import record_decision
from core.storage.models import AuditEntry, Comment
from tests.browser_support import axe_violations, browser, browser_login, live_server, page  # noqa: F401
from tests.dashboard_support import PASSWORD, add_comment, add_user
from tests.test_feedback import FINE, PROFANE, TARGETED

BASE = json.loads((Path(__file__).resolve().parents[1] / "workers/model/default/config.json").read_text())["version"]
# the shipped default model's version: a site model's version is BASE+site-<slug>.<n>

pytestmark = pytest.mark.browser


@pytest.fixture
def small_training(monkeypatch):
    """Few base rows and steps for the worker process's training (set before it starts)."""
    monkeypatch.setenv("VIGIE_SITE_TRAIN_BASE_ROWS", "40")
    monkeypatch.setenv("VIGIE_SITE_TRAIN_STEPS", "60")


def _scored(client, site, db, text: str, deadline_s: float = 120):
    comment_id = client.post("/api/v1/comments", json={"text": text}, headers=site.headers).json["id"]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        db.expire_all()
        comment = db.get(Comment, comment_id)
        if comment.status != "pending" and comment.result is not None:
            return comment.result
        time.sleep(0.2)
    raise AssertionError(f"comment {comment_id} not decided by the worker")


def test_admin_trains_promotes_and_rolls_back_a_site_model(small_training, live_worker, page, app, client, site,
                                                           db):
    start = datetime.now(timezone.utc) - timedelta(days=2)
    texts = [(t + f" ({r})", 1) for r in range(3) for t in TARGETED] + \
            [(t + f" ({r})", 0) for r in range(3) for t in PROFANE + FINE]
    texts.sort(key=lambda item: item[0][::-1])
    for i, (text, toxic) in enumerate(texts):
        comment = add_comment(db, site.id, text, score=0.5)
        entry = record_decision(db, comment, "rejected" if toxic else "approved", actor="moderator",
                                actor_name="camille", reasons=[{"kind": "reason", "text": "Insulte"}] if toxic else [])
        entry.created_at = start + timedelta(minutes=i)
    db.commit()
    before = _scored(client, site, db, "Putain, quel beau match hier soir.")
    assert (before.model_name, before.model_version) == ("vigie-fr-toxicity", BASE)

    add_user(app, "alice", role="admin")
    browser_login(page, "alice", PASSWORD)
    page.goto(f"/admin/sites/{site.id}/model")
    expect(page.locator("#active-version")).to_have_text("Le modèle par défaut, commun à tous les sites.")
    page.get_by_role("button", name="Entraîner un modèle").click()
    expect(page.locator(".flash, [role=status]").first).to_contain_text("Entraînement en file d'attente")
    candidate = page.locator('article.model-row[data-status="candidate"]')
    expect(candidate).to_have_count(1, timeout=180_000)  # the page refreshes itself while the job runs
    expect(page.locator("#training-status")).to_have_attribute("data-state", "done")
    expect(candidate.locator("h3")).to_contain_text(f"{BASE}+site-lemonde-test.1")
    expect(candidate.locator('tr[data-row="candidate"]')).to_contain_text("Ce modèle")
    assert axe_violations(page) == []
    candidate.get_by_role("button", name="Promouvoir").click()
    expect(page.locator("#active-version")).to_contain_text(f"{BASE}+site-lemonde-test.1")

    after = _scored(client, site, db, "Putain, quelle belle soirée.")
    assert (after.model_name, after.model_version) == ("vigie-fr-toxicity", f"{BASE}+site-lemonde-test.1")
    assert before.model_version != after.model_version  # both stay identifiable in the stored results

    page.get_by_role("button", name="Revenir en arrière").click()
    expect(page.locator("#active-version")).to_have_text("Le modèle par défaut, commun à tous les sites.")
    rolled = _scored(client, site, db, "Putain, quelle belle matinée.")
    assert rolled.model_version == BASE
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("model_%"))
                         .order_by(AuditEntry.id)).all()
    assert actions == ["model_trained", "model_promoted", "model_rolled_back"]
    page.goto(f"/audit?site={site.id}")
    expect(page.locator("body")).to_contain_text("modèle de site mis en service")
    assert page.errors == []
