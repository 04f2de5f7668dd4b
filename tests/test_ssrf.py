"""A site's callback URL can't be used to reach what sits behind Vigie (server-side request forgery): internal
addresses, cloud metadata, local Redis or PostgreSQL, files. Checked when an admin or operator sets the URL and
again at each delivery, which connects to the address it checked and follows no redirect."""
from __future__ import annotations

import json
import socket
import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core import netguard
from core.cli import main
from core.connection import redis_url_for
from core.storage.models import DeliveryAttempt, Site, WebhookDelivery
from tests.dashboard_support import add_user, login
from tests.integration_support import Receiver, run_webhook_jobs
from tests.test_dashboard_admin import _settings_form
from tests.test_delivery import _decide

FORBIDDEN = ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/", "http://localhost:5432/",
             "http://[::1]:8000/", "http://10.0.0.1/hook", "http://metadata.google.internal/computeMetadata/v1/",
             "https://user:pass@93.184.215.14/hook", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
             "http://[::ffff:127.0.0.1]:6379/", "http://0.0.0.0:6379/", "http://192.168.1.1/", "http://172.16.0.1/",
             "http://100.64.0.1/", "http://224.0.0.1/", "http://2130706433/", "http://0x7f.0.0.1/"]


@pytest.fixture
def strict(settings, monkeypatch):
    """No allow-list: the rules as a production site gets them (the test settings allow 127.0.0.1 otherwise)."""
    monkeypatch.setattr(settings, "callback_allow_hosts", "")
    monkeypatch.setattr(settings, "callback_allow_networks", "")
    return settings


@pytest.fixture
def vigie(app):
    """The app's services (settings, database, Redis), which this process's jobs also use (as in a worker)."""
    return app.extensions["vigie"]


class FakeRedis:
    """A TCP service that is not HTTP and answers with content an attacker would like to read back."""

    SECRET = b"-ERR redis-secret-content-6379\r\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.recv(65536)
                conn.sendall(self.SECRET)
            finally:
                conn.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("url", FORBIDDEN)
def test_internal_and_odd_urls_are_refused_when_configured(url, strict):

    with pytest.raises(netguard.UnsafeURL):
        netguard.check_url(url, netguard.AllowList.from_settings(strict))


def test_public_addresses_pass_and_the_allow_list_opens_named_hosts_and_networks():

    target = netguard.check_url("https://93.184.215.14:8443/hook?x=1")
    assert (target.host, target.port, target.path, target.addresses) == ("93.184.215.14", 8443, "/hook?x=1",
                                                                          ("93.184.215.14",))
    allow = netguard.AllowList.parse(hosts="localhost", networks="10.0.0.0/8, ::1")
    assert netguard.check_url("http://10.1.2.3/hook", allow).addresses == ("10.1.2.3",)
    assert netguard.check_url("http://[::1]:9000/", allow).port == 9000
    assert "127.0.0.1" in netguard.check_url("http://localhost:8000/", allow).addresses
    with pytest.raises(netguard.UnsafeURL):
        netguard.check_url("http://127.0.0.1:6379/", allow)  # not in the list
    with pytest.raises(netguard.UnsafeURL):
        netguard.check_url("http://u:p@localhost/", allow)  # never, allowed host or not


def test_the_cli_refuses_an_unsafe_callback_url(app, settings, strict):
    env = {"VIGIE_DATABASE_URL": settings.resolved_database_url, "VIGIE_REDIS_URL": redis_url_for(settings),
           "VIGIE_DATA_DIR": str(settings.data_dir), "VIGIE_SECRET_KEY": "test-secret",
           "VIGIE_CALLBACK_ALLOW_HOSTS": "", "VIGIE_CALLBACK_ALLOW_NETWORKS": ""}
    for i, url in enumerate(("file:///etc/passwd", "http://127.0.0.1:6379/", "http://169.254.169.254/")):
        result = CliRunner().invoke(main, ["create-site", f"ssrf-{i}", "--callback-url", url], env=env)
        assert result.exit_code != 0 and "callback" in result.output.lower(), result.output
    ok = CliRunner().invoke(main, ["create-site", "ssrf-ok", "--callback-url", "https://93.184.215.14/hook",
                                   "--json"], env=env)
    assert ok.exit_code == 0, ok.output
    with app.extensions["vigie"].db.session() as session:
        sites = {s.slug: s.callback_url for s in session.scalars(select(Site))}
    assert sites == {"ssrf-ok": "https://93.184.215.14/hook"}
    assert json.loads(ok.output)["slug"] == "ssrf-ok"


