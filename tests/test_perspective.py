"""The Perspective-compatible API: a site that switches its base URL to Vigie gets Perspective-shaped French
scores, its refusals look like Perspective's, and doNotStore leaves nothing behind."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment, ModelResult, ScoreLabel
from tests.integration_support import patient_budgets, sync_worker

TOXIC = "Ferme-la, espèce d'imbécile, personne ne veut lire tes conneries."
BENIGN = "Merci pour cet article très clair sur la réforme des retraites."
ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


@pytest.fixture(scope="module")
def scoring_worker(_app, settings):
    """A real `vigie worker --queues sync` process with the real model, shared by this module's tests."""
    with sync_worker(settings, _app.extensions["vigie"].redis) as process, patient_budgets(settings):
        yield process


def analyze(client, key, body):
    return client.post(f"{ANALYZE}?key={key}", json=body)


def coral_style(text, **extra):
    """The body Coral Talk sends."""
    return {"comment": {"text": text}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}},
            "languages": ["fr"], **extra}


def _rows(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_coral_style_call_gets_french_toxicity_scores(client, site, db, app, scoring_worker):
    toxic = analyze(client, site.api_key, coral_style(TOXIC, clientToken="tok-1"))
    benign = analyze(client, site.api_key, coral_style(BENIGN))
    assert toxic.status_code == 200 and benign.status_code == 200
    toxic_score = toxic.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]
    benign_score = benign.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]
    assert toxic_score["type"] == "PROBABILITY" and 0 <= benign_score["value"] <= 1
    assert toxic_score["value"] > 0.5 > benign_score["value"]
    body = toxic.get_json()
    assert body["languages"] == ["fr"] and body["clientToken"] == "tok-1"
    assert body["attributeScores"]["TOXICITY"]["spanScores"] == [
        {"begin": 0, "end": len(TOXIC), "score": toxic_score}]
    # doNotStore: nothing of the text is kept, in the database or in Redis
    assert _rows(db, Comment) == _rows(db, ScoreLabel) == _rows(db, ModelResult) == 0
    redis = app.extensions["vigie"].redis
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        dump = redis.dump(key) or b""
        assert "imbécile".encode() not in dump and b"imb\\xc3\\xa9cile" not in dump, (key, kind)


