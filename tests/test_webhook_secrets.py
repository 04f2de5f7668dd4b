"""Signing secrets through the JSON admin API: a site adds the secret its comment system generated (Coral's phase
secret), rolls to a new primary, removes the old one; signatures follow at once."""
from __future__ import annotations

from tests.integration_support import vigie_signed

CORAL_PHASE_SECRET = "a3f1c9e0b7d24f6a8e5c1d0b9a7f3e2c"


def _post(client, site, secret, external_id):
    body, headers = vigie_signed(secret, {"text": "Très bon article.", "external_id": external_id})
    return client.post(f"/webhooks/{site.slug}", data=body, headers=headers)


def test_add_roll_and_remove_secrets(client, site):
    listed = client.get("/api/v1/signing-secrets", headers=site.headers).get_json()["secrets"]
    assert len(listed) == 1 and listed[0]["primary"] and site.secret not in str(listed)  # masked

    added = client.post("/api/v1/signing-secrets", json={"secret": CORAL_PHASE_SECRET}, headers=site.headers)
    assert added.status_code == 201 and added.get_json()["secret"] == CORAL_PHASE_SECRET
    assert _post(client, site, CORAL_PHASE_SECRET, "c-1").status_code == 202
    assert _post(client, site, site.secret, "c-2").status_code == 202  # the old one still works while rolling

    generated = client.post("/api/v1/signing-secrets", json={"primary": True}, headers=site.headers).get_json()
    assert generated["secret"].startswith("whsec_") and generated["secrets"][0]["primary"]
    old_index = next(s["index"] for s in generated["secrets"] if s["secret"] == site.secret[:10] + "…")
    removed = client.delete(f"/api/v1/signing-secrets/{old_index}", headers=site.headers)
    assert removed.status_code == 200 and len(removed.get_json()["secrets"]) == 2
    assert _post(client, site, site.secret, "c-3").status_code == 401
    assert _post(client, site, generated["secret"], "c-4").status_code == 202


def test_secret_api_refusals(client, site):
    assert client.get("/api/v1/signing-secrets").status_code == 401
    assert client.get("/api/v1/signing-secrets", headers={"Authorization": "Bearer vg_nope"}).status_code == 401
    short = client.post("/api/v1/signing-secrets", json={"secret": "short"}, headers=site.headers)
    assert short.status_code == 400 and short.get_json()["error"]["message"].startswith("secret")
    bad = client.post("/api/v1/signing-secrets", data=b"[1]", content_type="application/json",
                      headers=site.headers)
    assert bad.status_code == 400
    assert client.delete("/api/v1/signing-secrets/7", headers=site.headers).status_code == 404
    last = client.delete("/api/v1/signing-secrets/0", headers=site.headers)
    assert last.status_code == 409 and last.get_json()["error"]["code"] == "last_secret"
