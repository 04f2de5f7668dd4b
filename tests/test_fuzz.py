"""Hostile input never gets a server error: the inputs a fuzzer found 500s with (odd signature timestamps, NUL
characters, deeply nested JSON, ids beyond the database's integers), then a hypothesis fuzz over the REST API,
the Perspective-compatible API and the signed webhook (bounded, deterministic: ``derandomize``; raise
``VIGIE_FUZZ_EXAMPLES`` for a longer run). Every 4xx is the JSON error shape ``{"error": {"code", "message"}}``.
Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL (where NUL and int4 overflows used to surface)."""
from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from core import signing
from tests.integration_support import patient_budgets, sync_worker

BIG_IDS = [2**31, 2**31 + 7, 2**53, 2**63 - 1, 2**63, 10**30]
DEEP = 100_000


def assert_json_4xx(response, where=""):
    assert 400 <= response.status_code < 500, (where, response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (where, response.get_data()[:300])
    assert "code" in body["error"] and isinstance(body["error"].get("message"), str), (where, body)


# ---------------------------------------------------------------------------------- what the fuzzer found
@pytest.mark.parametrize("timestamp", ["²", "9" * 400, "-1", "1e9", "٣٣٣", " 1", "0x10", ""])
def test_odd_signature_timestamps_are_a_401(client, site, timestamp):
    body = b'{"text": "Bonjour"}'
    header = f"t={timestamp},v1={signing.hmac_hex(site.secret, f'{timestamp}.'.encode() + body)}"
    response = client.post(f"/webhooks/{site.slug}", data=body,
                           headers={"Content-Type": "application/json", signing.VIGIE_HEADER: header})
    assert response.status_code == 401, response.text
    assert_json_4xx(response)


def test_nul_in_slugs_ids_and_fields_is_a_400(client, site):
    body, headers = _signed(site, {"text": "Bonjour"})
    assert_json_4xx(client.post("/webhooks/lemonde%00test", data=body, headers=headers), "slug")
    for field in ("external_id", "author_id", "author_name", "thread_id", "thread_url", "parent_id", "language"):
        response = client.post("/api/v1/comments", json={"text": "Bonjour", field: "a\x00b"}, headers=site.headers)
        assert response.status_code == 400, (field, response.text)
        assert_json_4xx(response, field)
        signed_body, signed_headers = _signed(site, {"text": "Bonjour", field: "\x00"})
        assert_json_4xx(client.post(f"/webhooks/{site.slug}", data=signed_body, headers=signed_headers), field)
    assert_json_4xx(client.get("/api/v1/comments?status=pending%00", headers=site.headers), "status")
    assert_json_4xx(client.get("/api/v1/comments?since=2026-01-01%00", headers=site.headers), "since")
    assert_json_4xx(client.post("/api/v1/comments/1/decision", headers=site.headers,
                                json={"decision": "approve", "moderator": "a\x00"}), "moderator")
    key = site.api_key
    response = client.post(f"/v1alpha1/comments:analyze?key={key}", json={
        "comment": {"text": "Bonjour"}, "requestedAttributes": {"TOXICITY": {}}, "clientToken": "a\x00b",
        "communityId": "\x00", "languages": ["fr\x00"]})
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("where", ["api", "webhook", "perspective", "signing-secrets"])
def test_deeply_nested_json_is_a_400(client, site, where):
    deep = ("[" * DEEP + "]" * DEEP).encode()
    nested = ('{"text": "x", "external_id": ' + "[" * DEEP + "]" * DEEP + "}").encode()
    for body in (deep, nested):
        if where == "api":
            response = client.post("/api/v1/comments", data=body, headers={**site.headers,
                                                                            "Content-Type": "application/json"})
        elif where == "webhook":
            signed, headers = _signed(site, body)
            response = client.post(f"/webhooks/{site.slug}", data=signed, headers=headers)
        elif where == "perspective":
            response = client.post(f"/v1alpha1/comments:analyze?key={site.api_key}", data=body,
                                   headers={"Content-Type": "application/json"})
        else:
            response = client.post("/api/v1/signing-secrets", data=body,
                                   headers={**site.headers, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (where, response.status_code)
        assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("big", BIG_IDS)
def test_ids_beyond_the_database_integers_are_a_4xx(client, site, big):
    for path in (f"/api/v1/comments/{big}", f"/api/v1/webhook-deliveries/{big}",
                 f"/api/v1/comments?cursor={big}", f"/api/v1/webhook-deliveries?before={big}"):
        response = client.get(path, headers=site.headers)
        assert_json_4xx(response, path)
    for path in (f"/api/v1/comments/{big}/decision", f"/api/v1/webhook-deliveries/{big}/resend"):
        response = client.post(path, json={"decision": "approve"}, headers=site.headers)
        assert_json_4xx(response, path)
    assert_json_4xx(client.delete(f"/api/v1/signing-secrets/{big}", headers=site.headers))


# ------------------------------------------------------------------------------------------------ the fuzz
EXAMPLES = int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "40"))
FUZZ = fuzz_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large, HealthCheck.filter_too_much])

