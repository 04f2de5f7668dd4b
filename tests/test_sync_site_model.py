"""A site's own model on the synchronous path (issue 13): once an admin promotes a site model, the site's Coral and
Perspective calls are scored by its head (the stored result names the site model's version and threshold, as a
queued comment's does), while another site's calls keep the shared model. Real model, real worker process."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from core import sitemodels
from core.keys import create_site
from core.queues import SYNC_PENDING_LIST, SYNC_REQUEST_KEY, SYNC_RESULT_KEY
from core.storage.models import Comment, ModelResult, SiteModel
from tests.integration_support import coral_signed, patient_budgets, sync_worker
from workers import site_heads, sync_jobs

INSULT = "Ferme-la, espèce d'imbécile, personne ne veut lire tes conneries."
PROFANE = "Putain, quel match incroyable hier soir !"
SITE_THRESHOLD = 0.73


@pytest.fixture(scope="module")
def scoring_worker(_app, settings):
    """A real `vigie worker --queues sync` process with the real model, shared by this module's tests."""
    with sync_worker(settings, _app.extensions["vigie"].redis) as process, patient_budgets(settings):
        yield process


def lenient_head(scorer):
    """A site head that scores everything much lower than the shared model's own head."""
    from workers.model.sitehead import SiteHead

    own = scorer.head_state()
    return SiteHead(own["weight"], own["bias"] - 3.0, SITE_THRESHOLD)


def promote_site_model(app, site, scorer) -> tuple[str, object]:
    """Store a site model for ``site`` and promote it, as an admin would. Returns its version and head."""
    head = lenient_head(scorer)
    base = str(scorer.version).removesuffix("+int8")
    version = sitemodels.site_version(base, site.slug, 1)
    with app.extensions["vigie"].db.session() as session:
        model = SiteModel(site_id=site.id, number=1, name=scorer.name, base_version=base, version=version,
                          threshold=SITE_THRESHOLD, weights=head.to_bytes(), status=sitemodels.CANDIDATE)
        session.add(model)
        session.flush()
        sitemodels.promote(session, model, "admin1")
    head.version = version + ("+int8" if str(scorer.version).endswith("+int8") else "")
    return head.version, head


@pytest.fixture
def other_site(app):
    with app.extensions["vigie"].db.session() as session:
        row, key, secret = create_site(session, "autre-journal", "Autre journal")
        return {"id": row.id, "slug": "autre-journal", "key": key, "secret": secret}


def coral(client, slug, secret, text, external_id):
    payload = {"action": "NEW", "comment": {"id": external_id, "body": text, "parentID": None},
               "author": {"id": "user-1", "role": "COMMENTER"},
               "story": {"id": "story-1", "url": "https://journal.example/story-1"},
               "site": {"id": "coral-site"}, "tenantID": "tenant-1", "tenantDomain": "journal.example"}
    body, headers = coral_signed([secret], payload)
    return client.post(f"/integrations/coral/{slug}", data=body, headers=headers)


def analyze(client, key, text, do_not_store=True):
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}, "languages": ["fr"],
            "doNotStore": do_not_store}
    return client.post(f"/v1alpha1/comments:analyze?key={key}", json=body)


def result_of(db, text) -> ModelResult:
    db.expire_all()
    comment = db.scalars(select(Comment).where(Comment.text == text)).one()
    return db.scalar(select(ModelResult).where(ModelResult.comment_id == comment.id))


