"""Replay protection (issue 15, finding 6) and the recipient limit per API message.

A signed POST, PUT or DELETE carries X-WPBridge-Nonce inside its signature; the bridge keeps
used nonces in the database for the signature window, so the same signed request sent again,
to this process or another, is refused with 401 and changes nothing. Every answer is checked
against wpbridge/openapi.yaml (conftest.SiteClient)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from tests.conftest import SiteClient, message
from wpbridge import db
from wpbridge.app import create_app
from wpbridge.ingest import replay
from wpbridge.ingest.signing import sign_headers
from wpbridge.models import EmbedToken, Message, RequestNonce, Suppression


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def signed(site: SiteClient, method: str, path: str, body: bytes = b"") -> dict:
    return {**sign_headers(site.key_id, site.secret, method, path, body),
            "Content-Type": "application/json"}


def assert_replay_refused(resp) -> None:
    assert resp.status_code == 401, resp.json
    err = resp.json["error"]
    assert err["code"] == "replayed"
    assert "already received (nonce reused)" in err["message"]
    assert "new X-WPBridge-Nonce" in err["fix"]


def test_replayed_post_message_makes_one_message(engine, site):
    """Finding 6: one signed POST /messages sent three times, no Idempotency-Key."""
    body = json.dumps(message()).encode()
    h = signed(site, "POST", "/api/v1/messages", body)
    first = site.request("POST", "/api/v1/messages", body, h)
    assert first.status_code == 202, first.json
    for _ in range(2):
        assert_replay_refused(site.request("POST", "/api/v1/messages", body, h))
    assert count(engine, Message) == 1
    # The same message signed again (a new nonce) is a new request: a second message.
    assert site.request("POST", "/api/v1/messages", body).status_code == 202
    assert count(engine, Message) == 2


def test_replayed_batch_is_refused(engine, site):
    body = json.dumps({"messages": [message(), message(to=["bob@example.org"])]}).encode()
    h = signed(site, "POST", "/api/v1/messages/batch", body)
    assert site.request("POST", "/api/v1/messages/batch", body, h).status_code == 202
    assert_replay_refused(site.request("POST", "/api/v1/messages/batch", body, h))
    assert count(engine, Message) == 2


def test_idempotency_key_retry_signs_again_and_gets_the_first_message(engine, site):
    """The plugin's spool: a retry keeps its Idempotency-Key and sends a new nonce."""
    body = json.dumps(message()).encode()
    first = site.request("POST", "/api/v1/messages", body, {"Idempotency-Key": "order-1001-mail"})
    again = site.request("POST", "/api/v1/messages", body, {"Idempotency-Key": "order-1001-mail"})
    assert first.status_code == again.status_code == 202
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert count(engine, Message) == 1


def test_replayed_embed_token_gives_no_second_url(engine, site):
    body = b"{}"
    h = signed(site, "POST", "/api/v1/embed-token", body)
    first = site.request("POST", "/api/v1/embed-token", body, h)
    assert first.status_code == 201, first.json
    for _ in range(2):
        assert_replay_refused(site.request("POST", "/api/v1/embed-token", body, h))
    assert count(engine, EmbedToken) == 1


def test_replayed_delete_suppression_changes_nothing(engine, site):
    path = "/api/v1/suppressions/alice@example.org"
    assert site.post("/api/v1/suppressions", {"address": "alice@example.org"}).status_code == 201
    h = signed(site, "DELETE", path)
    assert site.request("DELETE", path, b"", h).status_code == 204
    # The site suppresses the address again; a captured DELETE must not undo that.
    assert site.post("/api/v1/suppressions", {"address": "alice@example.org"}).status_code == 201
    assert_replay_refused(site.request("DELETE", path, b"", h))
    assert count(engine, Suppression) == 1
    listed = site.get("/api/v1/suppressions").json["suppressions"]
    assert [s["address"] for s in listed] == ["alice@example.org"]


def test_replayed_put_alert_settings_is_refused(site):
    body = json.dumps({"contact_email": "owner@example.com"}).encode()
    h = signed(site, "PUT", "/api/v1/alert-settings", body)
    assert site.request("PUT", "/api/v1/alert-settings", body, h).status_code == 200
    assert_replay_refused(site.request("PUT", "/api/v1/alert-settings", body, h))