def test_the_dashboard_refuses_an_unsafe_callback_url(client, app, site, db, strict):
    add_user(app, "root", role="admin")
    login(client, "root")
    for url in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/", "http://user:pass@93.184.215.14/"):
        response = client.post(f"/admin/sites/{site.id}", data=_settings_form(client, site.id, callback_url=url))
        assert response.status_code == 400 and "Callback URL" in response.text, url
    db.expire_all()
    assert db.get(Site, site.id).callback_url is None
    saved = client.post(f"/admin/sites/{site.id}",
                        data=_settings_form(client, site.id, callback_url="https://93.184.215.14/hook"))
    assert saved.status_code == 302
    db.expire_all()
    assert db.get(Site, site.id).callback_url == "https://93.184.215.14/hook"


def _set_url(vigie, site_id, url):
    with vigie.db.session() as session:
        session.get(Site, site_id).callback_url = url


def _attempt(vigie):
    with vigie.db.session() as session:
        delivery = session.scalar(select(WebhookDelivery))
        attempts = list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)))
        return delivery, attempts


def test_a_delivery_to_an_internal_address_is_refused_without_connecting(vigie, site, app, client, strict):
    """A URL stored before the rules existed (or edited in the database) is checked again at delivery."""
    fake = FakeRedis()
    try:
        _set_url(vigie, site.id, f"http://127.0.0.1:{fake.port}/")
        _decide(vigie, site.id)
        run_webhook_jobs(app)
    finally:
        fake.close()
    assert fake.connections == 0
    delivery, (attempt,) = _attempt(vigie)
    assert delivery.state == "failed" and attempt.status_code is None and "not allowed" in attempt.error
    shown = client.get(f"/api/v1/webhook-deliveries/{delivery.id}", headers=site.headers).get_json()
    assert "redis-secret" not in json.dumps(shown)


def test_an_allowed_receiver_that_answers_garbage_leaks_nothing_into_the_error(vigie, site, app, client):
    fake = FakeRedis()  # 127.0.0.0/8 is allowed in the test settings: the connection is made
    try:
        _set_url(vigie, site.id, f"http://127.0.0.1:{fake.port}/")
        _decide(vigie, site.id)
        run_webhook_jobs(app, )
    finally:
        fake.close()
    assert fake.connections >= 1
    delivery, attempts = _attempt(vigie)
    assert attempts and all("redis-secret" not in (a.error or "") for a in attempts)
    listed = client.get("/api/v1/webhook-deliveries", headers=site.headers).get_json()
    assert "redis-secret" not in json.dumps(listed)


def test_delivery_connects_to_the_address_it_checked(vigie, site, app, settings, monkeypatch):
    """DNS rebinding: the name answers a public-looking allowed address at check time, then the metadata address.
    The delivery must connect to the first answer and never look the name up again."""
    real = socket.getaddrinfo
    lookups = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.rebind.test":
            lookups.append(host)
            address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(settings, "callback_allow_hosts", "")
    monkeypatch.setattr(settings, "callback_allow_networks", "127.0.0.0/8")
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        _set_url(vigie, site.id, f"http://hooks.rebind.test:{port}/hooks/vigie")
        _decide(vigie, site.id)
        run_webhook_jobs(app)
        (request,) = receiver.wait_for(1)
    assert lookups == ["hooks.rebind.test"]
    assert request.headers["Host"] == f"hooks.rebind.test:{port}"
    delivery, _ = _attempt(vigie)
    assert delivery.state == "delivered"


def test_redirects_are_not_followed(vigie, site, app, settings, monkeypatch):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    monkeypatch.setattr(settings, "webhook_retry_intervals", [])
    with Receiver() as inner:
        class Redirect(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.send_response(307)
                self.send_header("Location", inner.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            _set_url(vigie, site.id, f"http://127.0.0.1:{server.server_address[1]}/")
            _decide(vigie, site.id)
            run_webhook_jobs(app)
        finally:
            server.shutdown()
            server.server_close()
        assert inner.requests == []
    delivery, (attempt,) = _attempt(vigie)
    assert delivery.state == "failed" and attempt.status_code == 307
