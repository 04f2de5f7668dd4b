"""Learning from moderators (issue 13): decisions become labels (`vigie labels export`), the model is measured
against them (`vigie eval --site` and the Stats panel show the same figures), a site's own model is trained,
promoted and rolled back, and suggested thresholds are applied in one click."""
from __future__ import annotations

import csv
import io
import json
import re
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from safetensors.torch import load as safetensors_load
from click.testing import CliRunner
from sqlalchemy import select

from core.cli import main
from core.connection import redis_url_for
from core.decisions import record_decision
from core.storage.models import AuditEntry, Comment, ModelResult, Site, SiteModel
from tests.dashboard_support import add_comment, add_user, csrf_from, login

BASE = json.loads((Path(__file__).resolve().parents[1] / "workers/model/default/config.json").read_text())["version"]
# the shipped default model's version: a site model's version is BASE+site-<slug>.<n>

TARGETED = ["Espèce d'abruti, tu ne comprends rien à rien.", "T'es vraiment un gros con, retourne à l'école.",
            "Ferme-la, pauvre idiot, personne ne t'a sonné.", "Toi t'es qu'une ordure et un menteur.",
            "Bande de crétins, vous êtes tous des imbéciles.", "Va te faire voir, sale minable.",
            "Quel connard ce journaliste, il mérite des baffes.", "Tu es débile ou tu le fais exprès ?"]
PROFANE = ["Putain, quel match incroyable hier soir !", "Merde, j'ai raté le début de l'émission.",
           "Bordel, ce gratin est trop bon.", "Putain de bouchons ce matin sur le périph.",
           "Oh merde, il pleut encore à Brest.", "Cette série est putain de géniale."]
FINE = ["Merci pour cet article très complet.", "Je ne suis pas d'accord avec l'auteur mais c'est argumenté.",
        "La ligne 14 sera-t-elle prolongée avant l'été ?", "Très bon reportage, bravo à la rédaction.",
        "Le conseil municipal vote le budget jeudi.", "Quelqu'un a le lien vers l'étude citée ?",
        "J'habite à Lyon et les travaux durent depuis des mois.", "Belle photo de la cathédrale au lever du jour."]


@pytest.fixture
def env(settings):
    return {"VIGIE_DATABASE_URL": settings.resolved_database_url, "VIGIE_REDIS_URL": redis_url_for(settings),
            "VIGIE_DATA_DIR": str(settings.data_dir), "VIGIE_SECRET_KEY": "test-secret",
            "VIGIE_MODEL_CACHE": str(settings.resolved_model_cache)}


