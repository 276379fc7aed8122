"""From the HTTP door to a real SMTP server on loopback, through the queue and the worker."""

from __future__ import annotations

import base64
import time

import pytest
import trustme

from tests.conftest import message
from tests.smtp_sink import Sink
from wpbridge.relay.providers import parse_provider
from wpbridge.worker import Worker


def provider_settings(settings, url: str, **extra):
    return settings.replace(providers={"default": parse_provider("default", {"url": url})},
                            default_provider="default", **extra)


def drain(worker: Worker, done, timeout: float = 15.0) -> None:
    """Run the worker until ``done()`` is true."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        if not worker.run_once():
            time.sleep(0.02)


@pytest.fixture
def relay_app(settings, engine, sink):
    """The app and a worker whose provider is the loopback sink."""
    from wpbridge.app import create_app

    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
    app = create_app(s, engine)
    worker = Worker(s, engine, name="test-worker")
    yield app, worker
    worker.close()


def site_for(app, settings):
    from tests.conftest import make_site

    return make_site(app, settings)


def states(site, mid) -> dict[str, str]:
    return {r["address"]: r["state"] for r in site.get(f"/api/v1/messages/{mid}").json["recipients"]}


def test_posted_message_arrives_once_with_everything(relay_app, settings, sink):
    app, worker = relay_app
    site = site_for(app, settings)
    pdf = b"%PDF-1.4 fake invoice \x00\x01\x02"
    resp = site.post("/api/v1/messages", message(
        to=["Alice Ärger <alice@example.org>"], cc=["bob@example.net"], bcc=["audit@example.com"],
        reply_to=["support@example.com"], subject="Ihre Bestellung Nr. 1001 – danke!",
        text="Plain body", html="<p>HTML body</p>", headers={"X-Order-Id": "1001"},
        attachments=[{"filename": "invoice-1001.pdf", "content_type": "application/pdf",
                      "content": base64.b64encode(pdf).decode()}]))
    assert resp.status_code == 202
    mid = resp.json["id"]
    drain(worker, lambda: set(states(site, mid).values()) == {"delivered"})
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got.mail_from == "shop@example.com"
    assert sorted(got.rcpt_tos) == ["alice@example.org", "audit@example.com", "bob@example.net"]
    msg = got.message
    assert msg["Subject"] == "Ihre Bestellung Nr. 1001 – danke!"
    assert msg["To"].addresses[0].display_name == "Alice Ärger"
    assert msg["Cc"] == "bob@example.net" and msg["Reply-To"] == "support@example.com"
    assert msg["X-Order-Id"] == "1001"
    assert msg["Bcc"] is None, "Bcc recipients must not be visible in the message"
    assert msg.get_body(("plain",)).get_content().strip() == "Plain body"
    assert msg.get_body(("html",)).get_content().strip() == "<p>HTML body</p>"
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "invoice-1001.pdf" and att.get_content() == pdf
    # Nothing more arrives later: delivered exactly once.
    assert worker.run_once() == 0 and len(sink.received) == 1


def test_starttls_auth_with_verified_certificate(settings, engine, tmp_path):
    from wpbridge.app import create_app

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Sink(tls_context=server_ctx, auth=("apikey", "s3cret/+")) as sink:
        url = f"smtp+starttls://apikey:s3cret%2F%2B@localhost:{sink.port}"
        # Without the test CA the certificate cannot be verified: deferred, not delivered.
        s = provider_settings(settings, url, retry_base=30)
        app = create_app(s, engine)
        site = site_for(app, settings)
        mid = site.post("/api/v1/messages", message()).json["id"]
        Worker(s, engine).run_once()
        info = site.get(f"/api/v1/messages/{mid}").json["recipients"][0]
        assert info["state"] == "queued" and "CERTIFICATE_VERIFY_FAILED" in info["last_response"]
        assert sink.received == []
        # With the CA: delivered over STARTTLS with AUTH.
        s2 = provider_settings(settings, url, ca_file=str(ca_file))
        mid2 = site.post("/api/v1/messages", message(subject="second")).json["id"]
        w = Worker(s2, engine)
        drain(w, lambda: states(site, mid2) == {"alice@example.org": "delivered"})
        w.close()
        assert [m.message["Subject"] for m in sink.received] == ["second"]


def test_temporary_failure_is_retried_until_delivered(relay_app, settings, sink):
    app, worker = relay_app
    site = site_for(app, settings)
    sink.handler.data_script = ["421 4.3.0 Try again later"]
    mid = site.post("/api/v1/messages", message()).json["id"]
    worker.run_once()
    r = site.get(f"/api/v1/messages/{mid}").json["recipients"][0]
    assert (r["state"], r["attempts"], r["last_code"]) == ("queued", 1, 421)
    drain(worker, lambda: states(site, mid) == {"alice@example.org": "delivered"})
    r = site.get(f"/api/v1/messages/{mid}").json["recipients"][0]
    assert [h["outcome"] for h in r["history"]] == ["deferred", "delivered"]
    assert [h["code"] for h in r["history"]] == [421, 250]
    assert len(sink.received) == 1


def test_each_recipient_gets_its_own_state(relay_app, settings, sink):
    app, worker = relay_app
    site = site_for(app, settings)
    sink.handler.rcpt_script = {"gone@example.org": ["550 5.1.1 No such user"]}
    mid = site.post("/api/v1/messages", message(to=["gone@example.org", "here@example.org"])).json["id"]
    drain(worker, lambda: "queued" not in states(site, mid).values())
    assert states(site, mid) == {"gone@example.org": "failed", "here@example.org": "delivered"}
    info = site.get(f"/api/v1/messages/{mid}").json
    assert info["status"] == "partial"
    gone = next(r for r in info["recipients"] if r["address"] == "gone@example.org")
    assert gone["last_code"] == 550 and "No such user" in gone["last_response"]
    assert [m.rcpt_tos for m in sink.received] == [["here@example.org"]]


def test_unreachable_provider_defers_then_expires_at_max_age(settings, engine):
    from wpbridge.app import create_app
    from tests.smtp_sink import free_port

    s = provider_settings(settings, f"smtp://127.0.0.1:{free_port()}", max_age=0.3)
    app = create_app(s, engine)
    site = site_for(app, settings)
    mid = site.post("/api/v1/messages", message()).json["id"]
    w = Worker(s, engine)
    drain(w, lambda: states(site, mid) == {"alice@example.org": "expired"})
    r = site.get(f"/api/v1/messages/{mid}").json["recipients"][0]
    assert r["last_code"] is None and "Connection refused" in r["last_response"]
    assert r["history"][-1]["outcome"] == "expired"


def test_line_endings_are_normalised_and_bcc_removed(relay_app, settings, sink):
    app, worker = relay_app
    site = site_for(app, settings)
    raw = (b"From: Shop <shop@example.com>\nTo: alice@example.org\nBcc: hidden@example.com\n"
           b"Subject: bare LF\n\nline one\nline two\rline three\r\n.\nlast\n")
    mid = site.post("/api/v1/messages", {"raw": base64.b64encode(raw).decode(), "envelope": {
        "from": "shop@example.com", "to": ["alice@example.org", "hidden@example.com"]}}).json["id"]
    drain(worker, lambda: set(states(site, mid).values()) == {"delivered"})
    data = sink.received[0].data
    assert b"\r\n" in data
    assert data.replace(b"\r\n", b"").count(b"\n") == 0 and data.replace(b"\r\n", b"").count(b"\r") == 0
    assert b"Bcc:" not in data and b"hidden@example.com" not in data
    assert b"line two\r\nline three\r\n.\r\nlast" in data  # the lone dot survives dot-stuffing
    assert sorted(sink.received[0].rcpt_tos) == ["alice@example.org", "hidden@example.com"]


def test_outbox_captures_when_no_provider(app, settings, engine, site):
    from wpbridge.relay.outbox import listing

    mid = site.post("/api/v1/messages", message()).json["id"]
    w = Worker(settings, engine)
    drain(w, lambda: states(site, mid) == {"alice@example.org": "delivered"})
    [row] = listing(settings.outbox_dir)
    assert row["to"] == ["alice@example.org"] and row["subject"] == "Your order #1001"
    assert row["message_id"] == mid