def old_signature(site: SiteClient, method: str, path: str, body: bytes) -> dict:
    """What a plugin from before replay protection sends: no nonce, none signed."""
    ts = str(int(time.time()))
    data = f"{site.key_id}\n{ts}\n{method}\n{path}\n".encode() + body
    return {"X-WPBridge-Key-Id": site.key_id, "X-WPBridge-Timestamp": ts,
            "X-WPBridge-Signature": "v1=" + hmac.new(site.secret.encode(), data, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/messages", json.dumps(message()).encode()),
    ("POST", "/api/v1/embed-token", b"{}"),
    ("PUT", "/api/v1/alert-settings", b"{}"),
    ("DELETE", "/api/v1/suppressions/alice@example.org", b""),
])
def test_write_without_nonce_is_refused_naming_the_header(engine, site, method, path, body):
    resp = site.request(method, path, body, old_signature(site, method, path, body), sign=False)
    assert resp.status_code == 401, resp.json
    err = resp.json["error"]
    assert err["code"] == "missing_nonce"
    assert "X-WPBridge-Nonce header is missing" in err["message"]
    assert "update the wpbridge plugin" in err["fix"]
    assert count(engine, Message) == count(engine, EmbedToken) == 0


def test_get_needs_no_nonce_and_may_send_one(site):
    h = old_signature(site, "GET", "/api/v1/ping", b"")
    assert site.request("GET", "/api/v1/ping", b"", h, sign=False).status_code == 200
    assert site.request("GET", "/api/v1/ping", b"", h, sign=False).status_code == 200
    # A GET may carry a nonce (the plugin signs every request alike); it is signed, not kept.
    h = sign_headers(site.key_id, site.secret, "GET", "/api/v1/ping", b"", nonce="n" * 32)
    assert site.request("GET", "/api/v1/ping", b"", h, sign=False).status_code == 200
    assert site.request("GET", "/api/v1/ping", b"", h, sign=False).status_code == 200


def test_nonce_is_signed_and_well_formed(engine, site):
    body = json.dumps(message()).encode()
    # A replayer cannot swap in a new nonce: it is part of the signed string.
    h = signed(site, "POST", "/api/v1/messages", body)
    h["X-WPBridge-Nonce"] = "f" * 32
    resp = site.request("POST", "/api/v1/messages", body, h, sign=False)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_signature"
    for bad in ("short", "x" * 65, "has space in it 0123", "ünïcödé-nonce-0123456"):
        h = sign_headers(site.key_id, site.secret, "POST", "/api/v1/messages", body, nonce=bad)
        try:
            resp = site.request("POST", "/api/v1/messages", body, h, sign=False)
        except UnicodeEncodeError:  # the test client cannot send it; neither can a client
            continue
        assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_nonce", bad
        assert "16 to 64 characters" in resp.json["error"]["message"]
    assert count(engine, Message) == 0


def test_nonces_of_two_sites_do_not_collide(app, settings, engine, site):
    from tests.conftest import make_site

    other = make_site(app, settings, "blog.example.net", ("example.net",))
    mine = json.dumps(message()).encode()
    theirs = json.dumps(message(**{"from": "blog@example.net"})).encode()
    h1 = sign_headers(site.key_id, site.secret, "POST", "/api/v1/messages", mine, nonce="same-nonce-0123456789")
    h2 = sign_headers(other.key_id, other.secret, "POST", "/api/v1/messages", theirs, nonce="same-nonce-0123456789")
    assert site.request("POST", "/api/v1/messages", mine, h1, sign=False).status_code == 202
    assert other.request("POST", "/api/v1/messages", theirs, h2, sign=False).status_code == 202


