"""Admin screens: site settings (thresholds, word lists, reasons, callback URL) applied to later comments and
written to the audit log, seed lexicons, API keys shown once and revocable, users and roles."""
from __future__ import annotations

import re

from sqlalchemy import select

from core.keys import site_for_key
from core.storage.models import AuditEntry, Site, User
from tests.dashboard_support import PASSWORD, add_user, csrf_from, login
from core.policy import LABELS, decide


def _settings_form(client, site_id, **changes):
    """The settings form as the browser would send it (every field), with some values changed."""
    html = client.get(f"/admin/sites/{site_id}").text
    form = {"csrf_token": csrf_from(html)}
    for name, value in re.findall(r'<input name="([\w]+)"[^>]*?value="([^"]*)"', html):
        form[name] = value
    for name, value in re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>', html, re.S):
        form[name] = value.replace("&#39;", "'")
    form["banned_action"] = "rejected"
    form.update(changes)
    return form


def test_settings_change_is_audited_and_applies_to_later_decisions(client, app, site, db):
    add_user(app, "root", role="admin")
    login(client, "root")
    form = _settings_form(client, site.id, threshold_toxicity="0.7", words_banned="patate\ncornichon",
                          words_allowed="con", reject_reasons="Insulte\nSpam\nHors sujet")
    response = client.post(f"/admin/sites/{site.id}", data=form)
    assert response.status_code == 302
    db.expire_all()
    stored = db.get(Site, site.id)
    assert stored.policy["thresholds"]["toxicity"] == 0.7 and stored.policy["words"]["banned"] == ["patate", "cornichon"]
    assert stored.reject_reasons == ["Insulte", "Spam", "Hors sujet"]
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "settings"))
    assert entry.actor == "admin" and entry.actor_name == "root" and entry.comment_id is None
    assert "thresholds.toxicity: model default → 0.7" in entry.note and "words.banned: +2" in entry.note
    # What the worker decides for the next comments of this site (core.policy reads Site.policy):
    low = dict.fromkeys(LABELS, 0.1)
    assert decide({**low, "toxicity": 0.65}, "bof", stored.policy).status == "approved"
    assert decide({**low, "toxicity": 0.75}, "bof", stored.policy).status == "flagged"
    banned = decide(low, "Quelle P.A.T.A.T.E celui-là", stored.policy)
    assert banned.status == "rejected" and banned.reasons[0]["term"] == "patate"
    assert "Réglages enregistrés" in client.get(f"/admin/sites/{site.id}").text


def test_invalid_settings_are_refused_with_the_reason(client, app, site, db):
    add_user(app, "root", role="admin")
    login(client, "root")
    before = db.get(Site, site.id).policy
    for change, message in (({"threshold_insult": "1.5"}, "compris entre 0 et 1"), ({"reject_threat": "beaucoup"}, "n’est pas un nombre"),
                            ({"callback_url": "javascript:alert(1)"}, "http:// ou https://"), ({"name": ""}, "Nom")):
        response = client.post(f"/admin/sites/{site.id}", data=_settings_form(client, site.id, **change))
        assert response.status_code == 400 and message in response.text, change
    db.expire_all()
    assert db.get(Site, site.id).policy == before
    assert db.scalar(select(AuditEntry).where(AuditEntry.action == "settings")) is None


def test_seed_lexicon_can_be_added_as_suggestions(client, app, site, db, tmp_path):
    lexicons = tmp_path / "lexicons"
    lexicons.mkdir()
    (lexicons / "injures.txt").write_text("abruti\nAbruti\nabrut1\ncrétin\n", encoding="utf-8")
    settings = app.extensions["vigie"].settings
    old, settings.lexicons_dir = settings.lexicons_dir, lexicons
    try:
        add_user(app, "root", role="admin")
        token = login(client, "root")
        page = client.get(f"/admin/sites/{site.id}").text
        assert "injures" in page and "2 termes" in page  # deduplicated by folded form
        client.post(f"/admin/sites/{site.id}/lexicon", data={"csrf_token": token, "lexicon": "injures", "list": "suspect"})
        db.expire_all()
        assert db.get(Site, site.id).policy["words"]["suspect"] == ["abruti", "crétin"]
        assert client.post(f"/admin/sites/{site.id}/lexicon", data={"csrf_token": token, "lexicon": "../etc/passwd",
                                                                     "list": "suspect"}).status_code == 400
    finally:
        settings.lexicons_dir = old