tricky_text = st.sampled_from(["", " ", "\x00", "a\x00b", "²", "9" * 400, "\ud800", "é" * 300, "\r\n", "🙂",
                               "' OR 1=1 --", "<script>alert(1)</script>", "%00", "../../etc/passwd", "null"])
texts = st.one_of(tricky_text, st.text(max_size=60))
ints = st.one_of(st.sampled_from(BIG_IDS + [-1, 0, 1, -(2**63), 2**64]), st.integers())
scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(texts, inner, max_size=3)),
                           max_leaves=8)
comment_fields = ["text", "external_id", "author_id", "author_name", "thread_id", "thread_url", "parent_id",
                  "language"]
comments = st.dictionaries(st.sampled_from(comment_fields + ["txet", "comments"]),
                           st.one_of(texts, json_values), max_size=5)
deep_bodies = st.sampled_from([10, 900, 1100, 5000, DEEP]).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n]))
raw_bodies = st.one_of(st.binary(max_size=80), deep_bodies.map(str.encode),
                       st.sampled_from([b"", b"null", b"[]", b"{}", b'"x"', b"1e999", b"NaN", b"{\"text\": \"\\u0000\"}",
                                        b"\xff\xfe", b"{\"text\": \"\\ud800\"}"]))


def _json_or_raw(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


bodies = st.one_of(comments.map(_json_or_raw), json_values.map(_json_or_raw), raw_bodies,
                   st.lists(comments, max_size=3).map(lambda cs: _json_or_raw({"comments": cs})))
latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
timestamps = st.one_of(st.integers(min_value=-(10**20), max_value=10**20).map(str), st.just("9" * 400),
                       st.sampled_from(["²", "³", "¹", "", "now"]), st.just(None))
path_ids = st.one_of(ints.map(str), st.sampled_from(["²", "1e9", "0x10", "-5", "9" * 30, "%00", "abc"]))
query_values = st.one_of(latin1, ints.map(str), st.sampled_from(["%00", "%C2%B2", "2026-13-45", "nan", ""]))


def _signed(site, payload, timestamp: str | int | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = str(int(time.time())) if timestamp is None else str(timestamp)
    return body, {"Content-Type": "application/json",
                  signing.VIGIE_HEADER: f"t={t},v1={signing.hmac_hex(site.secret, f'{t}.'.encode() + body)}"}


def _no_server_error(response, where):
    assert response.status_code < 500, (where, response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code >= 400:
        assert_json_4xx(response, where)


@pytest.fixture(scope="module")
def scoring_worker(_app, settings):
    """Valid Perspective calls are scored by a real worker (a 503 is for a service without workers)."""
    with sync_worker(settings, _app.extensions["vigie"].redis) as process, patient_budgets(settings, ms=20_000):
        yield process


@FUZZ
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=x"]),
       authorization=st.one_of(st.just("valid"), latin1, latin1.map("Bearer ".__add__)))
def test_fuzz_rest_ingest(client, site, body, content_type, authorization):
    authorization = site.headers["Authorization"] if authorization == "valid" else authorization
    response = client.post("/api/v1/comments", data=body,
                           headers={"Authorization": authorization, "Content-Type": content_type})
    _no_server_error(response, (authorization, body[:200]))


@FUZZ
@given(comment_id=path_ids, cursor=query_values, limit=query_values, since=query_values, status=query_values,
       body=bodies)
def test_fuzz_rest_reading_and_decisions(client, site, comment_id, cursor, limit, since, status, body):
    _no_server_error(client.get(f"/api/v1/comments/{comment_id}", headers=site.headers), comment_id)
    _no_server_error(client.get("/api/v1/comments", headers=site.headers,
                                query_string={"cursor": cursor, "limit": limit, "since": since, "status": status}),
                     (cursor, limit, since, status))
    _no_server_error(client.post(f"/api/v1/comments/{comment_id}/decision", data=body,
                                 headers={**site.headers, "Content-Type": "application/json"}), body[:200])
    _no_server_error(client.get(f"/api/v1/webhook-deliveries/{comment_id}", headers=site.headers), comment_id)
    _no_server_error(client.get("/api/v1/webhook-deliveries", headers=site.headers,
                                query_string={"before": cursor, "limit": limit, "state": status}), (cursor, limit))


@FUZZ
@given(body=st.one_of(bodies, st.fixed_dictionaries(
    {"comment": st.one_of(st.fixed_dictionaries({"text": texts}), json_values),
     "requestedAttributes": st.one_of(st.dictionaries(st.sampled_from(["TOXICITY", "INSULT", "SPAM", "x", "\x00"]),
                                                      st.one_of(st.just({}), json_values), max_size=2),
                                      json_values)},
    optional={"languages": st.one_of(st.lists(texts, max_size=2), json_values),
              "spanAnnotations": st.one_of(st.booleans(), json_values), "doNotStore": st.booleans(),
              "clientToken": st.one_of(texts, json_values), "communityId": texts,
              "context": json_values}).map(_json_or_raw)),
       key=st.one_of(st.just("valid"), latin1), endpoint=st.sampled_from(["analyze", "suggestscore"]))
@example(body=json.dumps({"comment": {"text": "Espèce d'abruti"}, "requestedAttributes": {"TOXICITY": {}},
                          "languages": ["fr"]}).encode(), key="valid", endpoint="analyze")  # scored for real
def test_fuzz_perspective(client, site, scoring_worker, body, key, endpoint):
    key = site.api_key if key == "valid" else key
    response = client.post(f"/v1alpha1/comments:{endpoint}", query_string={"key": key}, data=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (body[:200], response.status_code, response.text[:300])
    if b"abruti" in body and key == site.api_key:
        assert response.status_code == 200 and response.get_json()["attributeScores"]["TOXICITY"]
    if response.status_code >= 400:  # Google's error shape: {"error": {"code": 400, "message", "status"}}
        error = response.get_json()["error"]
        assert error["code"] == response.status_code and error["message"] and error["status"]


@FUZZ
@given(body=bodies, timestamp=timestamps, header=st.one_of(st.none(), latin1), slug=st.one_of(
    st.just("valid"), st.sampled_from(["%00", "a%00b", "%C2%B2", "x" * 300, "..", "lemonde-test%0A"])))
def test_fuzz_signed_webhook(client, site, body, timestamp, header, slug):
    slug = site.slug if slug == "valid" else slug
    if header is None:  # correctly signed (a fresh timestamp, or the fuzzed one)
        signed, headers = _signed(site, body, timestamp)
    else:
        signed, headers = body, {"Content-Type": "application/json", signing.VIGIE_HEADER: header}
    _no_server_error(client.post(f"/webhooks/{slug}", data=signed, headers=headers), (slug, header, body[:200]))
