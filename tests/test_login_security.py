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