def test_api_key_is_shown_once_and_can_be_revoked(client, app, site, db):
    add_user(app, "root", role="admin")
    token = login(client, "root")
    page = client.post(f"/admin/sites/{site.id}/keys", data={"csrf_token": token, "name": "production"}).text
    plain = re.search(r'id="new-api-key">([^<]+)<', page).group(1)
    assert site_for_key(db, plain).id == site.id
    db.commit()  # site_for_key records the key's use
    assert plain not in client.get(f"/admin/sites/{site.id}").text  # never shown again
    assert client.post("/api/v1/comments", json={"text": "Bonjour"},
                       headers={"Authorization": f"Bearer {plain}"}).status_code == 202
    key_id = re.findall(r'/keys/(\d+)/revoke', page)[-1]
    client.post(f"/admin/sites/{site.id}/keys/{key_id}/revoke", data={"csrf_token": token})
    db.expire_all()
    assert site_for_key(db, plain) is None
    assert client.post("/api/v1/comments", json={"text": "Bonjour"},
                       headers={"Authorization": f"Bearer {plain}"}).status_code == 401
    actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "admin")))
    assert {"key_created", "key_revoked"} <= actions


def test_admin_creates_sites_and_users_and_deactivation_ends_access(client, app, db):
    add_user(app, "root", role="admin")
    token = login(client, "root")
    created = client.post("/admin/sites", data={"csrf_token": token, "slug": "sud-ouest", "name": "Sud Ouest"})
    assert created.status_code == 200 and re.search(r'id="new-api-key">vg_', created.text)
    assert client.post("/admin/sites", data={"csrf_token": token, "slug": "Bad Slug!"}).status_code == 400
    assert client.post("/admin/users", data={"csrf_token": token, "username": "lea", "password": "court",
                                             "role": "moderator"}).status_code == 400
    client.post("/admin/users", data={"csrf_token": token, "username": "lea", "password": PASSWORD, "role": "moderator"})
    lea = db.scalar(select(User).where(User.username == "lea"))
    assert lea.role == "moderator" and lea.password_hash.startswith("$argon2")

    other = app.test_client()
    login(other, "lea")
    assert other.get("/").status_code == 200
    client.post(f"/admin/users/{lea.id}", data={"csrf_token": token, "role": "moderator", "active": "0"})
    assert other.get("/").status_code == 302  # her open session ends at once
    me = db.scalar(select(User).where(User.username == "root"))
    assert client.post(f"/admin/users/{me.id}", data={"csrf_token": token, "role": "moderator",
                                                       "active": "1"}).status_code == 400


def test_admin_entries_of_the_audit_log_are_written_in_the_reader_s_language(client, app, site, db):
    """A settings change, a key and a user are stored as data and worded on the audit page in the reader's
    language (French by default, English for a moderator who chose it), never in the writer's."""
    add_user(app, "root", role="admin")
    token = login(client, "root")
    form = _settings_form(client, site.id, threshold_toxicity="0.7", words_banned="patate\ncornichon",
                          reject_reasons="Insulte\nSpam", timezone="Europe/Brussels")
    assert client.post(f"/admin/sites/{site.id}", data=form).status_code == 302
    client.post(f"/admin/sites/{site.id}/keys", data={"csrf_token": token, "name": "Coral"})
    client.post("/admin/users", data={"csrf_token": token, "username": "lea", "role": "moderator",
                                      "password": "un mot de passe solide"})
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "settings"))
    assert {"kind": "setting", "field": "threshold", "label": "toxicity", "from": None, "to": 0.7} in entry.reasons

    french = client.get("/audit").text
    for text in ("Seuil de signalement pour « Toxicité » : défaut du modèle → 0,7",
                 "Mots « interdits » : 2 ajoutés (« cornichon », « patate »)",
                 "Fuseau horaire : Europe/Paris → Europe/Brussels", "Motifs de rejet : Insulte, Spam",
                 "Clé d’API", "(Coral) créée", "Utilisateur lea (modérateur) créé"):
        assert text in french.replace("&#39;", "'"), text
    for english in ("thresholds.toxicity", "model default", "API key", "user lea"):  # the stored English summaries
        assert english not in french, english

    with app.extensions["vigie"].db.session() as session:
        session.scalar(select(User).where(User.username == "root")).locale = "en"
        session.commit()
    english = client.get("/audit").text
    assert "Flag threshold for “Toxicity”: model default → 0.7" in english
    assert "User lea (moderator) created" in english and "Seuil" not in english
