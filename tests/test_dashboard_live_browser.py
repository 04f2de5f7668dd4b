"""The live queue, two moderators and the phone, in a real browser (headless chromium, French): a second browser
sees a comment scored by the real worker appear without a reload behind "1 nouveau commentaire — afficher" and a
card another moderator decided leave its queue; a decision on a comment decided meanwhile is refused with who and
when; on a phone (390 px, touch) a comment is rejected with a reason by tapping, without sideways scrolling.

The pages' polls are driven by Playwright's clock (installed, then paused): a poll happens when the test moves time
on, so no assertion depends on how fast this machine is."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.storage.models import AuditEntry, Comment, Site
from tests.browser_support import (CHROMIUM, axe_violations, browser, browser_login, live_server, page,  # noqa: F401
                                   screenshot)
from tests.dashboard_support import PASSWORD, add_comment, add_user

pytestmark = pytest.mark.browser

FLAGGED_COUNT = '.tab [data-count="flagged"]'
POLL_MS = 5000


def _context(browser, live_server, **options):
    settings = {"viewport": {"width": 1440, "height": 900}, "locale": "fr-FR", "timezone_id": "Europe/Paris",
                **options}
    context = browser.new_context(base_url=live_server, **settings)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def _open_queue_with_a_paused_clock(page, username, path="/queue"):
    page.clock.install()
    browser_login(page, username, PASSWORD)
    if path != "/queue":
        page.goto(path)
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads


def _poll(page):
    """Let the page's poll run once (the clock moves on by one interval), and wait for its answer."""
    with page.expect_response(lambda r: "/queue/live?" in r.url):
        page.clock.run_for(POLL_MS)


def _status(db, comment_id):
    db.expire_all()
    return db.get(Comment, comment_id).status


def test_a_second_browser_sees_a_new_comment_and_another_moderator_s_decision_without_reload(
        page, browser, live_server, app, client, site, work, db):
    existing = add_comment(db, site.id, "Commentaire déjà dans la file", score=0.8)
    db.commit()
    add_user(app, "camille")
    add_user(app, "marie")
    _open_queue_with_a_paused_clock(page, "camille")
    expect(page.locator(f"#c-{existing.id}")).to_be_visible()
    expect(page.locator("#live-new")).to_be_hidden()

    marie = _context(browser, live_server)
    try:
        browser_login(marie, "marie", PASSWORD)
        marie.locator(f"#c-{existing.id} button[data-action=approved]").click()
        expect(marie.locator("#toast")).to_contain_text("1 commentaire approuvé")
        assert marie.errors == []
    finally:
        marie.context.close()
    toxic = "Espèce de connard, tu n'es qu'un abruti et une ordure, ferme ta gueule."
    posted = client.post("/api/v1/comments", json={"text": toxic, "external_id": "live-1", "author_name": "Troll"},
                         headers=site.headers)
    assert posted.status_code == 202, posted.text
    work()
    arrived = db.scalar(select(Comment).where(Comment.external_id == "live-1"))
    assert arrived.status == "flagged" and arrived.decided_by == "model"

    _poll(page)
    expect(page.locator(f"#c-{existing.id}")).to_have_count(0)  # decided elsewhere: it left "À vérifier"
    expect(page.locator("#toast")).to_contain_text(f"Le commentaire n° {existing.id} a été approuvé par marie.")
    banner = page.locator("#live-new")
    expect(banner).to_have_text("1 nouveau commentaire — afficher")
    expect(page.locator(FLAGGED_COUNT)).to_have_text("1")
    expect(page.locator(f"#c-{arrived.id}")).to_have_count(0)  # waiting behind the button, not pushed in
    banner.click()
    card = page.locator(f"#c-{arrived.id}")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Troll")
    expect(card).to_have_class("card card-new focused")
    expect(banner).to_be_hidden()
    page.keyboard.press("r")  # the keyboard flow goes on with the new card
    expect(page.locator("#reason-dialog")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(FLAGGED_COUNT)).to_have_text("0")
    assert _status(db, arrived.id) == "rejected"
    assert page.evaluate("window.__sameDocument") is True
    page.clock.resume()  # (axe-core waits on timers)
    assert axe_violations(page) == []
    assert page.errors == []


