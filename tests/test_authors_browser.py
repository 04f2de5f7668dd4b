"""Actions on authors in a real browser (headless chromium, French): a moderator bans an author from the queue and
the site's callback receives the signed event; a pre-moderated author's next comment, posted through the API and
scored by the real model, lands in "À vérifier"; the waiting comments of an author are rejected at once and the
undo puts them back; axe-core finds nothing critical or serious on the author page."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core import signing
from core.storage.models import AuditEntry, Comment, Site
from tests.browser_support import axe_violations, browser, browser_login, live_server, page, screenshot  # noqa: F401
from tests.dashboard_support import PASSWORD, add_comment, add_user
from tests.integration_support import Receiver, run_webhook_jobs

pytestmark = pytest.mark.browser


def test_a_moderator_bans_an_author_from_the_queue_and_the_callback_receives_the_signed_event(page, app, site, db):
    with Receiver() as receiver:
        db.get(Site, site.id).callback_url = receiver.url  # 127.0.0.1: allowed by the tests' settings
        for i in range(3):
            add_comment(db, site.id, f"Espèce d'abruti numéro {i}", score=0.95 - i / 100, author_id="marc75",
                        author_name="Marc_75")
        add_comment(db, site.id, "Je ne suis pas d'accord.", score=0.6, author_id="sophie", author_name="Sophie.L")
        db.commit()
        add_user(app, "camille")
        browser_login(page, "camille", PASSWORD)
        expect(page.locator("article.card.focused .author")).to_have_text("Marc_75")
        link = page.locator("#panel [data-role=author-page]")
        expect(link).to_have_text("Fiche de l’auteur et actions (bannir, suspendre, pré-modérer, avertir, noter)")
        expect(page.locator("#panel [data-standing=none]")).to_have_text("Aucune restriction")
        link.click()
        expect(page.locator("h1")).to_have_text("Auteur : Marc_75")
        expect(page.locator(".author-comment")).to_have_count(3)
        page.fill("#ban-reason", "Insultes répétées envers les lecteurs")
        page.once("dialog", lambda dialog: dialog.accept())  # "Bannir cet auteur ? ..."
        page.click("form[data-action=ban] button")
        expect(page.locator(".flash")).to_have_text("Auteur banni : ses nouveaux commentaires seront rejetés.")
        expect(page.locator("[data-standing=banned]")).to_contain_text("Banni")
        expect(page.locator(".author-history li").first).to_contain_text("Insultes répétées envers les lecteurs")

        assert run_webhook_jobs(app) == 0
        requests = receiver.wait_for(1)
    assert len(requests) == 1
    delivered = requests[0]
    assert delivered.headers["X-Vigie-Event"] == "author.action"
    signing.verify_vigie(delivered.headers["X-Vigie-Signature"], delivered.body, [site.secret])  # raises if forged
    event = json.loads(delivered.body)
    assert event["action"] == "ban" and event["author"] == {"id": "marc75", "name": "Marc_75"}
    assert event["moderator"] == "camille" and event["reason"] == "Insultes répétées envers les lecteurs"
    assert event["standing"]["banned"] is True and event["site"] == site.slug

    page.goto("/queue")  # the panel now says so
    expect(page.locator("#panel [data-standing=banned]")).to_be_visible()
    page.goto("/audit")
    row = page.locator("tr.audit-row[data-action=author_ban]")
    expect(row).to_contain_text("auteur banni")
    expect(row).to_contain_text("camille")
    expect(row.locator("a.audit-author")).to_have_text("Auteur marc75")
    assert page.errors == []


def test_a_premoderated_authors_next_comment_lands_flagged(page, app, client, site, work, db):
    add_comment(db, site.id, "Premier commentaire, très calme.", score=0.02, status="approved", author_id="nouveau",
                author_name="Nouveau venu")
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.goto(f"/authors/{site.id}?id=nouveau")
    page.fill("#premoderate-reason", "Compte créé hier, déjà signalé")
    page.click("form[data-action=premoderate] button")
    expect(page.locator(".flash")).to_contain_text("Auteur en pré-modération")
    expect(page.locator("[data-standing=premoderated]")).to_be_visible()

    text = "Merci pour cet article très complet sur la rénovation énergétique."
    for external_id, author in (("pm-1", "nouveau"), ("pm-2", "quelquun")):
        posted = client.post("/api/v1/comments", json={"text": text, "external_id": external_id, "author_id": author,
                                                       "author_name": author}, headers=site.headers)
        assert posted.status_code == 202, posted.text
    work()
    db.expire_all()
    held = db.scalar(select(Comment).where(Comment.external_id == "pm-1"))
    control = db.scalar(select(Comment).where(Comment.external_id == "pm-2"))
    assert control.status == "approved"  # the model approves this text...
    assert held.status == "flagged" and held.decided_by == "system"  # ...but this author's waits for a moderator
    assert held.result is not None and held.result.scores["toxicity"] < 0.5

    page.goto("/queue")
    card = page.locator(f"#c-{held.id}")
    expect(card).to_be_visible()
    expect(card.locator(".decision")).to_contain_text("Auteur en pré-modération : retenu pour vérification")
    expect(page.locator(f"#c-{control.id}")).to_have_count(0)
    assert page.errors == []


def test_reject_every_waiting_comment_of_an_author_then_undo_from_the_author_page(page, app, site, db):
    db.get(Site, site.id).reject_reasons = ["Insulte", "Spam"]
    ids = [add_comment(db, site.id, f"Achetez mes montres {i}", score=0.7, author_id="spam1").id for i in range(4)]
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.goto(f"/authors/{site.id}?id=spam1")
    page.select_option("#bulk-reason", "Spam")
    page.fill("#bulk-explanation", "Publicité en série")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-action=reject_waiting] button")
    expect(page.locator(".flash")).to_have_text("4 commentaires rejetés. « Annuler » les remet comme avant.")
    expect(page.locator("[data-count=rejected]")).to_have_text("4")
    db.expire_all()
    assert {db.get(Comment, i).status for i in ids} == {"rejected"}
    page.click("#undo-last")
    expect(page.locator("[data-count=flagged]")).to_have_text("4")
    db.expire_all()
    assert {db.get(Comment, i).status for i in ids} == {"flagged"}
    undos = db.scalars(select(AuditEntry).where(AuditEntry.action == "undo")).all()
    assert len(undos) == 4 and {e.actor_name for e in undos} == {"camille"}
    assert page.errors == []


def test_axe_finds_no_critical_or_serious_violation_on_the_author_page(page, app, site, db):
    from core.author_actions import act

    db.get(Site, site.id).reject_reasons = ["Insulte"]
    for i, (status, score) in enumerate((("flagged", 0.91), ("rejected", 0.88), ("approved", 0.1))):
        add_comment(db, site.id, f"Commentaire {i} de Marc", score=score, status=status, author_id="marc75",
                    author_name="Marc_75")
    stored = db.get(Site, site.id)
    for action, kw in (("warn", {"reason": "Restez courtois."}), ("note", {"reason": "Connu de la rédaction"}),
                       ("suspend", {"days": 3, "reason": "Trois jours"}), ("premoderate", {})):
        act(db, stored, "marc75", action, actor="moderator", actor_name="camille", **kw)
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.goto(f"/authors/{site.id}?id=marc75")
    expect(page.locator("[data-standing=suspended]")).to_be_visible()
    assert page.locator("h1").count() == 1
    screenshot(page, "author", full_page=True)
    problems = {"author page": axe_violations(page)}
    page.fill("#warn-text", "")
    page.click("form[data-action=warn] button")  # the browser's own check: the message is required
    expect(page.locator("#warn-text")).to_be_focused()
    page.goto(f"/authors/{site.id}?id=marc75")
    page.fill("#suspend-days", "400")
    page.evaluate("document.querySelector('#suspend-days').removeAttribute('max')")  # the server checks too
    page.click("form[data-action=suspend] button")
    expect(page.locator(".alert-error")).to_have_text("Une suspension dure de 1 à 365 jours.")
    problems["author page with an error"] = axe_violations(page)
    page.goto("/queue")
    expect(page.locator("#panel [data-role=author-page]")).to_be_visible()
    problems["queue with the author panel"] = axe_violations(page)
    assert {where: found for where, found in problems.items() if found} == {}
    assert [e for e in page.errors if "400" not in e] == []  # (the refused suspension answers 400)
