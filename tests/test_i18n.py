"""The dashboard in French by default, English on request: every template string goes through the catalogue, the
catalogue is complete and compiled, the language follows the user's setting then the browser, and dates, numbers,
label names and scores read the way a French moderator expects."""
from __future__ import annotations

import gettext as stdlib_gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from service.dashboard.queries import fold_text
from core.storage.models import Site, User
from tests.dashboard_support import add_comment, add_user, login

DASHBOARD = Path(__file__).resolve().parents[1] / "service" / "dashboard"
TEMPLATES = DASHBOARD / "templates"
TRANSLATIONS = DASHBOARD / "translations"
ROOT = Path(__file__).resolve().parents[1]

# Jinja constructs: a {% trans %} block is translated as a whole; other tags and expressions are replaced by a
# placeholder (what they print is checked separately, below).
TRANS_BLOCK = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}"
                         r"|{%\s*block\s+\w*_class\s*%}.*?{%\s*endblock\s*%}", re.S)  # (CSS class names)
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)
WORD = re.compile(r"[^\W\d_]{2,}")
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-confirm", "aria-description"}
# Not words to translate: the product's name; URLs given as examples.
ALLOWED_WORDS = {"Vigie"}


def _needs_translation(text: str) -> bool:
    text = text.strip()
    if re.fullmatch(r"https?://\S+", text):
        return False
    return any(word not in ALLOWED_WORDS for word in WORD.findall(text))


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.found.append(value)
            if name == "value" and tag in ("button",) and value:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def untranslated(source: str) -> list[str]:
    """User-visible words of a template outside _() / {% trans %}."""
    stripped = JINJA.sub(" ", TRANS_BLOCK.sub(" ", source))
    parser = _TextCollector()
    parser.feed(stripped)
    parser.close()
    bad = [t.strip() for t in parser.found if _needs_translation(t)]
    # Literals printed by expressions: {{ x or 'Anonymous' }} shows English unless it is inside _().
    for expression in re.findall(r"{{(.*?)}}", TRANS_BLOCK.sub(" ", source), re.S):
        bare = re.sub(r"ngettext\(\s*(['\"]).*?\1\s*,\s*(['\"]).*?\2", "ngettext(", expression)
        bare = re.sub(r"_\(\s*(['\"]).*?\1", "_(", bare)
        for literal in re.findall(r"'([^']*)'|\"([^\"]*)\"", bare):
            text = literal[0] or literal[1]
            if re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}|^[A-Z][a-z]+$", text):
                bad.append(text)
    return bad


def test_the_checker_finds_an_untranslated_string():
    assert untranslated('<p title="Hello there">{{ _("Fine") }}</p>') == ["Hello there"]
    assert untranslated("<button>Reject <kbd>r</kbd></button>") == ["Reject"]
    assert untranslated("<b>{{ name or 'Anonymous' }}</b>") == ["Anonymous"]
    assert untranslated("<b>{{ name or _('Anonymous') }}</b> <kbd>j</kbd> · 42 → —") == []
    assert untranslated("{% trans %}Hello {{ name }}{% endtrans %}") == []
    assert untranslated('{{ ngettext("Reported once", "Reported %(num)s times", n) }}') == []
    assert untranslated("{{ n or 'Not once' }}") == ["Not once"]


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_every_template_string_goes_through_the_catalogue(template):
    assert untranslated((TEMPLATES / template).read_text(encoding="utf-8")) == []


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(DASHBOARD), method_map,
                                                                        keywords=keywords):
        ids.update(message if isinstance(message, tuple) else (message,))
    return {m for m in ids if m}