def test_concurrent_calls_each_get_their_own_scores(app, site, scoring_worker):
    """Calls arriving together share forward passes; each still gets the scores of its own text."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [TOXIC, BENIGN] * 4

    def call(text):
        response = analyze(app.test_client(), site.api_key, coral_style(text, clientToken=text[:20]))
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        answers = list(pool.map(call, texts))
    for text, (status, body) in zip(texts, answers):
        assert status == 200 and body["clientToken"] == text[:20]
        value = body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        assert (value > 0.5) if text == TOXIC else (value < 0.5)


def test_every_attribute_and_experimental_name_maps_to_a_label(client, site, scoring_worker):
    names = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT",
             "TOXICITY_EXPERIMENTAL", "INSULT_EXPERIMENTAL"]
    body = {"comment": {"text": TOXIC}, "requestedAttributes": {n: {} for n in names}, "doNotStore": True}
    scores = analyze(client, site.api_key, body).get_json()["attributeScores"]
    assert set(scores) == set(names)
    assert scores["TOXICITY_EXPERIMENTAL"] == scores["TOXICITY"]
    for name in names:
        assert 0 <= scores[name]["summaryScore"]["value"] <= 1


def test_score_threshold_leaves_out_low_attributes(client, site, scoring_worker):
    body = {"comment": {"text": BENIGN}, "doNotStore": True,
            "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.9}, "INSULT": {"scoreType": "PROBABILITY"}}}
    response = analyze(client, site.api_key, body).get_json()
    assert "TOXICITY" not in response["attributeScores"] and "INSULT" in response["attributeScores"]


def test_span_annotations_score_each_sentence(client, site, scoring_worker):
    text = f"{BENIGN} {TOXIC}"
    body = {"comment": {"text": text}, "doNotStore": True, "spanAnnotations": True,
            "requestedAttributes": {"TOXICITY": {}}}
    spans = analyze(client, site.api_key, body).get_json()["attributeScores"]["TOXICITY"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, len(BENIGN)), (len(BENIGN) + 1, len(text))]
    assert spans[1]["score"]["value"] > spans[0]["score"]["value"]


def test_without_languages_the_language_is_detected(client, site, scoring_worker):
    for text, language in [(BENIGN, "fr"), ("Ce gouvernement de guignols", "fr"), ("Thanks for this very clear article.", "en"),
                           ("Vielen Dank für diesen sehr klaren Artikel.", "de"),
                           ("Obrigado por este artigo tão claro.", "pt"), ("https://t.co/x1 🙂", "fr")]:
        body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "doNotStore": True}
        response = analyze(client, site.api_key, body)
        assert response.status_code == 200, (text, response.get_json())
        assert response.get_json()["languages"] == [language], text
        assert response.get_json()["detectedLanguages"] == [language], text


def test_a_language_vigie_does_not_support_is_refused_with_perspectives_error_type(client, site, scoring_worker):
    body = {"comment": {"text": "このバカ野郎、黙れ。お前の記事は最悪だ。"}, "requestedAttributes": {"TOXICITY": {}},
            "doNotStore": True}
    response = analyze(client, site.api_key, body)
    assert _error(response, 400, "INVALID_ARGUMENT") == "Attribute TOXICITY does not support request languages: ja"
    (detail,) = response.get_json()["error"]["details"]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert detail["languageNotSupportedByAttributeError"] == {"detectedLanguages": ["ja"], "attribute": "TOXICITY"}
    # the request's languages win over detection, as in Perspective
    forced = analyze(client, site.api_key, {**body, "languages": ["fr"]})
    assert forced.status_code == 200 and forced.get_json()["languages"] == ["fr"]
    assert "detectedLanguages" not in forced.get_json()
    # dropUnsupportedAttributes: no error, no scores
    dropped = analyze(client, site.api_key, {**body, "dropUnsupportedAttributes": True})
    assert dropped.status_code == 200 and dropped.get_json()["attributeScores"] == {}


def test_documented_and_unknown_fields_are_accepted(client, site, scoring_worker):
    body = coral_style(TOXIC, context={"articleAndParentComment": {"article": {"text": "La réforme des retraites"},
                                                                   "parentComment": {"text": "Bon article."}}},
                       sessionId="s-1", communityId="journal", doNotStroe=True, someFutureField={"x": 1},
                       requestedAttributes={"TOXICITY": {"scoreType": "PROBABILITY", "unknownParam": 1}})
    response = analyze(client, site.api_key, body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5
    dropped = analyze(client, site.api_key, coral_style(TOXIC, dropUnsupportedAttributes=True,
                                                        requestedAttributes={"TOXICITY": {}, "FLIRTATION": {}}))
    assert set(dropped.get_json()["attributeScores"]) == {"TOXICITY"}


def test_stored_when_do_not_store_is_false(client, site, db, scoring_worker):
    response = analyze(client, site.api_key, coral_style(TOXIC, doNotStore=False))
    assert response.status_code == 200
    (comment,) = db.scalars(select(Comment)).all()
    assert comment.source == "perspective" and comment.text == TOXIC and comment.status != "pending"
    assert db.scalar(select(ModelResult).where(ModelResult.comment_id == comment.id)) is not None
    assert db.scalar(select(AuditEntry).where(AuditEntry.comment_id == comment.id)).status_to == comment.status


def test_suggestscore_with_span_scores_only_stores_each_span(client, site, db):
    text = f"{BENIGN} {TOXIC}"
    body = {"comment": {"text": text}, "languages": ["fr"], "unknownField": True,
            "attributeScores": {"INSULT": {"spanScores": [
                {"begin": len(BENIGN) + 1, "end": len(text), "score": {"value": 1, "type": "PROBABILITY"}}]}}}
    response = client.post(f"{SUGGEST}?key={site.api_key}", json=body)
    assert response.status_code == 200, response.get_json()
    (label,) = db.scalars(select(ScoreLabel)).all()
    assert label.attribute == "insult" and label.text == TOXIC and label.score == 1.0
    outside = {**body, "attributeScores": {"INSULT": {"spanScores": [{"begin": 5, "end": 9999,
                                                                      "score": {"value": 1}}]}}}
    assert _error(client.post(f"{SUGGEST}?key={site.api_key}", json=outside), 400, "INVALID_ARGUMENT")


def test_suggestscore_stores_the_label(client, site, db):
    body = {"comment": {"text": TOXIC}, "clientToken": "mod-42", "languages": ["fr"],
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1.0}},
                                "PROFANITY": {"summaryScore": {"value": 0.0}}}}
    response = client.post(f"{SUGGEST}?key={site.api_key}", json=body)
    assert response.status_code == 200 and response.get_json()["clientToken"] == "mod-42"
    labels = {row.attribute: row for row in db.scalars(select(ScoreLabel))}
    assert set(labels) == {"toxicity", "obscene"}
    assert labels["toxicity"].score == 1.0 and labels["toxicity"].text == TOXIC
    assert labels["obscene"].site_id == site.id and labels["obscene"].source == "suggestscore"


# ---------------------------------------------------------------------------------------------- refusals
def _error(response, code, status):
    assert response.status_code == code, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    return error["message"]


def _error_type(response) -> str:
    return response.get_json()["error"]["details"][0]["errorType"]


def test_wrong_or_missing_key_is_refused_like_perspective(client, site):
    assert "API key not valid" in _error(analyze(client, "vg_wrong", coral_style(BENIGN)), 400,
                                         "INVALID_ARGUMENT")
    assert "missing a valid API key" in _error(client.post(ANALYZE, json=coral_style(BENIGN)), 403,
                                                "PERMISSION_DENIED")


def test_unknown_and_unsupported_attributes_are_refused(client, site, db):
    body = coral_style(BENIGN, requestedAttributes={"TOXICITY": {}, "SEXUALLY_EXPLICIT": {}})
    message = _error(analyze(client, site.api_key, body), 400, "INVALID_ARGUMENT")
    assert message == "Attribute SEXUALLY_EXPLICIT does not support request languages: fr"
    body = coral_style(BENIGN, requestedAttributes={"NASTINESS": {}})
    response = analyze(client, site.api_key, body)
    assert "NASTINESS" in _error(response, 400, "INVALID_ARGUMENT")
    assert _error_type(response) == "INVALID_REQUEST"
    response = analyze(client, site.api_key, coral_style(BENIGN, requestedAttributes={}))
    assert "non-empty" in _error(response, 400, "INVALID_ARGUMENT")
    assert _error_type(response) == "NO_REQUESTED_ATTRIBUTES"


def test_unsupported_language_is_refused(client, site):
    response = analyze(client, site.api_key, coral_style(BENIGN, languages=["ja"]))
    message = _error(response, 400, "INVALID_ARGUMENT")
    assert message == "Attribute TOXICITY does not support request languages: ja"
    assert response.get_json()["error"]["details"][0] == {
        "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
        "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        "languageNotSupportedByAttributeError": {"requestedLanguages": ["ja"], "attribute": "TOXICITY"}}
    for language in ("es", "it", "pt-BR", "ro"):  # the encoder's and the data's languages are accepted
        assert analyze(client, site.api_key, coral_style("", languages=[language])).get_json()["error"][
            "details"][0]["errorType"] == "COMMENT_EMPTY"


def test_text_too_long_empty_or_unstorable_is_refused(client, site):
    long_text = "é" * 10_241  # 20 482 bytes of UTF-8: over Perspective's 20 KB
    response = analyze(client, site.api_key, coral_style(long_text))
    assert _error(response, 400, "INVALID_ARGUMENT") == "Comment text too long."
    assert _error_type(response) == "COMMENT_TOO_LONG"
    response = analyze(client, site.api_key, coral_style("   "))
    assert "non-empty" in _error(response, 400, "INVALID_ARGUMENT") and _error_type(response) == "COMMENT_EMPTY"
    _error(analyze(client, site.api_key, coral_style("a\u0000b")), 400, "INVALID_ARGUMENT")


def test_malformed_bodies_name_the_field(client, site):
    bad_json = client.post(f"{ANALYZE}?key={site.api_key}", data=b'{"comment": ', content_type="application/json")
    assert "Invalid JSON payload" in _error(bad_json, 400, "INVALID_ARGUMENT")
    missing = analyze(client, site.api_key, {"requestedAttributes": {"TOXICITY": {}}})
    assert "comment" in _error(missing, 400, "INVALID_ARGUMENT")
    wrong_type = analyze(client, site.api_key, coral_style(BENIGN, requestedAttributes=["TOXICITY"]))
    assert "requestedAttributes" in _error(wrong_type, 400, "INVALID_ARGUMENT")
    threshold = coral_style(BENIGN, requestedAttributes={"TOXICITY": {"scoreThreshold": 3}})
    assert "scoreThreshold" in _error(analyze(client, site.api_key, threshold), 400, "INVALID_ARGUMENT")
    suggest = client.post(f"{SUGGEST}?key={site.api_key}",
                          json={"comment": {"text": BENIGN}, "attributeScores": {"TOXICITY": {}}})
    assert "summaryScore" in _error(suggest, 400, "INVALID_ARGUMENT")
    assert _error_type(suggest) == "INVALID_REQUEST"


def test_the_servers_text_limit_holds_on_the_perspective_api_too(client, site, settings, monkeypatch):
    """``VIGIE_MAX_TEXT_CHARS`` bounds every surface (the OpenAPI document states it), Perspective's included."""
    monkeypatch.setattr(settings, "max_text_chars", 50)
    response = analyze(client, site.api_key, coral_style("Bonjour " * 10))
    assert _error(response, 400, "INVALID_ARGUMENT") == "Comment text too long."
    assert _error_type(response) == "COMMENT_TOO_LONG"


def test_nul_in_a_stored_client_token_or_a_language_is_a_perspective_400(client, site, db):
    """Found while writing the OpenAPI document: suggestscore stored a NUL clientToken (a 500 on PostgreSQL), and a
    NUL in a language tag reached the comment's storage, whose check answered in the REST API's error shape."""
    suggest = client.post(f"{SUGGEST}?key={site.api_key}", json={
        "comment": {"text": BENIGN}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}}},
        "languages": ["fr"], "clientToken": "tok\x00en"})
    assert "clientToken" in _error(suggest, 400, "INVALID_ARGUMENT")
    assert _rows(db, ScoreLabel) == 0
    language = analyze(client, site.api_key, {**coral_style(BENIGN), "languages": ["fr-\x00"], "doNotStore": False})
    assert "languages" in _error(language, 400, "INVALID_ARGUMENT")
