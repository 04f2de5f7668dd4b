"""The dashboard's login as an attacker tries it: where ``next`` may send a browser after login, throttling of
password guessing, sessions that end at logout, and session-authenticated JSON calls that need a CSRF token."""
from __future__ import annotations

import pytest

from tests.dashboard_support import PASSWORD, add_user, csrf_from


def _login_with_next(client, next_value: str, raw: bool = False):
    """Log in with ``next`` in the query string (``raw``: as written in the URL, percent-escapes included)."""
    token = csrf_from(client.get("/login").text)
    data = {"username": "camille", "password": PASSWORD, "csrf_token": token}
    if raw:
        return client.post(f"/login?next={next_value}", data=data)
    return client.post("/login", query_string={"next": next_value}, data=data)


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "//evil.example", "///evil.example", "/\\evil.example",
    "https://evil.example/", "http:evil.example", "javascript:alert(1)", "/\r\nSet-Cookie: x=1",
    "/queue\r\nLocation: https://evil.example", "/ /evil.example", "/\x0b/evil.example", "\t//evil.example",
    "/\u3000/evil.example", "/\x7f/evil.example",
])
def test_login_never_redirects_off_site(client, app, target):
    add_user(app, "camille")
    response = _login_with_next(client, target)
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/queue"  # the dashboard home, nothing of the attacker's value


@pytest.mark.parametrize("raw", ["/%09/evil.example", "/%0d%0aSet-Cookie:%20x=1", "%2F%2Fevil.example",
                                 "/%5Cevil.example", "/%E3%80%80/evil.example", "/%00/evil.example"])
def test_login_next_as_sent_in_the_url_never_leaves_the_site(client, app, raw):
    """The measured attack: ``next=/%09/evil.example`` gave ``Location: //evil.example``; CRLF gave a 500."""
    add_user(app, "camille")
    response = _login_with_next(client, raw, raw=True)
    assert response.status_code in (302, 400), response.text
    if response.status_code == 302:
        assert response.headers["Location"] == "/queue"


def test_login_keeps_a_same_site_next_path(client, app):
    add_user(app, "camille")
    response = _login_with_next(client, "/audit?comment=12")
    assert response.status_code == 302 and response.headers["Location"] == "/audit?comment=12"


# ------------------------------------------------------------------------------------------------ throttling
def _try_login(client, username: str, password: str = "guess-guess", address: str = "203.0.113.7"):
    token = csrf_from(client.get("/login", environ_base={"REMOTE_ADDR": address}).text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_spraying_many_usernames_from_one_address_is_throttled(client, app):
    add_user(app, "camille")
    statuses = [_try_login(client, f"user{i}").status_code for i in range(15)]
    assert statuses[:10] == [401] * 10 and 429 in statuses[10:], statuses
    locked = _try_login(client, "camille", PASSWORD)  # the address is locked out, whatever the username
    assert locked.status_code == 429 and "Trop de tentatives échouées" in locked.text  # the French UI (default)
    assert locked.headers.get("Retry-After", "").isdigit()
    other = app.test_client()  # another address is not
    assert _try_login(other, "camille", PASSWORD, address="198.51.100.20").status_code == 302


def test_guessing_one_username_from_many_addresses_is_throttled(client, app):
    add_user(app, "camille")
    statuses = [_try_login(app.test_client(), "camille", address=f"198.51.100.{i}").status_code
                for i in range(1, 12)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429, statuses
    right_password = _try_login(app.test_client(), "Camille ", PASSWORD, address="192.0.2.99")
    assert right_password.status_code == 429  # the username is locked for a while (case and spaces folded)


def test_throttling_holds_when_redis_is_down(settings, app, tmp_path):
    """Login throttling must not fail open: with Redis unreachable the limits are counted in memory."""
    from service.app import create_app

    add_user(app, "camille")
    down = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"}))  # nothing listens
    client = down.test_client()
    statuses = [_try_login(client, "camille").status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
    assert _try_login(down.test_client(), "camille", PASSWORD, address="192.0.2.1").status_code == 429


# ----------------------------------------------------------------------------------------------- sessions
def test_logout_invalidates_a_copied_session_cookie(client, app):
    from tests.dashboard_support import login

    add_user(app, "camille")
    token = login(client, "camille")
    stolen = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/queue").status_code == 200  # a copied cookie works while the session lasts
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    after = thief.get("/queue")
    assert after.status_code == 302 and "/login" in after.headers["Location"]
    assert client.get("/queue").status_code == 302
    login(client, "camille")  # logging in again works, with a new session
    assert client.get("/queue").status_code == 200
    assert thief.get("/queue").status_code == 302


def test_resend_with_the_admin_session_needs_a_csrf_token(client, app, site, db):
    from core.storage.models import WebhookDelivery
    from tests.dashboard_support import login

    delivery = WebhookDelivery(site_id=site.id, event="comment.decided", url="https://93.184.215.14/hook",
                               payload={"event": "comment.decided"}, state="failed")
    db.add(delivery)
    db.commit()
    add_user(app, "root", role="admin")
    token = login(client, "root")
    refused = client.post(f"/api/v1/webhook-deliveries/{delivery.id}/resend")
    assert refused.status_code in (400, 403), refused.text
    assert refused.get_json()["error"]["code"]
    db.expire_all()
    assert db.get(WebhookDelivery, delivery.id).state == "failed"  # nothing was queued
    accepted = client.post(f"/api/v1/webhook-deliveries/{delivery.id}/resend", headers={"X-CSRFToken": token})
    assert accepted.status_code == 202
    assert client.get("/api/v1/webhook-deliveries").status_code == 200  # reading needs no token
    assert app.test_client().post(f"/api/v1/webhook-deliveries/{delivery.id}/resend",
                                  headers=site.headers).status_code == 202  # the API key needs none


# ------------------------------------------------------------------------------------------ API key limits
def test_each_api_key_is_rate_limited_with_a_json_429(client, app, site, settings, monkeypatch):
    from core.keys import create_site

    monkeypatch.setattr(settings, "api_rate_limit", "5 per minute")
    with app.extensions["vigie"].db.session() as session:
        _, other_key, _ = create_site(session, "autre-journal")
    statuses = [client.get("/api/v1/comments", headers=site.headers).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = client.post("/api/v1/comments", json={"text": "Bonjour"}, headers=site.headers)
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    perspective = client.post(f"/v1alpha1/comments:analyze?key={site.api_key}", json={})
    assert perspective.status_code == 429 and perspective.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.get("/api/v1/comments", headers=other).status_code == 200  # per key, not global