def test_sync_calls_use_the_sites_own_model_once_promoted(client, app, site, other_site, db, scorer,
                                                         scoring_worker):
    before = coral(client, site.slug, site.secret, INSULT, "c-before")
    assert before.status_code == 200, before.get_data(as_text=True)
    assert result_of(db, INSULT).model_version == scorer.version  # no site model yet: the shared one

    site_version, head = promote_site_model(app, site, scorer)
    own = scorer.predict([PROFANE], heads=[head])[0]
    shared = scorer.predict([PROFANE])[0]
    assert own["toxicity"] < shared["toxicity"] - 0.05  # the two models tell apart

    # Coral: stored with the site model's version and decided at its threshold, scored by its head
    response = coral(client, site.slug, site.secret, PROFANE, "c-after")
    assert response.status_code == 200, response.get_data(as_text=True)
    stored = result_of(db, PROFANE)
    assert stored.model_name == scorer.name and stored.model_version == site_version
    assert stored.threshold == pytest.approx(SITE_THRESHOLD)
    assert stored.scores == pytest.approx(own, abs=1e-4)

    # Perspective, doNotStore (sealed texts): the answer is the site head's scores
    answer = analyze(client, site.api_key, INSULT)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    want = scorer.predict([INSULT], heads=[head])[0]
    got = answer.get_json()["attributeScores"]
    assert got["TOXICITY"]["summaryScore"]["value"] == pytest.approx(want["toxicity"], abs=1e-4)
    assert got["INSULT"]["summaryScore"]["value"] == pytest.approx(want["insult"], abs=1e-4)

    # Perspective, stored: the result names the site model
    text = "Bande de crétins, vous êtes tous des imbéciles."
    assert analyze(client, site.api_key, text, do_not_store=False).status_code == 200
    stored = result_of(db, text)
    assert stored.model_version == site_version and stored.threshold == pytest.approx(SITE_THRESHOLD)
    assert stored.scores == pytest.approx(scorer.predict([text], heads=[head])[0], abs=1e-4)

    # another site's calls keep the shared model
    answer = analyze(client, other_site["key"], INSULT)
    assert answer.status_code == 200
    shared_insult = scorer.predict([INSULT])[0]
    assert answer.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(
        shared_insult["toxicity"], abs=1e-4)
    other_text = PROFANE + " (autre)"
    assert coral(client, other_site["slug"], other_site["secret"], other_text, "o-1").status_code == 200
    stored = result_of(db, other_text)
    assert stored.model_version == scorer.version
    assert stored.threshold == pytest.approx(scorer.threshold)


def test_one_forward_pass_scores_requests_of_different_sites_each_with_its_own_head(app, site, other_site,
                                                                                    scorer, monkeypatch):
    """In the worker: two requests waiting together, from a site with its own model and from one without, are
    scored in the same encoder pass, each with its site's head, and each answer names its model."""
    svc = app.extensions["vigie"]
    monkeypatch.setattr(site_heads, "_cache", {})  # ids restart with each test's empty tables
    site_version, head = promote_site_model(app, site, scorer)
    calls = []
    score_windows = scorer.score_windows

    def spy(wins, heads=None):
        calls.append(len(wins))
        return score_windows(wins, heads=heads)

    monkeypatch.setattr(scorer, "score_windows", spy)
    deadline = time.time() + 600
    svc.redis.set(SYNC_REQUEST_KEY + "mine", json.dumps({"texts": [INSULT], "deadline": deadline,
                                                         "site_id": site.id}))
    svc.redis.set(SYNC_REQUEST_KEY + "other", json.dumps({"texts": [INSULT], "deadline": deadline,
                                                          "site_id": other_site["id"]}))
    svc.redis.rpush(SYNC_PENDING_LIST, "mine", "other")
    assert sync_jobs.serve(svc)["answered"] == 2
    assert calls == [2]  # one forward pass for both sites
    mine = json.loads(svc.redis.lpop(SYNC_RESULT_KEY + "mine"))
    other = json.loads(svc.redis.lpop(SYNC_RESULT_KEY + "other"))
    assert mine["version"] == site_version and mine["threshold"] == pytest.approx(SITE_THRESHOLD)
    assert other["version"] == scorer.version and other["threshold"] == pytest.approx(scorer.threshold)
    assert mine["scores"][0] == pytest.approx(scorer.predict([INSULT], heads=[head])[0], abs=1e-4)
    assert other["scores"][0] == pytest.approx(scorer.predict([INSULT])[0], abs=1e-4)
    assert mine["scores"][0]["toxicity"] < other["scores"][0]["toxicity"]
