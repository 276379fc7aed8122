"""Regression tests for issue 15's input findings, written from their reproductions: header
injection through control characters other than CR/LF (1), 500s on odd input (5), control
bytes and MIME structure smuggled through attachments (8), international addresses."""

from __future__ import annotations

import base64
import json
from email import message_from_bytes, message_from_string, policy

import pytest

from tests.conftest import make_site, message
from tests.smtp_sink import Sink
from tests.test_relay import drain, provider_settings
from tests.test_smtp import ca, client_tls, listener, tls_files  # noqa: F401 - fixtures
from wpbridge.app import create_app
from wpbridge.worker import Worker

INJECTED = "Contact form message from the site, sent by a visitor" + " " * 30


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00",
                                  "\x7f", "\x85", "\u2028", "\u2029", "\r", "\n"])
@pytest.mark.parametrize("field", ["subject", "headers.X-Form", "to[0]", "from"])
def test_every_control_character_in_a_header_value_is_refused(app, site, char, field):
    value = INJECTED + char + "Reply-To : attacker@evil.example"
    if field == "subject":
        body = message(subject=value)
    elif field == "headers.X-Form":
        body = message(headers={"X-Form": value})
    elif field == "to[0]":
        body = message(to=[f"{value} <alice@example.org>"])
    else:
        body = message(**{"from": f"{value} <shop@example.com>"})
    resp = site.post("/api/v1/messages", body)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "header_injection"
    assert resp.json["error"]["field"] == field


def test_a_tab_is_still_allowed(app, site):
    assert site.post("/api/v1/messages", message(subject="Order\t#1001")).status_code == 202


def test_raw_messages_with_control_characters_in_headers_are_refused(app, site):
    raw = (b"From: shop@example.com\r\nTo: alice@example.org\r\nSubject: " + INJECTED.encode()
           + b"\x0bReply-To : attacker@evil.example\r\n\r\nbody\r\n")
    resp = site.post("/api/v1/messages", {"raw": base64.b64encode(raw).decode(),
                                          "envelope": {"from": "shop@example.com",
                                                       "to": ["alice@example.org"]}})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "header_injection"
    assert resp.json["error"]["field"] == "raw"


def test_control_characters_are_refused_by_smtp_too(app, site, listener, client_tls):
    from tests.test_smtp import assert_refused, login, rfc5322, send

    client = login(listener, site, client_tls)
    try:
        raw = rfc5322(subject=INJECTED + "\x0cReply-To : attacker@evil.example")
        assert_refused(send(client, raw), 550, "5.6.0", "control character")
    finally:
        client.close()


@pytest.mark.parametrize("payload, status, field", [
    (message(attachments=-1), 400, "attachments"),
    (message(context={"plugin": {}}), 400, "context.plugin"),
    (message(subject="\ud800"), 400, "subject"),
    (message(text="caf\udce9"), 400, "text"),
    (message(attachments=[{"filename": "x.eml", "content_type": "multipart/mixed",
                           "content": base64.b64encode(b"a\nb\n").decode()}]), 422,
     "attachments[0].content_type"),
    (message(attachments=[{"filename": "x.eml", "content_type": "message/rfc822",
                           "content": base64.b64encode(b"a\nb\n").decode()}]), 422,
     "attachments[0].content_type"),
])
def test_odd_input_gets_a_named_refusal_not_a_500(app, site, payload, status, field):
    resp = site.post("/api/v1/messages", payload)
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["field"] == field


def test_a_header_name_given_twice_in_another_case_is_refused(app, site):
    # Found by bench/fuzz.py: {"X-U": "", "X-u": ""} made one field twice.
    resp = site.post("/api/v1/messages", message(headers={"X-Order": "1", "x-order": "2"}))
    assert resp.status_code == 422 and resp.json["error"]["field"] == "headers.x-order"


def test_deeply_nested_json_is_a_400_everywhere(app, site, settings):
    deep = b"[" * 1000 + b"]" * 1000
    assert site.request("POST", "/api/v1/messages", deep).status_code == 400
    client = app.test_client()
    for provider in ("mailgun", "ses", "sendgrid", "postmark"):
        resp = client.post(f"/webhooks/{provider}/{site.name}", data=deep,
                           content_type="application/json")
        assert resp.status_code < 500, (provider, resp.status_code)


def test_ses_certificate_url_with_an_impossible_port_is_refused(app, site):
    from wpbridge.events.webhooks.ses import sns_url

    assert not sns_url("https://sns.eu-west-1.amazonaws.com:99999/cert.pem", certificate=True)
    assert sns_url("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
                   certificate=True)


def test_a_huge_offset_is_a_400(app, site):
    resp = site.get("/api/v1/suppressions?offset=" + "9" * 40)
    assert resp.status_code == 400 and resp.json["error"]["field"] == "limit"


def _deliver(settings, engine, sink_kwargs, payload):
    with Sink(**sink_kwargs) as sink:
        s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}")
        app = create_app(s, engine)
        client = make_site(app, s)
        resp = client.post("/api/v1/messages", payload)
        assert resp.status_code == 202, resp.json
        worker = Worker(s, engine, name="t")
        try:
            def done():
                states = [r["state"] for r in client.get(f"/api/v1/messages/{resp.json['id']}")
                          .json["recipients"]]
                return all(st not in ("queued", "deferred", "sending") for st in states)
            drain(worker, done)
        finally:
            worker.close()
        return client.get(f"/api/v1/messages/{resp.json['id']}").json, sink.received


def test_an_international_address_goes_with_smtputf8(settings, engine):
    report, received = _deliver(settings, engine, {"smtputf8": True},
                                message(to=["Jörg <jörg@example.com>", "alice@example.org"]))
    assert {r["state"] for r in report["recipients"]} == {"delivered"}
    [got] = received
    assert sorted(got.rcpt_tos) == ["alice@example.org", "jörg@example.com"]
    parsed = message_from_string(got.data.decode("utf-8"), policy=policy.SMTPUTF8)  # RFC 6532
    assert [a.addr_spec for a in parsed["To"].addresses] == ["jörg@example.com", "alice@example.org"]


def test_without_smtputf8_that_recipient_fails_with_the_reason(settings, engine):
    report, received = _deliver(settings, engine, {},
                                message(to=["jörg@example.com", "alice@example.org"]))
    states = {r["address"]: r for r in report["recipients"]}
    assert states["alice@example.org"]["state"] == "delivered"
    assert states["jörg@example.com"]["state"] == "failed"
    assert "SMTPUTF8" in states["jörg@example.com"]["last_response"]
    assert [r.rcpt_tos for r in received] == [["alice@example.org"]]


def test_relayed_headers_are_exactly_the_submitted_ones(settings, engine):
    subject = "x" * 90 + " tail"
    report, received = _deliver(settings, engine, {}, message(subject=subject,
                                                             headers={"X-Form": "y" * 100}))
    [got] = received
    parsed = message_from_bytes(got.data, policy=policy.default)
    assert parsed["Subject"] == subject and parsed["X-Form"] == "y" * 100
    assert parsed["Reply-To"] is None
    assert not any(ch in got.data.split(b"\r\n\r\n")[0] for ch in (b"\x0b", b"\x0c", b"\x00"))
