"""REST API v1: what a site's comment system relies on (accept, read back, list, override, errors)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment

LABELS = {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
BENIGN = "Merci pour cet article très clair sur la réforme des retraites, j'ai appris beaucoup."
TOXIC = "Ferme ta gueule, espèce de connard de merde, tu mérites de crever."


def post(client, site, body, **kwargs):
    return client.post("/api/v1/comments", json=body, headers=site.headers, **kwargs)


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]


def test_posted_comment_is_decided_with_every_score(client, site, work):
    response = post(client, site, {"text": BENIGN, "external_id": "c-1", "author_id": "u-1", "thread_id": "t-9"})
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status"] == "pending" and accepted["created"] is True
    assert accepted["url"] == f"/api/v1/comments/{accepted['id']}"

    work()

    comment = client.get(accepted["url"], headers=site.headers).get_json()
    assert comment["status"] == "approved"
    assert set(comment["scores"]) == LABELS
    assert all(0.0 <= v <= 1.0 for v in comment["scores"].values())
    assert comment["model"]["name"] and comment["model"]["version"]
    assert comment["decision"]["decided_by"] == "model" and comment["decision"]["reasons"] == []
    assert comment["text"] == BENIGN and comment["external_id"] == "c-1" and comment["thread_id"] == "t-9"


def test_toxic_comment_is_flagged_with_reasons_and_spans(client, site, work):
    accepted = post(client, site, {"text": TOXIC}).get_json()
    work()
    comment = client.get(accepted["url"], headers=site.headers).get_json()
    assert comment["status"] == "flagged"
    reasons = comment["decision"]["reasons"]
    assert reasons and all(r["kind"] == "score" and r["score"] >= r["threshold"] for r in reasons)
    assert "toxicity" in {r["label"] for r in reasons}
    assert comment["spans"], "a flagged comment shows what raised its score"
    for span in comment["spans"]:
        assert TOXIC[span["start"]:span["end"]] == span["text"]


def test_pending_comment_reads_back_without_decision(client, site):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    comment = client.get(accepted["url"], headers=site.headers).get_json()
    assert comment["status"] == "pending" and comment["decision"] is None and comment["scores"] is None


def test_batch_is_accepted_in_order_and_decided(client, site, work):
    texts = [BENIGN, TOXIC, "Bonne journée à toute la rédaction."]
    response = post(client, site, {"comments": [{"text": t, "external_id": f"b-{i}"} for i, t in enumerate(texts)]})
    assert response.status_code == 202
    accepted = response.get_json()["comments"]
    assert [c["external_id"] for c in accepted] == ["b-0", "b-1", "b-2"]
    work()
    statuses = [client.get(c["url"], headers=site.headers).get_json()["status"] for c in accepted]
    assert statuses == ["approved", "flagged", "approved"]


def test_retry_with_same_external_id_returns_the_existing_comment(client, site, db):
    first = post(client, site, {"text": BENIGN, "external_id": "same"}).get_json()
    again = post(client, site, {"text": BENIGN, "external_id": "same"})
    assert again.status_code == 202
    assert again.get_json()["id"] == first["id"] and again.get_json()["created"] is False
    in_batch = post(client, site, {"comments": [{"text": "x", "external_id": "same"},
                                                {"text": "y", "external_id": "other"},
                                                {"text": "y", "external_id": "other"}]}).get_json()["comments"]
    assert in_batch[0]["id"] == first["id"] and in_batch[1]["id"] == in_batch[2]["id"]
    assert db.scalar(select(func.count()).select_from(Comment)) == 2


def test_blank_external_ids_are_not_merged(client, site, db):
    first = post(client, site, {"text": BENIGN, "external_id": "  "}).get_json()
    second = post(client, site, {"text": BENIGN, "external_id": ""}).get_json()
    assert first["id"] != second["id"] and first["external_id"] is None and second["created"] is True


def test_hostile_text_is_stored_and_returned_verbatim(client, site, db):
    text = "<script>alert('x')</script> '; DROP TABLE comments; -- $(rm -rf /) {{7*7}} \u202e émoji 🙂"
    accepted = post(client, site, {"text": text}).get_json()
    assert client.get(accepted["url"], headers=site.headers).get_json()["text"] == text
    assert db.scalar(select(func.count()).select_from(Comment)) == 1


# ------------------------------------------------------------------------------------------------ bad input
def test_missing_or_bad_api_key_is_401(client, site):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer " + "x" * 500}):
        response = client.post("/api/v1/comments", json={"text": BENIGN}, headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
    assert client.get("/api/v1/comments").status_code == 401


@pytest.mark.parametrize("body, code, field", [
    ({}, "invalid_request", "text"),
    ({"text": ""}, "invalid_request", "text"),
    ({"text": "   \n\t"}, "invalid_request", "text"),
    ({"text": 123}, "invalid_request", "text"),
    ({"text": ["a"]}, "invalid_request", "text"),
    ({"text": "ok", "external_id": {"a": 1}}, "invalid_request", "external_id"),
    ({"text": "ok", "author_name": "x" * 201}, "invalid_request", "author_name"),
    ({"text": "ok", "txet": "typo"}, "unknown_field", "txet"),
    ({"text": "a\x00b"}, "invalid_request", "text"),
    (["a", "list"], "invalid_request", "body"),
    ("just a string", "invalid_request", "body"),
    ({"comments": []}, "invalid_request", "comments"),
    ({"comments": "nope"}, "invalid_request", "comments"),
    ({"comments": [{"text": "ok"}], "extra": 1}, "unknown_field", "extra"),
    ({"comments": [{"text": "ok"}, {"text": "ok", "colour": "red"}]}, "unknown_field", "comments.1.colour"),
    ({"comments": [{"text": "ok"}, {"text": ""}]}, "invalid_request", "comments.1.text"),
    ({"comments": [{"text": "ok"}, "not an object"]}, "invalid_request", "comments.1:"),
])
def test_invalid_bodies_are_400_naming_the_field(client, site, db, body, code, field):
    response = post(client, site, body)
    assert response.status_code == 400, response.get_json()
    error = error_of(response)
    assert error["code"] == code
    assert field in error["message"]
    assert db.scalar(select(func.count()).select_from(Comment)) == 0, "nothing is stored from a refused request"


def test_text_over_the_limit_is_refused(client, site, settings):
    response = post(client, site, {"text": "a" * (settings.max_text_chars + 1)})
    assert response.status_code == 400 and error_of(response)["code"] == "text_too_long"
    assert post(client, site, {"text": "a" * settings.max_text_chars}).status_code == 202


def test_batch_over_the_limit_is_refused(client, site, settings):
    response = post(client, site, {"comments": [{"text": "ok"}] * (settings.max_batch + 1)})
    assert response.status_code == 400 and error_of(response)["code"] == "batch_too_large"
    assert post(client, site, {"comments": [{"text": "ok"}] * settings.max_batch}).status_code == 202


def test_invalid_json_and_wrong_content_type(client, site):
    response = client.post("/api/v1/comments", data='{"text": "oups"', headers=site.headers,
                           content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    response = client.post("/api/v1/comments", data=b"\xff\xfe\x00", headers=site.headers,
                           content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    response = client.post("/api/v1/comments", data="[" * 100_000, headers=site.headers,
                           content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    response = client.post("/api/v1/comments", data=json.dumps({"text": "ok"}), headers=site.headers,
                           content_type="text/plain")
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"
    response = client.post("/api/v1/comments", data={"text": "ok"}, headers=site.headers)
    assert response.status_code == 415


def test_body_over_the_size_limit_is_413(client, site, settings):
    body = json.dumps({"text": "a" * (settings.max_body_bytes + 10)})
    response = client.post("/api/v1/comments", data=body, headers=site.headers, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_entity_too_large"


# ------------------------------------------------------------------------------------------------- reading
def other_site(app):
    from core.keys import create_site

    with app.extensions["vigie"].db.session() as session:
        _, key, _ = create_site(session, "liberation-test", "Libération (test)")
    return {"Authorization": f"Bearer {key}"}


def test_another_sites_comment_is_404(app, client, site):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    headers = other_site(app)
    response = client.get(accepted["url"], headers=headers)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = client.post(accepted["url"] + "/decision", json={"decision": "reject"}, headers=headers)
    assert response.status_code == 404
    assert client.get("/api/v1/comments", headers=headers).get_json()["comments"] == []
    assert client.get("/api/v1/comments/999999", headers=site.headers).status_code == 404


def test_list_paginates_with_a_cursor_and_filters(client, site, work):
    ids = [c["id"] for c in post(client, site, {"comments": [{"text": f"Commentaire numéro {i}, merci."}
                                                            for i in range(5)] + [{"text": TOXIC}]})
           .get_json()["comments"]]
    seen, cursor = [], None
    while True:
        query = "/api/v1/comments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=site.headers).get_json()
        seen += [c["id"] for c in page["comments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    pending = client.get("/api/v1/comments?status=pending", headers=site.headers).get_json()["comments"]
    assert len(pending) == 6
    work()
    flagged = client.get("/api/v1/comments?status=flagged", headers=site.headers).get_json()["comments"]
    assert [c["id"] for c in flagged] == [ids[-1]] and flagged[0]["scores"]
    assert client.get("/api/v1/comments?since=2999-01-01T00:00:00Z", headers=site.headers).get_json()["comments"] == []
    assert len(client.get("/api/v1/comments?since=2000-01-01T00:00:00", headers=site.headers)
               .get_json()["comments"]) == 6


@pytest.mark.parametrize("query", ["status=maybe", "limit=0", "limit=1000", "limit=abc", "cursor=-1",
                                   "since=yesterday", "colour=red"])
def test_list_refuses_bad_parameters(client, site, query):
    response = client.get(f"/api/v1/comments?{query}", headers=site.headers)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith(query.split("=")[0])


# ------------------------------------------------------------------------------------------------ overrides
def test_moderator_override_is_recorded_and_audited(client, site, work, db):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    work()
    response = client.post(accepted["url"] + "/decision", headers=site.headers,
                           json={"decision": "reject", "note": "Hors charte", "reason": "Hors sujet",
                                 "moderator": "Camille"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "rejected" and body["decision"]["decided_by"] == "moderator"
    assert body["decision"]["actor_name"] == "Camille" and body["decision"]["note"] == "Hors charte"
    trail = db.scalars(select(AuditEntry).where(AuditEntry.comment_id == accepted["id"]).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.status_from, e.status_to) for e in trail] == [("model", "pending", "approved"),
                                                                      ("moderator", "approved", "rejected")]
    again = client.post(accepted["url"] + "/decision", headers=site.headers, json={"decision": "approve"}).get_json()
    assert again["status"] == "approved" and again["decision"]["actor_name"] == site.slug


def test_moderator_decision_before_scoring_is_kept(client, site, work):
    accepted = post(client, site, {"text": TOXIC}).get_json()
    client.post(accepted["url"] + "/decision", headers=site.headers, json={"decision": "approve"})
    work()
    comment = client.get(accepted["url"], headers=site.headers).get_json()
    assert comment["status"] == "approved" and comment["decision"]["decided_by"] == "moderator"


@pytest.mark.parametrize("body", [{}, {"decision": "maybe"}, {"decision": "reject", "colour": 1},
                                  {"decision": "reject", "note": "x" * 2001}, {"decision": 1}])
def test_bad_override_is_400(client, site, body):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    response = client.post(accepted["url"] + "/decision", headers=site.headers, json=body)
    assert response.status_code == 400 and error_of(response)["code"] in ("invalid_request", "unknown_field")


# -------------------------------------------------------------------------------------------------- health
def test_healthz_and_readyz_without_worker(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"] and not checks["workers"]["ok"]
    assert "vigie worker" in checks["workers"]["error"]


def test_wait_returns_the_decision_as_soon_as_it_is_stored(client, site, work):
    """`GET /comments/<id>?wait=10` holds the answer until the worker has decided (here, this thread runs the jobs
    while the GET waits in another)."""
    import threading
    import time

    accepted = post(client, site, {"text": TOXIC}).get_json()
    answers = []
    reader = threading.Thread(target=lambda: answers.append(
        client.get(accepted["url"] + "?wait=10", headers=site.headers).get_json()))
    reader.start()
    time.sleep(0.5)  # let the GET start waiting (rq's worker must run in the main thread)
    work()
    reader.join(30)
    assert answers and answers[0]["status"] == "flagged" and set(answers[0]["scores"]) == LABELS


def test_wait_ends_with_the_comment_still_pending_when_nothing_decides_it(client, site):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    response = client.get(accepted["url"] + "?wait=0.3", headers=site.headers)
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    decided = client.get(accepted["url"] + "?wait=", headers=site.headers)  # empty: no wait
    assert decided.status_code == 200 and decided.get_json()["status"] == "pending"


@pytest.mark.parametrize("wait", ["11", "-1", "abc", "nan", "inf", "1e9"])
def test_wait_out_of_bounds_is_a_400(client, site, wait):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    response = client.get(accepted["url"] + f"?wait={wait}", headers=site.headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request" and "wait" in error_of(response)["message"]


def test_wait_on_another_sites_comment_is_a_404(app, client, site):
    accepted = post(client, site, {"text": BENIGN}).get_json()
    response = client.get(accepted["url"] + "?wait=5", headers=other_site(app))
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
