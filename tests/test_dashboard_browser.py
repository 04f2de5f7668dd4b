"""The dashboard in a real browser (headless chromium, a French browser): keyboard moderation, bulk actions, undo,
the audit log, site settings, hostile comments staying inert, a comment scored by the real model showing up flagged,
who decided shown on the cards, and axe-core's accessibility checks on every page."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.storage.models import AuditEntry, Comment, Site
from tests.browser_support import (axe_violations, browser, browser_login, live_server, page,  # noqa: F401
                                   screenshot)
from tests.dashboard_support import PASSWORD, add_comment, add_user

pytestmark = pytest.mark.browser

FLAGGED_COUNT = '.tab [data-count="flagged"]'


def _statuses(db, ids):
    db.expire_all()
    return [db.get(Comment, i).status for i in ids]


def test_moderator_approves_with_the_keyboard_bulk_rejects_and_sees_the_audit(page, app, site, db):
    ids = [add_comment(db, site.id, f"Commentaire douteux numéro {i}", score=0.6 + i / 20,
                       author_id=f"u{i}", author_name=f"Lecteur {i}").id for i in range(5)]
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    expect(page.locator(FLAGGED_COUNT)).to_have_text("5")
    first = page.locator("article.card").first
    expect(first).to_have_class("card focused")  # the highest score comes first, focused
    assert first.get_attribute("data-id") == str(ids[4])
    expect(page.locator("#panel .author-stats")).to_be_visible()

    page.keyboard.press("a")
    expect(page.locator(FLAGGED_COUNT)).to_have_text("4")
    expect(page.locator(f"#c-{ids[4]}")).to_have_count(0)
    expect(page.locator(f"#c-{ids[3]}")).to_have_class("card focused")  # the next one is focused, no reload

    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("#selection-count")).to_have_text("2 commentaires sélectionnés")
    page.keyboard.press("r")
    expect(page.locator("#reason-dialog")).to_be_visible()
    page.keyboard.press("1")  # the site's first reject reason
    expect(page.locator(FLAGGED_COUNT)).to_have_text("2")
    assert _statuses(db, ids) == ["flagged", "flagged", "rejected", "rejected", "approved"]

    page.keyboard.press("u")  # undo the bulk rejection
    expect(page.locator(FLAGGED_COUNT)).to_have_text("4")
    assert _statuses(db, ids) == ["flagged", "flagged", "flagged", "flagged", "approved"]
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")

    page.click("text=Journal des actions")
    rows = page.locator("tr.audit-row")
    expect(rows.filter(has_text="camille")).to_have_count(5)  # approve, 2 rejects, 2 undos
    expect(rows.filter(has_text="Insulte")).to_have_count(2)
    entries = db.scalars(select(AuditEntry).where(AuditEntry.actor == "moderator")).all()
    assert {e.actor_name for e in entries} == {"camille"} and len(entries) == 5
    assert page.errors == []


def test_a_queue_of_50_flagged_comments_is_cleared_with_the_keyboard_alone(page, app, site, db):
    ids = [add_comment(db, site.id, f"Message {i} à vérifier", score=0.5 + i / 200).id for i in range(50)]
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    started = time.monotonic()
    for remaining in range(49, -1, -1):
        if remaining % 10 == 0:
            page.keyboard.press("r")
            page.keyboard.press("Enter")  # reject without a reason
        else:
            page.keyboard.press("a")
        expect(page.locator(FLAGGED_COUNT)).to_have_text(str(remaining))
    elapsed = time.monotonic() - started
    expect(page.locator("#empty")).to_be_visible()
    statuses = _statuses(db, ids)
    assert statuses.count("approved") == 45 and statuses.count("rejected") == 5
    print(f"50 comments cleared with the keyboard in {elapsed:.1f} s")
    assert page.errors == []


def test_with_the_mouse_select_all_and_reject_with_a_reason(page, app, site, db):
    ids = [add_comment(db, site.id, f"Publicité {i}", score=0.6).id for i in range(3)]
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.click("#select-all")
    expect(page.locator("#selection-count")).to_have_text("3 commentaires sélectionnés")
    page.click("#bulk-reject")
    page.click("#reason-list >> text=Spam")
    expect(page.locator(FLAGGED_COUNT)).to_have_text("0")
    expect(page.locator("#empty")).to_be_visible()
    assert _statuses(db, ids) == ["rejected"] * 3
    notes = db.scalars(select(AuditEntry.note).where(AuditEntry.actor == "moderator")).all()
    assert notes == ["Spam"] * 3
    assert page.errors == []


def test_admin_changes_a_threshold_in_the_settings(page, app, site, db):
    add_user(app, "root", role="admin")
    browser_login(page, "root", PASSWORD)
    page.click(".mainnav >> text=Sites")
    page.click("text=Le Monde (test)")
    page.fill("#threshold_toxicity", "0,72")  # typed the French way
    page.fill("textarea[name=words_suspect]", "abruti\nimbécile")
    page.click("#save-settings")
    expect(page.locator(".flash")).to_contain_text("Réglages enregistrés")
    expect(page.locator("#threshold_toxicity")).to_have_value("0,72")
    db.expire_all()
    policy = db.get(Site, site.id).policy
    assert policy["thresholds"]["toxicity"] == 0.72 and policy["words"]["suspect"] == ["abruti", "imbécile"]
    page.goto("/audit?action=settings")
    expect(page.locator("tr.audit-row")).to_contain_text("thresholds.toxicity: model default → 0.72")
    assert page.errors == []


XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def test_hostile_comments_authors_links_and_reasons_stay_inert(page, app, site, db):
    stored_site = db.get(Site, site.id)
    stored_site.reject_reasons = [XSS, "Spam"]
    text = XSS + ' <a href="javascript:window.__pwned=1">clic</a> <style>body{display:none}</style> ' \
                 '<div style="position:fixed;inset:0;background:red">x</div>'
    hostile = add_comment(db, site.id, text, score=0.99, author_id="evil", author_name=XSS,
                          thread_id=XSS, thread_url="javascript:window.__pwned=1", external_id="h1",
                          reasons=[{"kind": "word", "list": "banned", "term": XSS, "start": 0, "end": 20, "text": XSS}])
    add_comment(db, site.id, "réponse", score=0.8, parent_id="h1", author_id="evil")
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    card = page.locator(f"#c-{hostile.id}")
    expect(card.locator(".text")).to_contain_text("<script>window.__pwned=1</script>")  # shown as text
    expect(card.locator(".author")).to_have_text(XSS)
    assert page.locator("#cards img, #cards script, #cards style, #panel img").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("body").is_visible()
    page.keyboard.press("r")
    expect(page.locator("#reason-list")).to_contain_text(XSS)
    assert page.locator("#reason-list img").count() == 0
    page.keyboard.press("1")
    expect(page.locator(FLAGGED_COUNT)).to_have_text("1")
    for path in (f"/comments/{hostile.id}", "/audit", "/queue?tab=all&sort=time", f"/queue?q=%3Cscript%3E"):
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.locator("main img, main script:not([type='application/json']), main style").count() == 0, path
    assert page.evaluate("window.__pwned") is None
    assert dialogs == [] and page.errors == []


def test_a_comment_posted_through_the_api_and_scored_by_the_model_shows_up_flagged(page, app, client, site, work, db):
    toxic = "Espèce de connard, tu n'es qu'un abruti et une ordure, ferme ta gueule."
    posted = client.post("/api/v1/comments", json={"text": toxic, "external_id": "e2e-1", "author_name": "Troll"},
                         headers=site.headers)
    assert posted.status_code == 202, posted.text
    client.post("/api/v1/comments", json={"text": "Merci pour cet article très clair.", "external_id": "e2e-2"},
                headers=site.headers)
    work()
    db.expire_all()
    comment = db.scalar(select(Comment).where(Comment.external_id == "e2e-1"))
    assert comment.status == "flagged" and comment.decided_by == "model"
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    card = page.locator(f"#c-{comment.id}")
    expect(card).to_contain_text("Troll")
    expect(card.locator(".text")).to_contain_text("ferme ta gueule")
    expect(card.locator(".decision")).to_contain_text("Modèle")
    expect(card.locator(".decision")).to_contain_text("toxique")  # the model's reason, said in words
    expect(page.locator(FLAGGED_COUNT)).to_have_text("1")
    if comment.result.spans:
        assert card.locator("mark.hl-model").count() >= 1  # the model's explanation is highlighted
    assert page.errors == []


def test_every_screen_renders_without_script_or_policy_errors(page, app, site, db):
    """Every screen loads its scripts and charts under the strict CSP (a blocked script or style, or a script
    error, is a console error). With VIGIE_SCREENSHOTS=1 this also makes the pictures in docs/dashboard.md."""
    from tests.dashboard_support import arrange_demo

    stored = db.get(Site, site.id)
    stored.name = "Le Journal"
    stored.policy = {**stored.policy, "words": {"banned": ["connard", "enculé"], "suspect": ["merde", "cons"],
                                                 "allowed": ["con (ville)"]}}
    demo = arrange_demo(db, site.id)
    db.commit()
    add_user(app, "camille")
    add_user(app, "root", role="admin")
    page.goto("/login")
    screenshot(page, "login")
    browser_login(page, "camille", PASSWORD)
    expect(page.locator("article.card.focused")).to_be_visible()
    expect(page.locator("#panel .author-stats")).to_be_visible()
    screenshot(page, "queue")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("r")
    expect(page.locator("#reason-dialog")).to_be_visible()
    screenshot(page, "reject-reasons")
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    screenshot(page, "shortcuts")
    page.keyboard.press("Escape")
    page.goto(f"/comments/{demo[1].id}")
    expect(page.locator(".timeline li")).to_have_count(2)
    screenshot(page, "comment")
    page.goto("/audit")
    expect(page.locator("tr.audit-row").first).to_be_visible()
    screenshot(page, "audit", full_page=True)
    page.goto("/stats")
    for chart in ("per-day", "flag-rate", "sources", "scores", "overturns"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('chart-{chart}'))"), chart
    screenshot(page, "stats", full_page=True)
    assert page.errors == []
    page.context.clear_cookies()
    browser_login(page, "root", PASSWORD)
    page.goto(f"/admin/sites/{site.id}")
    expect(page.locator("#threshold_toxicity")).to_be_visible()
    screenshot(page, "site-settings", full_page=True)
    page.goto("/admin/users")
    screenshot(page, "users")
    assert page.errors == []


def test_cards_say_who_decided_and_why_and_stop_saying_it_after_an_undo(page, app, site, db):
    target = add_comment(db, site.id, "Achetez mes montres pas chères", score=0.7, author_id="spam1")
    add_comment(db, site.id, "Un autre commentaire", score=0.6)
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.goto("/queue?tab=all&sort=oldest")  # oldest first: the spam comes first
    card = page.locator(f"#c-{target.id}")
    expect(page.locator("article.card").first).to_have_attribute("data-id", str(target.id))
    expect(card.locator(".moderation")).to_have_text("")
    card.locator("button[data-action=rejected]").click()
    expect(page.locator("#reason-dialog")).to_be_visible()
    page.fill("#reject-explanation", "Publicité déguisée, 3e fois cette semaine")
    page.click("#reason-list >> text=Spam")
    expect(card.locator(".status")).to_have_text("rejeté")
    expect(card.locator(".moderation")).to_contain_text("Rejeté par vous")
    expect(page.locator("#toast")).to_contain_text("1 commentaire rejeté. Motif : Spam.")

    page.reload()
    moderation = page.locator(f"#c-{target.id} .moderation")
    expect(moderation).to_contain_text("Rejeté par camille")
    expect(moderation).to_contain_text("Spam")
    expect(moderation).to_contain_text("Publicité déguisée, 3e fois cette semaine")
    entry = db.scalars(select(AuditEntry).where(AuditEntry.actor == "moderator")).one()
    assert entry.reasons == [{"kind": "reason", "text": "Spam"},
                             {"kind": "explanation", "text": "Publicité déguisée, 3e fois cette semaine"}]

    page.locator(f"#c-{target.id}").click()
    page.keyboard.press("u")
    expect(page.locator(f"#c-{target.id} .status")).to_have_text("à vérifier")
    expect(page.locator(f"#c-{target.id} .moderation")).to_have_text("")
    page.reload()
    expect(page.locator(f"#c-{target.id} .moderation")).to_have_text("")
    expect(page.locator(f"#c-{target.id}")).not_to_contain_text("Rejeté par")
    assert _statuses(db, [target.id]) == ["flagged"]
    assert page.errors == []


def test_the_explanation_field_takes_digits_and_enter_without_deciding(page, app, site, db):
    ids = [add_comment(db, site.id, f"Commentaire {i}", score=0.7).id for i in range(2)]
    db.commit()
    add_user(app, "camille")
    browser_login(page, "camille", PASSWORD)
    page.keyboard.press("r")
    page.click("#reject-explanation")
    page.keyboard.type("Lien vers 2 sites")
    page.keyboard.press("Enter")  # a new line, not a rejection
    expect(page.locator("#reason-dialog")).to_be_visible()
    assert _statuses(db, ids) == ["flagged", "flagged"]
    page.keyboard.press("Control+Enter")  # rejects, with the explanation and no listed reason
    expect(page.locator(FLAGGED_COUNT)).to_have_text("1")
    note = db.scalars(select(AuditEntry.note).where(AuditEntry.actor == "moderator")).one()
    assert note == "Lien vers 2 sites"
    assert page.errors == []


def test_axe_finds_no_critical_or_serious_violation_on_any_page(page, app, site, db):
    from tests.dashboard_support import arrange_demo

    demo = arrange_demo(db, site.id)
    db.commit()
    add_user(app, "root", role="admin")
    page.goto("/login")
    problems = {"/login": axe_violations(page)}
    browser_login(page, "root", PASSWORD)
    pages = ["/queue", "/queue?tab=all&sort=oldest", f"/comments/{demo[1].id}", "/audit", "/stats",
             "/admin/sites", f"/admin/sites/{site.id}", "/admin/users", "/comments/999999"]
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.locator("h1").count() >= 1, path
        problems[path] = axe_violations(page)
    page.goto("/queue")
    page.keyboard.press("r")
    expect(page.locator("#reason-dialog")).to_be_visible()
    problems["/queue (reject dialog)"] = axe_violations(page)
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    problems["/queue (shortcuts)"] = axe_violations(page)
    assert {path: found for path, found in problems.items() if found} == {}
    assert [e for e in page.errors if "404" not in e] == []  # (the missing comment's page answers 404)


@pytest.mark.browser
def test_admin_erases_a_comment_after_confirming(page, app, site, db):
    comment = add_comment(db, site.id, "Zéphyrin écrit une horreur à effacer.", author_id="z-1",
                          author_name="Zéphyrin")
    db.commit()
    add_user(app, "root", role="admin")
    browser_login(page, "root", PASSWORD)
    page.goto(f"/comments/{comment.id}")
    expect(page.locator("#cards")).to_contain_text("Zéphyrin écrit")
    page.once("dialog", lambda dialog: dialog.dismiss())  # a change of mind: nothing happens
    page.click("#erase-comment")
    expect(page.locator("#cards")).to_contain_text("Zéphyrin écrit")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#erase-comment")
    expect(page.locator(".flash")).to_contain_text("ont été effacés")
    expect(page.locator("#cards")).to_contain_text("Texte effacé")
    expect(page.locator("body")).not_to_contain_text("Zéphyrin")
    assert page.locator("#erase-comment").count() == 0
    db.expire_all()
    assert db.get(Comment, comment.id).text == ""
    assert page.errors == []