def vigie(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _decide(client, token, ids, status, reason=None):
    body = {"ids": ids, "status": status, "query": "tab=flagged"}
    if reason:
        body["reason"] = reason
    return client.post("/actions/decide", json=body, headers={"X-CSRFToken": token})


def _export(env, slug, *extra) -> list[dict]:
    result = vigie(env, "labels", "export", "--site", slug, *extra)
    assert result.exit_code == 0, result.output
    text = result.stdout if hasattr(result, "stdout") else result.output
    return list(csv.DictReader(io.StringIO(text[text.index("comment_id"):])))


def test_dashboard_and_api_decisions_become_labels_in_the_export(client, app, site, db, work, env):
    texts = ["Espèce d'abruti, tu ne comprends rien.", "Merci pour ce reportage.", "Achetez mes montres pas chères",
             "Toi je vais te retrouver.", "Encore un article sur la météo."]
    ids = [client.post("/api/v1/comments", json={"text": t, "external_id": f"x{i}"}, headers=site.headers).json["id"]
           for i, t in enumerate(texts)]
    work()
    add_user(app, "camille")
    token = login(client, "camille")
    assert _decide(client, token, [ids[0]], "rejected", reason="Insulte").status_code == 200
    # the REST API's override is a human decision too
    override = client.post(f"/api/v1/comments/{ids[1]}/decision", json={"decision": "approve", "moderator": "lea"},
                           headers=site.headers)
    assert override.status_code == 200
    assert _decide(client, token, [ids[2]], "rejected", reason="Spam").status_code == 200
    assert _decide(client, token, [ids[2]], "approved").status_code == 200  # the latest human decision wins
    assert _decide(client, token, [ids[3]], "rejected", reason="Menace").status_code == 200
    assert client.post("/actions/undo", json={"query": ""}, headers={"X-CSRFToken": token}).status_code == 200
    # Perspective suggestscore: a label with no comment behind it
    suggest = client.post(f"/v1alpha1/comments:suggestscore?key={site.api_key}",
                          json={"comment": {"text": "Sale type, dégage."}, "languages": ["fr"],
                                "attributeScores": {"INSULT": {"summaryScore": {"value": 1.0}}}})
    assert suggest.status_code == 200

    rows = _export(env, site.slug)
    by_text = {r["text"]: r for r in rows}
    assert set(by_text) == {texts[0], texts[1], texts[2], "Sale type, dégage."}  # the undone rejection is absent
    insult = by_text[texts[0]]
    assert insult["label"] == "1" and insult["labels"] == "toxicity;insult" and insult["moderator"] == "camille"
    assert insult["reason"] == "Insulte" and insult["model_name"] == "vigie-fr-toxicity"
    stored = db.get(ModelResult, db.scalar(select(ModelResult.id).where(ModelResult.comment_id == ids[0])))
    assert float(insult["score_toxicity"]) == pytest.approx(stored.scores["toxicity"], abs=1e-6)
    assert insult["model_version"] == stored.model_version
    assert by_text[texts[1]]["label"] == "0" and by_text[texts[1]]["labels"] == ""
    assert by_text[texts[1]]["moderator"] == "lea"
    assert by_text[texts[2]]["label"] == "0" and by_text[texts[2]]["moderator"] == "camille"
    assert by_text["Sale type, dégage."]["source"] == "suggestscore"
    assert by_text["Sale type, dégage."]["labels"] == "toxicity;insult"
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert _export(env, site.slug, "--since", future) == []
    missing = vigie(env, "labels", "export", "--site", "nope")
    assert missing.exit_code != 0 and "no site" in missing.output


def _arrange_labelled(db, site_id: int, n_each: int = 30, start: datetime | None = None, tag: str = "a") -> None:
    """Moderator decisions on scored comments: toxic ones mostly scored high, fine ones mostly low, a few each way
    wrong; received and decided in order, an hour apart."""
    start = start or datetime.now(timezone.utc) - timedelta(days=5)
    for i in range(2 * n_each):
        toxic = i % 2 == 0
        k = i // 2
        score = (0.55 + (k % 9) * 0.05) if toxic else (0.05 + (k % 9) * 0.05)
        if k % 10 == 3:
            score = 1.0 - score  # disagreements
        comment = add_comment(db, site_id, f"{'toxique' if toxic else 'correct'} {tag} numéro {i}", score=score,
                              status="flagged" if score >= 0.41 else "approved",
                              scores={"insult": score * 0.8 if toxic else score * 0.3})
        comment.received_at = start + timedelta(hours=i)
        entry = record_decision(db, comment, "rejected" if toxic else "approved", actor="moderator",
                                actor_name="camille",
                                reasons=[{"kind": "reason", "text": "Insulte"}] if toxic else [])
        entry.created_at = start + timedelta(hours=i, minutes=5)
    db.commit()


def _panel_value(html: str, element_id: str) -> float:
    match = re.search(rf'id="{element_id}" data-value="([^"]*)"', html)
    assert match, f"{element_id} not on the page"
    return float(match.group(1))


def test_eval_cli_and_stats_panel_show_the_same_figures(client, app, site, db, env, tmp_path):
    add_user(app, "camille")
    login(client, "camille")
    _arrange_labelled(db, site.id, n_each=10)  # 20 decisions: below the minimum
    page = client.get(f"/stats?site={site.id}&days=30").text
    assert 'id="feedback-not-enough"' in page and "50" in page
    out = vigie(env, "eval", "--site", site.slug)
    assert out.exit_code == 0 and "not enough decisions" in out.output

    _arrange_labelled(db, site.id, n_each=30, start=datetime.now(timezone.utc) - timedelta(days=4), tag="b")
    json_path = tmp_path / "eval.json"
    since = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    result = vigie(env, "eval", "--site", site.slug, "--since", since, "--json", str(json_path))
    assert result.exit_code == 0, result.output
    figures = json.loads(json_path.read_text())
    assert figures["enough"] and figures["decisions"] == 80 and figures["rejected"] == 40
    assert "agreement" in result.output and "vigie-fr-toxicity test" in result.output
    page = client.get(f"/stats?site={site.id}&days=30").text
    assert "Le modèle face à vos modérateurs" in page  # French by default
    for key in ("agreement", "precision", "recall"):
        assert _panel_value(page, f"fb-{key}") == pytest.approx(figures["policy"][key], abs=1e-9)
    rows = dict(re.findall(r'<tr data-label="(\w+)">.*?class="auc" data-value="([^"]*)"', page, re.S))
    assert rows["toxicity"] and float(rows["toxicity"]) == pytest.approx(figures["labels"]["toxicity"]["roc_auc"])
    assert float(rows["insult"]) == pytest.approx(figures["labels"]["insult"]["roc_auc"])
    best = dict(re.findall(r'<tr data-label="(\w+)">.*?class="best" data-value="([^"]*)"', page, re.S))
    assert float(best["toxicity"]) == figures["labels"]["toxicity"]["best"]["threshold"]
    # the policy flagged 0.41 and above: the arranged disagreements are what keeps it from 100%
    assert 0.7 < figures["policy"]["agreement"] < 1.0 and 0.7 < figures["labels"]["toxicity"]["roc_auc"] < 1.0


def test_a_suggested_threshold_is_applied_in_one_click_and_audited(client, app, site, db):
    add_user(app, "admin1", role="admin")
    login(client, "admin1")
    _arrange_labelled(db, site.id, n_each=30)
    page = client.get(f"/admin/sites/{site.id}/model")
    assert page.status_code == 200 and "Seuils suggérés" in page.text
    token = csrf_from(page.text)
    match = re.search(r'name="label" value="toxicity"><input type="hidden" name="kind" value="flag">'
                      r'<input type="hidden" name="value" value="([0-9.]+)"', page.text)
    assert match, "no flag suggestion for toxicity"
    value = float(match.group(1))
    response = client.post(f"/admin/sites/{site.id}/thresholds/apply",
                           data={"csrf_token": token, "label": "toxicity", "kind": "flag", "value": match.group(1)})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Site, site.id).policy["thresholds"]["toxicity"] == value
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "settings")).one()
    assert entry.actor_name == "admin1" and "thresholds.toxicity" in entry.note
    bad = client.post(f"/admin/sites/{site.id}/thresholds/apply",
                      data={"csrf_token": token, "label": "toxicity", "kind": "flag", "value": "2"})
    assert bad.status_code == 400
    add_user(app, "modo")
    client.post("/logout", data={"csrf_token": token})
    login(client, "modo")
    assert client.get(f"/admin/sites/{site.id}/model").status_code == 403


