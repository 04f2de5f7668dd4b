"""Moderation by article and readers' reports in a real browser (headless chromium, French): from the article
list to an article's queue and a comment's conversation, a reader's reports moving a model-approved comment into
"Signalés", and axe-core's checks on these pages."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core import articles
from core.storage.models import Site
from tests.browser_support import (axe_violations, browser, browser_login, live_server, page,  # noqa: F401
                                   screenshot)
from tests.dashboard_support import PASSWORD, add_comment, add_user

pytestmark = pytest.mark.browser


def _arrange(db, site_id):
    articles.touch(db, site_id, "tempete", "Tempête Ciaran : la Bretagne privée de courant",
                   "https://journal.example/tempete")
    articles.touch(db, site_id, "noel", "Le marché de Noël ouvre ses portes", "https://journal.example/noel")
    root = add_comment(db, site_id, "Merci aux agents d'Enedis qui travaillent sous la pluie.", score=0.02,
                       status="approved", thread_id="tempete", external_id="t1", author_name="Ana")
    reply = add_comment(db, site_id, "Des incapables, oui, espèce de naïf.", score=0.81, thread_id="tempete",
                        external_id="t2", parent_id="t1", author_name="Bob")
    answer = add_comment(db, site_id, "Restez poli, Bob.", score=0.12, status="approved", thread_id="tempete",
                         external_id="t3", parent_id="t2", author_name="Ana")
    other = add_comment(db, site_id, "Quelle bande d'abrutis au marché.", score=0.77, thread_id="noel",
                        external_id="n1", author_name="Chloé")
    db.commit()
    return root.id, reply.id, answer.id, other.id


def test_an_article_queue_and_its_conversation(page, app, site, db):
    root, reply, answer, other = _arrange(db, site.id)
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.get_by_role("link", name="Articles", exact=True).click()
    expect(page.locator("h1")).to_have_text("Articles")
    rows = page.locator("tr.article-row")
    expect(rows).to_have_count(2)
    problems = {"/articles": axe_violations(page)}
    page.get_by_role("link", name="Tempête Ciaran : la Bretagne privée de courant").click()
    expect(page.locator(".article-name")).to_have_text("Tempête Ciaran : la Bretagne privée de courant")
    expect(page.locator("article.card")).to_have_count(1)  # only this article's comment to review
    card = page.locator(f"#c-{reply}")
    expect(card.locator(".article-link")).to_have_text("Tempête Ciaran : la Bretagne privée de courant")
    expect(page.locator(f"#c-{other}")).to_have_count(0)
    expect(page.locator('.tab [data-count="flagged"]')).to_have_text("1")
    problems["article queue"] = axe_violations(page)
    screenshot(page, "article-queue")
    # the moderator approves it from the article's queue, then reads the conversation from another card
    page.keyboard.press("a")
    expect(page.locator('.tab [data-count="flagged"]')).to_have_text("0")
    page.locator(".tabs .tab").filter(has_text="Tous").click()  # this article, every status
    expect(page.locator("article.card")).to_have_count(3)
    page.locator(f"#c-{answer} .conversation-link").click()
    expect(page.locator("h1")).to_have_text("Tempête Ciaran : la Bretagne privée de courant")
    items = page.locator("li.conv-item")
    expect(items).to_have_count(3)
    assert [items.nth(i).get_attribute("data-id") for i in range(3)] == [str(root), str(reply), str(answer)]
    assert [items.nth(i).get_attribute("data-depth") for i in range(3)] == ["0", "1", "2"]
    expect(page.locator(f"#c-{answer}")).to_have_class("conv-item depth-2 focused")
    expect(page.locator(f"#c-{reply} .status")).to_have_text("approuvé")
    problems["conversation"] = axe_violations(page)
    screenshot(page, "conversation")
    assert {k: v for k, v in problems.items() if v} == {}
    assert page.errors == []


def test_reader_reports_move_a_model_approved_comment_into_signales(page, app, site, db):
    with app.extensions["vigie"].db.session() as session:
        session.get(Site, site.id).report_threshold = 2
        session.commit()
    approved = add_comment(db, site.id, "Ce commentaire a l'air anodin mais cache une insulte codée.", score=0.04,
                           status="approved", author_name="Zoé")
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    signales = page.get_by_role("link", name="Signalés")
    expect(signales.locator(".count")).to_have_text("0")
    api = app.test_client()
    for reader, reason in (("lecteur-1", "offensive"), ("lecteur-2", "harassment")):
        response = api.post(f"/api/v1/comments/{approved.id}/reports", headers=site.headers,
                            json={"reason": reason, "reporter_id": reader, "text": "Insulte déguisée"})
        assert response.status_code == 201
    page.reload()
    expect(signales.locator(".count")).to_have_text("1")
    signales.click()
    card = page.locator(f"#c-{approved.id}")
    expect(card).to_be_visible()
    expect(card.locator(".reports-badge")).to_have_text("Signalé 2 fois")
    expect(card.locator(".reason-report")).to_have_text(["harcèlement", "choquant"])  # as many each: by name
    expect(card.locator('[data-role="status"]')).to_have_text("à vérifier")
    screenshot(page, "reported-queue")
    assert axe_violations(page) == []
    # the moderator approves it after reading: it leaves "Signalés"
    card.locator('[data-action="approved"]').click()
    expect(signales.locator(".count")).to_have_text("0")
    assert page.errors == []