def test_the_french_catalogue_translates_every_string_and_its_compiled_file_is_current():
    with open(TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalogue = read_po(fh)
    translated = {m.id: m.string for m in catalogue if m.id and not m.fuzzy
                  and (all(m.string) if isinstance(m.string, tuple) else m.string)}
    known = {i for ids in translated for i in (ids if isinstance(ids, tuple) else (ids,))}
    missing = sorted(_extracted() - known)
    assert missing == [], f"not translated in fr/messages.po (run `make translations`, then translate): {missing}"
    with open(TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.mo", "rb") as fh:
        compiled = stdlib_gettext.GNUTranslations(fh)
    stale = [i for i, s in translated.items() if (compiled.gettext(i) != s if isinstance(i, str) else
                                                  [compiled.ngettext(i[0], i[1], n) for n in (1, 2)] != list(s[:2]))]
    assert stale == [], f"messages.mo is older than messages.po (run `make translations`): {stale[:5]}"


def test_french_by_default_english_on_request_and_the_users_own_choice_first(app, client, site, db):
    page = client.get("/login")
    assert '<html lang="fr">' in page.text and "Nom d’utilisateur" in page.text and "Se connecter" in page.text
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text and "Username" in english.text
    assert 'lang="fr"' in client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).text

    add_user(app, "camille")
    token = login(client, "camille")
    queue = client.get("/queue", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in queue.text and "To review" in queue.text
    response = client.post("/account/language", data={"language": "fr", "next": "/audit", "csrf_token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/audit")
    db.expire_all()
    assert db.query(User).filter_by(username="camille").one().locale == "fr"
    queue = client.get("/queue", headers={"Accept-Language": "en"})  # the account's choice wins over the browser
    assert '<html lang="fr">' in queue.text and "À vérifier" in queue.text and "Déconnexion" in queue.text
    # An unknown language or an outside "next" changes nothing and goes back to the queue.
    response = client.post("/account/language", data={"language": "xx", "next": "//evil.example", "csrf_token": token})
    assert response.headers["Location"].endswith("/queue")


def test_cards_speak_french_dates_in_the_sites_time_zone_and_scores_in_words(app, client, site, db):
    from datetime import datetime, timezone

    comment = add_comment(db, site.id, "Une tempête de bêtises", score=0.92, scores={"identity_attack": 0.86},
                          reasons=[{"kind": "score", "label": "toxicity", "score": 0.92, "threshold": 0.41}],
                          spans=[{"start": 4, "end": 11, "text": "tempête", "weight": 0.00147}])
    comment.received_at = datetime(2026, 7, 14, 21, 5, tzinfo=timezone.utc)
    db.commit()
    add_user(app, "camille")
    login(client, "camille")
    html = client.get("/queue").text
    assert "14 juil. 2026, 23:05" in html  # 21:05 UTC is 23:05 in Paris in summer
    assert "Très probablement toxique (92\u00a0%)" in html  # the reason in words, with the figures on hover
    assert 'title="Toxicité : score 0,92, seuil de signalement 0,41"' in html
    assert "0.92 ≥ 0.41" not in html and "model: +" not in html
    assert "Le mot qui a le plus pesé dans le score (poids 0,00147)" in html
    assert "Attaque identitaire" in html and "Identity attack" not in html

    stored = db.get(Site, site.id)
    stored.timezone = "America/Martinique"
    db.commit()
    assert "14 juil. 2026, 17:05" in client.get("/queue").text


def test_an_admin_sets_the_sites_time_zone_and_a_wrong_one_is_refused_in_french(app, client, site, db):
    add_user(app, "root", role="admin")
    token = login(client, "root")
    form = {"csrf_token": token, "name": "Le Monde (test)", "timezone": "Indian/Reunion", "banned_action": "rejected"}
    assert client.post(f"/admin/sites/{site.id}", data=form).status_code == 302
    db.expire_all()
    assert db.get(Site, site.id).timezone == "Indian/Reunion"
    refused = client.post(f"/admin/sites/{site.id}", data={**form, "timezone": "Mars/Olympus"})
    assert refused.status_code == 400 and "n’est pas un fuseau horaire" in refused.text
    db.expire_all()
    assert db.get(Site, site.id).timezone == "Indian/Reunion"


def test_dashboard_errors_are_in_french(app, client, site, db):
    add_user(app, "camille")
    login(client, "camille")
    missing = client.get("/comments/999999")
    assert missing.status_code == 404 and "Page introuvable" in missing.text and "Commentaire introuvable." in missing.text
    bad = client.get("/queue?sort=sideways")
    assert bad.status_code == 400 and "sort : doit être l’un de" in bad.text


def test_search_ignores_accents_and_case():
    assert fold_text("TEMPÊTE sur l’Œuvre") == "tempete sur l'oeuvre"


def test_every_message_the_scripts_show_is_in_the_pages_catalogue(app):
    """The scripts show text only through Vigie.t/tn, with keys the page's JSON catalogue has, in French."""
    from service.dashboard.i18n import js_messages

    static = DASHBOARD / "static"
    source = "\n".join(p.read_text(encoding="utf-8") for p in static.glob("*.js"))
    keys = set(re.findall(r"\bt\(\"(\w+)\"(?! \+)", source))
    keys |= {f"{k}_{form}" for k in re.findall(r"\btn\(\"(\w+)\"", source) for form in ("one", "other")}
    keys |= {f"{k}_{form}" for k in ("approved", "rejected") for form in ("one", "other")}  # tn(status, n)
    keys |= {f"status_{s}" for s in ("pending", "flagged", "approved", "rejected")}  # t("status_" + status)
    keys |= {f"decided_by_you_{s}" for s in ("approved", "rejected")}
    keys |= {f"actor_{a}" for a in ("model", "rule", "moderator", "admin", "system")}
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        catalogue = js_messages()
    assert sorted(keys - set(catalogue)) == []
    assert catalogue["selected_other"] == "{n} commentaires sélectionnés"
    assert catalogue["status_flagged"] == "à vérifier" and catalogue["actor_rule"] == "Liste de mots"
    # No English sentence hard-coded in a script: text shown to people is a catalogue lookup.
    for literal in re.findall(r"\"([^\"\n]*)\"", source):
        assert not re.fullmatch(r"[A-Z][a-z]+(?: [a-z]+){2,}.*", literal), literal