def _arrange_site_policy(db, site_id: int, scorer, rounds: int = 4) -> None:
    """A site whose moderators let untargeted profanity pass and reject insults, scored by the real model."""
    start = datetime.now(timezone.utc) - timedelta(days=3)
    items = []
    for r in range(rounds):
        for t in TARGETED:
            items.append((t + " " * r, 1))
        for t in PROFANE + FINE:
            items.append((t + " " * r, 0))
    items.sort(key=lambda x: zlib.crc32(x[0].encode()))
    scores = scorer.predict([t for t, _ in items])
    for i, ((text, toxic), s) in enumerate(zip(items, scores)):
        comment = add_comment(db, site_id, f"{text} #{i}", score=s["toxicity"], scores=s)
        entry = record_decision(db, comment, "rejected" if toxic else "approved", actor="moderator",
                                actor_name="camille",
                                reasons=[{"kind": "reason", "text": "Insulte"}] if toxic else [])
        entry.created_at = start + timedelta(minutes=10 * i)
    db.commit()


def test_train_a_site_model_promote_it_and_roll_back(client, app, site, db, work, env, scorer, monkeypatch):
    _arrange_site_policy(db, site.id, scorer)
    monkeypatch.setattr(app.extensions["vigie"].settings, "site_train_base_rows", 40)  # few rows, few steps:
    monkeypatch.setattr(app.extensions["vigie"].settings, "site_train_steps", 60)  # the suite stays fast
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # --data-dir data (the base sample)
    result = vigie(env, "train", "--site", site.slug, "--base-rows", "40", "--steps", "60")
    assert result.exit_code == 0, result.output
    assert f"candidate vigie-fr-toxicity {BASE}+site-lemonde-test.1" in result.output
    model = db.scalars(select(SiteModel)).one()
    assert model.status == "candidate"
    assert set(safetensors_load(model.weights)) == {"weight", "bias"}  # safetensors, never a pickle
    assert set(model.metrics) >= {"default", "candidate", "trained_on", "held_back", "train_seconds"}
    assert model.metrics["held_back"] >= 10

    def post_and_score(text):
        comment_id = client.post("/api/v1/comments", json={"text": text}, headers=site.headers).json["id"]
        work()
        db.expire_all()
        return db.get(Comment, comment_id).result

    before = post_and_score("Putain, quelle belle journée.")
    assert before.model_name == "vigie-fr-toxicity" and before.model_version == BASE
    add_user(app, "admin1", role="admin")
    token = login(client, "admin1")
    page = client.get(f"/admin/sites/{site.id}/model").text
    assert f"{BASE}+site-lemonde-test.1" in page and "Promouvoir" in page
    assert client.post(f"/admin/sites/{site.id}/model/{model.id}/promote",
                       data={"csrf_token": token}).status_code == 302
    after = post_and_score("Putain, quelle belle soirée.")
    assert after.model_name == "vigie-fr-toxicity" and after.model_version == f"{BASE}+site-lemonde-test.1"
    assert after.threshold == pytest.approx(model.threshold)

    # the dashboard's button: a background job trains a second candidate, its progress shown on the page
    assert client.post(f"/admin/sites/{site.id}/model/train", data={"csrf_token": token}).status_code == 302
    assert "Entraînement en attente" in client.get(f"/admin/sites/{site.id}/model").text
    work()
    page = client.get(f"/admin/sites/{site.id}/model").text
    assert f"{BASE}+site-lemonde-test.2" in page and 'data-state="done"' in page
    second = db.scalar(select(SiteModel).where(SiteModel.number == 2))
    assert second.trained_by == "admin1" and second.metrics["current"]["version"] == model.version

    assert client.post(f"/admin/sites/{site.id}/model/rollback", data={"csrf_token": token}).status_code == 302
    rolled = post_and_score("Putain, quel beau match.")
    assert rolled.model_version == BASE
    actions = [e.action for e in db.scalars(select(AuditEntry).where(AuditEntry.action.like("model_%"))
                                            .order_by(AuditEntry.id))]
    assert actions == ["model_trained", "model_promoted", "model_trained", "model_rolled_back"]
    assert client.post(f"/admin/sites/{site.id}/model/rollback", data={"csrf_token": token}).status_code == 400


