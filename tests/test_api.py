"""The HTTP door: signatures, validation, idempotency, batches, quotas, storage failure.
Every answer is also checked against wpbridge/openapi.yaml (see conftest.SiteClient)."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import make_site, message
from wpbridge.ingest.signing import sign_headers
from wpbridge.models import Message, Recipient


def count(app, model=Message) -> int:
    with app.extensions["wpbridge"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_accepts_and_reports_a_message(app, site):
    resp = site.post("/api/v1/messages", message(to=["a@example.org", "B <b@example.net>"],
                                                  bcc=["c@example.com"]))
    assert resp.status_code == 202, resp.json
    body = resp.json
    assert body["status"] == "queued" and body["recipients"] == 3
    assert body["category"] == "transactional"
    got = site.get(f"/api/v1/messages/{body['id']}")
    assert got.status_code == 200
    info = got.json
    assert [r["address"] for r in info["recipients"]] == ["a@example.org", "b@example.net", "c@example.com"]
    assert {r["state"] for r in info["recipients"]} == {"queued"}
    assert info["context"]["wc_email_id"] == "customer_processing_order"
    assert info["reasons"] == ["context: WooCommerce email customer_processing_order"]


def test_message_is_committed_before_202(app, site, settings):
    """A separate connection sees the message as soon as the 202 is out."""
    resp = site.post("/api/v1/messages", message())
    assert resp.status_code == 202
    if settings.is_sqlite:
        path = settings.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("select count(*) from messages where id=?", (resp.json["id"],)).fetchone()[0] == 1
    else:
        assert count(app) == 1


@pytest.mark.parametrize("mutate, code", [
    (lambda h: h.pop("X-WPBridge-Signature"), "missing_signature"),
    (lambda h: h.pop("X-WPBridge-Key-Id"), "missing_signature"),
    (lambda h: h.pop("X-WPBridge-Timestamp"), "missing_signature"),
    (lambda h: h.update({"X-WPBridge-Signature": "v1=" + "0" * 64}), "bad_signature"),
    (lambda h: h.update({"X-WPBridge-Key-Id": "wpb_nosuchkey"}), "unknown_key"),
    (lambda h: h.update({"X-WPBridge-Timestamp": "yesterday"}), "bad_timestamp"),
])
def test_401_for_bad_signatures(app, site, mutate, code):
    body = json.dumps(message()).encode()
    headers = sign_headers(site.key_id, site.secret, "POST", "/api/v1/messages", body)
    mutate(headers)
    resp = site.request("POST", "/api/v1/messages", body, headers, sign=False)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["fix"]
    assert count(app) == 0


def test_401_for_stale_and_tampered_requests(app, site):
    body = json.dumps(message()).encode()
    stale = sign_headers(site.key_id, site.secret, "POST", "/api/v1/messages", body, now=time.time() - 301)
    resp = site.request("POST", "/api/v1/messages", body, stale, sign=False)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "stale_signature"
    good = sign_headers(site.key_id, site.secret, "POST", "/api/v1/messages", body)
    tampered = body.replace(b"alice@", b"mallory@")
    resp = site.request("POST", "/api/v1/messages", tampered, good, sign=False)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_signature"
    # A body signed for the single endpoint cannot be replayed at the batch endpoint.
    resp = site.request("POST", "/api/v1/messages/batch", body, good, sign=False)
    assert resp.status_code == 401
    assert count(app) == 0


def test_another_sites_secret_does_not_sign_for_this_site(app, settings, site):
    other = make_site(app, settings, "other.example.net", ["example.net"])
    body = json.dumps(message()).encode()
    headers = sign_headers(site.key_id, other.secret, "POST", "/api/v1/messages", body)
    assert site.request("POST", "/api/v1/messages", body, headers, sign=False).status_code == 401


@pytest.mark.parametrize("payload, status, code, field", [
    (b"{not json", 400, "malformed", "body"),
    (b"[]", 400, "malformed", "body"),
    (message(to="not-an-address"), 422, "invalid_address", "to"),  # a string names the field itself
    (message(to=["ok@example.org", "bad@@example.org"]), 422, "invalid_address", "to[1]"),
    (message(to=[], cc=[], bcc=[]), 422, "no_recipients", "to"),
    (message(subject="Hi\r\nBcc: victim@example.org"), 422, "header_injection", "subject"),
    (message(to=["a@example.org\r\nBcc: victim@example.org"]), 422, "header_injection", "to[0]"),
    (message(headers={"X-Order": "1\nBcc: v@example.org"}), 422, "header_injection", "headers.X-Order"),
    (message(headers={"Bcc": "v@example.org"}), 422, "invalid_header", "headers.Bcc"),
    (message(headers={"Bad Name": "x"}), 422, "invalid_header", "headers.Bad Name"),
    (message(**{"from": "Shop <shop@evil.example>"}), 422, "sender_domain", "from"),
    (message(attachments=[{"filename": "a.txt", "content": "%%%"}]), 400, "malformed", "attachments[0].content"),
    (message(to=42), 400, "malformed", "to"),
    ({"raw": "!!!", "envelope": {"from": "shop@example.com", "to": ["a@example.org"]}}, 400, "malformed", "raw"),
    ({"raw": base64.b64encode(b"From: shop@example.com\r\n\r\nhi").decode(),
      "envelope": {"from": "shop@example.com", "to": []}}, 422, "no_recipients", "envelope.to"),
    ({"raw": base64.b64encode(b"From: shop@example.com\r\n\r\nhi").decode(),
      "envelope": {"from": "bounce@elsewhere.example", "to": ["a@example.org"]}}, 422, "sender_domain", "envelope.from"),
    ({"raw": base64.b64encode(b"Subject: no from\r\n\r\nhi").decode(),
      "envelope": {"from": "shop@example.com", "to": ["a@example.org"]}}, 422, "no_from", "raw"),
])
def test_bad_input_names_the_field_and_the_fix(app, settings, payload, status, code, field):
    site = make_site(app, settings, from_policy="refuse")  # today's sender rule: refuse, not rewrite
    resp = site.post("/api/v1/messages", payload)
    assert resp.status_code == status, resp.json
    err = resp.json["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"] and err["fix"]
    assert count(app) == 0


def test_sender_domain_error_says_how_to_add_it(app, settings):
    site = make_site(app, settings, from_policy="refuse")
    resp = site.post("/api/v1/messages", message(**{"from": "news@shop.example.net"}))
    assert resp.status_code == 422
    assert "shop.example.net is not one of this site's sending domains" in resp.json["error"]["message"]
    assert "wpbridge site domains add shop.example.com shop.example.net" in resp.json["error"]["fix"]


def test_413_when_the_message_is_too_large(app, settings, engine):
    from wpbridge.app import create_app

    small = create_app(settings.replace(max_message_bytes=10_000), engine)
    site = make_site(small, settings)
    big = base64.b64encode(b"x" * 9_000).decode()
    resp = site.post("/api/v1/messages", message(attachments=[{"filename": "a.bin", "content": big}]))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "too_large"
    huge = base64.b64encode(b"x" * 2_000_000).decode()  # over the request body limit itself
    resp = site.post("/api/v1/messages", message(attachments=[{"filename": "a.bin", "content": huge}]))
    assert resp.status_code == 413 and resp.json["error"]["code"] == "too_large"
    assert count(small) == 0


def test_idempotency_key_never_makes_a_second_message(app, site):
    key = {"Idempotency-Key": "order-1001-processing"}
    first = site.post("/api/v1/messages", message(), key)
    again = site.post("/api/v1/messages", message(), key)
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app) == 1 and count(app, Recipient) == 1
    other = site.post("/api/v1/messages", message(subject="Different"), key)
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    assert count(app) == 1


def test_idempotency_keys_are_per_site(app, settings, site):
    other = make_site(app, settings, "other.example.net", ["example.net"])
    key = {"Idempotency-Key": "same-key"}
    a = site.post("/api/v1/messages", message(), key)
    b = other.post("/api/v1/messages", message(**{"from": "x@example.net"}), key)
    assert a.status_code == b.status_code == 202 and a.json["id"] != b.json["id"]


def test_batch_is_all_or_nothing(app, site):
    good = [message(to=[f"r{i}@example.org"]) for i in range(3)]
    resp = site.post("/api/v1/messages/batch", {"messages": good + [message(to=["broken"])]})
    assert resp.status_code == 422
    assert resp.json["error"]["field"] == "messages[3].to[0]"
    assert count(app) == 0
    resp = site.post("/api/v1/messages/batch", {"messages": good}, {"Idempotency-Key": "batch-1"})
    assert resp.status_code == 202 and len(resp.json["messages"]) == 3
    again = site.post("/api/v1/messages/batch", {"messages": good}, {"Idempotency-Key": "batch-1"})
    assert [m["id"] for m in again.json["messages"]] == [m["id"] for m in resp.json["messages"]]
    assert all(m["replayed"] for m in again.json["messages"])
    assert count(app) == 3


def test_429_with_retry_after_when_quota_is_used(app, settings):
    site = make_site(app, settings, hourly_quota=3)
    assert site.post("/api/v1/messages", message(to=["a@example.org", "b@example.org"])).status_code == 202
    assert site.post("/api/v1/messages", message()).status_code == 202
    resp = site.post("/api/v1/messages", message())
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "quota_exceeded"
    assert 3000 < int(resp.headers["Retry-After"]) <= 3600
    assert count(app) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_503_when_storage_is_locked_and_nothing_is_stored(app, site, settings):
    path = settings.database_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        resp = site.post("/api/v1/messages", message(), {"Idempotency-Key": "k1"})
        assert resp.status_code == 503
        assert resp.json["error"]["code"] == "storage_unavailable"
        assert resp.headers["Retry-After"] == "5"
    finally:
        blocker.rollback()
        blocker.close()
    assert count(app) == 0
    # The client's retry with the same key then succeeds, once.
    assert site.post("/api/v1/messages", message(), {"Idempotency-Key": "k1"}).status_code == 202
    assert count(app) == 1


def test_503_when_the_database_is_gone(app, site, settings):
    """The database stops answering after the site was authenticated: 503, never a 202."""
    from wpbridge import db

    assert site.get("/api/v1/ping").status_code == 200  # the site's key is now cached
    bad_url = ("sqlite:////nonexistent-dir/x.db" if settings.is_sqlite
               else "postgresql://nobody@127.0.0.1:1/none")
    app.extensions["wpbridge"].engine = db.make_engine(settings.replace(database_url=bad_url))
    resp = site.post("/api/v1/messages", message())
    assert resp.status_code == 503
    assert resp.json["error"]["code"] == "storage_unavailable"
    assert "nothing was accepted" in resp.json["error"]["message"]


def test_messages_of_another_site_are_invisible(app, settings, site):
    other = make_site(app, settings, "other.example.net", ["example.net"])
    mid = site.post("/api/v1/messages", message()).json["id"]
    assert other.get(f"/api/v1/messages/{mid}").status_code == 404
    assert site.get(f"/api/v1/messages/{mid}").status_code == 200


def test_ping_and_openapi(app, site):
    resp = site.get("/api/v1/ping")
    assert resp.status_code == 200 and resp.json["site"] == "shop.example.com"
    doc = app.test_client().get("/api/v1/openapi.yaml")
    assert doc.status_code == 200 and b"/api/v1/messages/batch" in doc.data