def test_concurrent_replays_store_one_message(settings, engine, site):
    """The same signed request sent at once from eight threads to two apps (two engines,
    two group commits) on one database: exactly one is taken."""
    second = db.make_engine(settings)
    try:
        apps = [create_app(settings, engine), create_app(settings, second)]
        body = json.dumps(message()).encode()
        h = signed(site, "POST", "/api/v1/messages", body)
        codes, start = [], threading.Barrier(8)

        def send(i):
            client = apps[i % 2].test_client()
            start.wait()
            codes.append(client.post("/api/v1/messages", data=body, headers=h).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [202] + [401] * 7, codes
        assert count(engine, Message) == 1
    finally:
        second.dispose()


def test_stale_nonces_are_pruned(engine, site, monkeypatch):
    with engine.begin() as conn:
        for until in (time.time() - 400, time.time() - 1, time.time() + 200):
            conn.execute(RequestNonce.__table__.insert().values(key=f"{int(until):010d}" + "0" * 54))
    monkeypatch.setitem(replay._pruned, "at", 0.0)
    assert site.post("/api/v1/messages", message()).status_code == 202
    with engine.connect() as conn:
        keys = sorted(conn.scalars(select(RequestNonce.key)))
    assert len(keys) == 2 and all(int(k[:10]) > time.time() for k in keys), keys


def test_two_web_processes_refuse_a_replay_across_processes(settings, engine, site, tmp_path):
    """Two ``wpbridge web`` servers (gunicorn) on one database: a request taken by one is
    refused by the other."""
    from tests.smtp_sink import free_port
    from tests.test_processes import _up, wait_for

    env = dict(os.environ, WPBRIDGE_DATA=str(tmp_path), WPBRIDGE_DATABASE_URL=settings.database_url,
               WPBRIDGE_SECRET_KEY=settings.secret_key)
    ports = [free_port(), free_port()]
    webs = [subprocess.Popen([sys.executable, "-m", "wpbridge", "web", "--http", f"127.0.0.1:{p}"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for p in ports]
    try:
        for p in ports:
            wait_for(lambda: _up(p), 60, "wpbridge web", webs)
        body = json.dumps(message()).encode()
        h = signed(site, "POST", "/api/v1/messages", body)
        first = requests.post(f"http://127.0.0.1:{ports[0]}/api/v1/messages", data=body, headers=h, timeout=30)
        assert first.status_code == 202, first.text
        again = requests.post(f"http://127.0.0.1:{ports[1]}/api/v1/messages", data=body, headers=h, timeout=30)
        assert again.status_code == 401 and again.json()["error"]["code"] == "replayed", again.text
        path = "/api/v1/embed-token"
        h = signed(site, "POST", path, b"{}")
        assert requests.post(f"http://127.0.0.1:{ports[1]}{path}", data=b"{}", headers=h, timeout=30).status_code == 201
        again = requests.post(f"http://127.0.0.1:{ports[0]}{path}", data=b"{}", headers=h, timeout=30)
        assert again.status_code == 401 and again.json()["error"]["code"] == "replayed", again.text
        assert count(engine, Message) == 1 and count(engine, EmbedToken) == 1
    finally:
        for w in webs:
            w.send_signal(signal.SIGTERM)
        for w in webs:
            w.communicate(timeout=30)


# -- the recipient limit ------------------------------------------------------------------

def addresses(n: int, domain: str = "example.org") -> list[str]:
    return [f"r{i}@{domain}" for i in range(n)]


def test_recipient_limit_per_message(engine, site):
    """Also seen in the review: 100,001 recipients in one API message; SMTP caps at 1,000."""
    at_limit = site.post("/api/v1/messages", message(to=addresses(600), bcc=addresses(400, "example.net")))
    assert at_limit.status_code == 202 and at_limit.json["recipients"] == 1000
    over = site.post("/api/v1/messages", message(to=addresses(600), bcc=addresses(401, "example.net")))
    assert over.status_code == 422, over.json
    err = over.json["error"]
    assert err["code"] == "too_many_recipients" and err["field"] == "to"
    assert "1001 recipients" in err["message"] and "limit of 1000" in err["message"]
    assert "WPBRIDGE_MAX_RECIPIENTS" in err["fix"]
    # The review's reproduction: 100,001 recipients in one message.
    huge = site.post("/api/v1/messages", message(to=addresses(100_001)))
    assert huge.status_code == 422 and huge.json["error"]["field"] == "to"
    assert "100001 recipients" in huge.json["error"]["message"]
    assert count(engine, Message) == 1


def test_recipient_limit_names_the_message_in_a_batch_and_the_raw_envelope(engine, site):
    batch = {"messages": [message(), message(), message(to=addresses(1001))]}
    resp = site.post("/api/v1/messages/batch", batch)
    assert resp.status_code == 422 and resp.json["error"]["field"] == "messages[2].to"
    import base64

    raw = base64.b64encode(b"From: shop@example.com\r\nTo: list@example.org\r\nSubject: x\r\n\r\nhi\r\n").decode()
    resp = site.post("/api/v1/messages", {"raw": raw, "envelope": {"from": "shop@example.com",
                                                                   "to": addresses(1001)}})
    assert resp.status_code == 422 and resp.json["error"]["field"] == "envelope.to"
    assert count(engine, Message) == 0


def test_recipient_limit_is_a_setting(settings, engine):
    from tests.conftest import make_site

    app = create_app(settings.replace(max_recipients=2), engine)
    app.testing = True
    small = make_site(app, settings)
    assert small.post("/api/v1/messages", message(to=addresses(2))).status_code == 202
    resp = small.post("/api/v1/messages", message(to=addresses(2), cc=["c@example.net"]))
    assert resp.status_code == 422 and "limit of 2" in resp.json["error"]["message"]