def test_a_site_head_applies_only_to_its_texts_and_equals_the_model_with_the_models_own_head(scorer):
    from workers.model.sitehead import SiteHead

    texts = ["Bonjour à tous, bel article.", "Espèce d'abruti, tais-toi.", "Putain, quel match !",
             "Un commentaire très long " * 60 + " et pour finir : bande de crétins."]  # several windows
    plain = scorer.predict(texts)
    own = scorer.head_state()
    same = SiteHead(own["weight"], own["bias"], 0.41)
    for a, b in zip(scorer.predict(texts, heads=[same] * len(texts)), plain):
        assert a == pytest.approx(b, abs=1e-5)
    lenient = SiteHead(own["weight"], own["bias"] - 5.0, 0.5)  # scores everything much lower
    mixed = scorer.predict(texts, heads=[None, lenient, None, lenient])
    assert mixed[0] == pytest.approx(plain[0], abs=1e-5) and mixed[2] == pytest.approx(plain[2], abs=1e-5)
    assert mixed[1]["toxicity"] < plain[1]["toxicity"] and mixed[3]["toxicity"] < plain[3]["toxicity"]
    restored = SiteHead.from_bytes(lenient.to_bytes(), 0.5)
    assert scorer.predict(texts[1:2], heads=[restored])[0] == pytest.approx(mixed[1], abs=1e-6)