def test_a_second_moderator_deciding_an_already_decided_comment_is_refused_with_who_and_when(
        page, browser, live_server, app, site, db):
    contested = add_comment(db, site.id, "Commentaire que deux modérateurs ont à l'écran", score=0.9)
    other = add_comment(db, site.id, "Un autre commentaire", score=0.6)
    db.commit()
    add_user(app, "camille")
    add_user(app, "marie")
    _open_queue_with_a_paused_clock(page, "camille")  # no poll will tell Camille before she acts
    marie = _context(browser, live_server)
    try:
        browser_login(marie, "marie", PASSWORD)
        expect(marie.locator("article.card.focused")).to_have_attribute("data-id", str(contested.id))
        marie.keyboard.press("r")
        marie.keyboard.press("Enter")
        expect(marie.locator("#toast")).to_contain_text("1 commentaire rejeté")
    finally:
        marie.context.close()
    assert _status(db, contested.id) == "rejected"

    expect(page.locator("article.card.focused")).to_have_attribute("data-id", str(contested.id))
    page.keyboard.press("a")
    toast = page.locator("#toast")
    expect(toast).to_have_class("toast toast-error")
    expect(toast).to_have_text(__import__("re").compile(r"Déjà rejeté par marie à \d\d:\d\d\."))
    # The refusal makes the page catch up at once: the card leaves the queue, the next one is focused.
    expect(page.locator(f"#c-{contested.id}")).to_have_count(0)
    expect(page.locator("article.card.focused")).to_have_attribute("data-id", str(other.id))
    expect(page.locator(FLAGGED_COUNT)).to_have_text("1")
    assert _status(db, contested.id) == "rejected"
    assert db.scalars(select(AuditEntry).where(AuditEntry.actor_name == "camille")).all() == []
    assert page.errors == [] or all("409" in e for e in page.errors)


def test_on_a_phone_a_comment_is_rejected_with_a_reason_by_touch_without_sideways_scrolling(
        browser, live_server, app, site, db):
    from tests.dashboard_support import arrange_demo

    stored = db.get(Site, site.id)
    stored.name = "Le Journal"
    demo = arrange_demo(db, site.id)
    long_word = add_comment(db, site.id, "Regardez " + "x" * 300 + " https://exemple.fr/" + "a" * 200, score=0.95,
                            author_id="troll", author_name="Un pseudonyme vraiment très long pour un petit écran",
                            thread_url="https://exemple.fr/" + "b" * 300)
    db.commit()
    add_user(app, "camille")
    phone = _context(browser, live_server, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                     device_scale_factor=2)
    try:
        browser_login(phone, "camille", PASSWORD)
        card = phone.locator(f"#c-{long_word.id}")
        expect(card).to_be_visible()

        def no_sideways_scroll(where):
            width = phone.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, f"{where}: the page is {width} px wide"

        no_sideways_scroll("queue")
        for button in (card.locator(".btn-reject"), card.locator(".btn-approve"), card.locator(".card-details")):
            box = button.bounding_box()
            assert box["height"] >= 44 and box["width"] >= 44, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        screenshot(phone, "phone-queue")

        # The author panel: one tap away from each card, on screen (not below every card).
        expect(phone.locator("#panel")).to_be_hidden()
        phone.locator(f"#c-{demo[0].id} .card-details").tap()
        panel = phone.locator("#panel")
        expect(panel.locator(".author-stats")).to_be_visible()
        expect(panel).to_contain_text(demo[0].author_name)
        box = panel.bounding_box()
        assert box["y"] >= 0 and box["y"] < 844 and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        expect(phone.locator("#panel-toggle")).to_have_text("Fermer le détail")
        assert axe_violations(phone) == []
        screenshot(phone, "phone-panel")
        phone.locator("#panel-toggle").tap()
        expect(panel).to_be_hidden()

        card.locator(".btn-reject").tap()
        dialog = phone.locator("#reason-dialog")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
        for choice in phone.locator("#reason-list .reason-choice").all():
            assert choice.bounding_box()["height"] >= 44
        assert axe_violations(phone) == []
        no_sideways_scroll("reject dialog")
        phone.locator("#reject-explanation").tap()
        phone.locator("#reject-explanation").fill("Lien publicitaire")
        screenshot(phone, "phone-reject")
        phone.locator("#reason-list .reason-choice", has_text="Spam").tap()
        expect(dialog).to_be_hidden()
        expect(card).to_have_count(0)
        expect(phone.locator("#toast")).to_contain_text("1 commentaire rejeté. Motif : Spam.")
        assert _status(db, long_word.id) == "rejected"
        entry = db.scalars(select(AuditEntry).where(AuditEntry.comment_id == long_word.id,
                                                    AuditEntry.actor == "moderator")).one()
        assert entry.actor_name == "camille" and entry.reasons == [
            {"kind": "reason", "text": "Spam"}, {"kind": "explanation", "text": "Lien publicitaire"}]

        for path in (f"/comments/{demo[1].id}", "/audit", "/stats", "/queue?tab=all"):
            phone.goto(path)
            phone.wait_for_load_state("load")
            no_sideways_scroll(path)
        phone.goto(f"/comments/{demo[1].id}")
        phone.locator("button[data-action=rejected]").tap()
        expect(phone.locator("#reason-dialog")).to_be_visible()
        no_sideways_scroll("comment page, reject dialog")
        assert phone.errors == []
    finally:
        phone.context.close()
