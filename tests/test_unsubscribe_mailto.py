"""The mailto: target of List-Unsubscribe (RFC 2369 next to RFC 8058's https URL): a bulk
message carries both, and mail to the mailto address at the bounce listener unsubscribes
exactly as the one-click POST does."""

from __future__ import annotations

import re
import smtplib

import pytest

from tests.conftest import make_site, message
from tests.smtp_sink import free_port
from tests.test_relay import drain, provider_settings, states
from tests.test_routing import newsletter
from wpbridge import privacy
from wpbridge.app import create_app
from wpbridge.events.inbound import start_listener
from wpbridge.events.unsubscribe import mailto_address
from wpbridge.worker import Worker

UNSUBSCRIBE = re.compile(r"<(https://bridge\.example\.net/u/[^>]+)>,\s*"
                         r"<mailto:(unsubscribe\+[^@>]+@bounces\.example\.com)\?subject=unsubscribe>")


@pytest.fixture
def bridge(settings, engine, sink):
    # Two bounce domains: the mailto address must use the bulk route's return-path domain.
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", public_url="https://bridge.example.net",
                          bounce_domains=("bounces.example.net", "bounces.example.com"),
                          routes={"bulk": {"return_path": "bounces.example.com", "verp": True}})
    app = create_app(s, engine)
    worker = Worker(s, engine)
    port = free_port()
    listener = start_listener(engine, s, "127.0.0.1", port)
    yield app, worker, s, port
    listener.stop()
    worker.close()


def _newsletter_to(site, worker, sink, address):
    mid = site.post("/api/v1/messages", newsletter(to=[address])).json["id"]
    drain(worker, lambda: states(site, mid) == {address: "delivered"})
    [got] = [m for m in sink.received if m.rcpt_tos == [address]]
    return got.message


def test_mail_to_the_mailto_target_unsubscribes_from_that_sites_bulk_mail(bridge, sink):
    app, worker, s, port = bridge
    site = make_site(app, s)
    other = make_site(app, s, "other.example.net", ["example.net"])
    delivered = _newsletter_to(site, worker, sink, "ann@example.org")
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = UNSUBSCRIBE.fullmatch(delivered["List-Unsubscribe"])
    assert found, delivered["List-Unsubscribe"]
    mailto = found.group(2)
    assert len(mailto.partition("@")[0]) <= 64

    sink.received.clear()
    with smtplib.SMTP("127.0.0.1", port) as mx:  # as a mail program sends it; case may change
        mx.ehlo("mail.example.org")
        assert mx.mail("ann@example.org")[0] == 250
        assert mx.rcpt(mailto.upper())[0] == 250
        code, text = mx.data(b"From: ann@example.org\r\nTo: " + mailto.encode()
                             + b"\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n")
        assert (code, text) == (250, b"2.0.0 Unsubscribe recorded")
    assert sink.received == [], "the listener relays nothing"
    [entry] = site.get("/api/v1/suppressions").json["suppressions"]
    assert (entry["address"], entry["scope"], entry["reason"]) == ("ann@example.org", "bulk", "unsubscribe")
    assert other.get("/api/v1/suppressions").json["suppressions"] == []

    later_bulk = site.post("/api/v1/messages", newsletter(to=["ann@example.org"])).json["id"]
    receipt = site.post("/api/v1/messages", message(to=["ann@example.org"])).json["id"]
    other_bulk = other.post("/api/v1/messages", newsletter(
        **{"from": "news@example.net", "to": ["ann@example.org"]})).json["id"]
    drain(worker, lambda: "queued" not in {*states(site, later_bulk).values(), *states(site, receipt).values(),
                                           *states(other, other_bulk).values()})
    assert states(site, later_bulk) == {"ann@example.org": "suppressed"}
    assert states(site, receipt) == {"ann@example.org": "delivered"}, "receipts ignore unsubscribes"
    assert states(other, other_bulk) == {"ann@example.org": "delivered"}, "only that site's bulk mail"


def test_forged_mailto_addresses_are_refused_and_change_nothing(bridge, sink):
    app, worker, s, port = bridge
    site = make_site(app, s)
    real = UNSUBSCRIBE.fullmatch(_newsletter_to(site, worker, sink, "ann@example.org")["List-Unsubscribe"]).group(2)
    rid = int(real.split("+")[1].split("-")[0])
    forged = [
        mailto_address(s.replace(secret_key="another-key"), rid, "bounces.example.com"),
        real.replace(f"+{rid}-", f"+{rid + 1}-"),  # another recipient, the same signature
        real.replace("bounces.example.com", "elsewhere.example"),
        f"unsubscribe+{rid}@bounces.example.com",
    ]
    with smtplib.SMTP("127.0.0.1", port) as mx:
        mx.ehlo("mail.example.org")
        assert mx.mail("ann@example.org")[0] == 250
        for address in forged:
            assert mx.rcpt(address) == (550, b"5.1.1 No such bounce address here"), address
    assert site.get("/api/v1/suppressions").json["suppressions"] == []


def test_a_mailto_address_whose_message_is_gone_is_refused(bridge, sink, engine):
    app, worker, s, port = bridge
    site = make_site(app, s)
    real = UNSUBSCRIBE.fullmatch(_newsletter_to(site, worker, sink, "ann@example.org")["List-Unsubscribe"]).group(2)
    assert privacy.erase(engine, "ann@example.org")["recipients"] == 1  # as log retention would
    with smtplib.SMTP("127.0.0.1", port) as mx:
        mx.ehlo("mail.example.org")
        assert mx.mail("ann@example.org")[0] == 250
        code, text = mx.rcpt(real)
        assert code == 550 and b"expired; use the unsubscribe link" in text
    assert site.get("/api/v1/suppressions").json["suppressions"] == []


def test_mailto_target_only_where_someone_acts_on_it(settings):
    assert mailto_address(settings, 7, "bounces.example.com") is None  # no bounce domain
    listening = settings.replace(bounce_domains=("bounces.example.com",))
    assert mailto_address(listening, 7, None).endswith("@bounces.example.com")
    polled = listening.replace(bounce_mailbox="imaps://bounces:secret@mail.example.com/INBOX")
    assert mailto_address(polled, 7, "bounces.example.com").endswith("@bounces.example.com")  # the poller acts


def test_list_headers_go_below_the_trace_fields():
    from wpbridge.relay import compliance

    raw = (b"Received: from client.example ([127.0.0.1])\r\n\tby bridge (wpbridge) with ESMTPSA id 1;"
           b"\r\n Fri, 27 Nov 2026 23:00:00 +0000\r\nReceived: from x by y; Fri, 27 Nov 2026 22:59:00 +0000\r\n"
           b"From: shop@example.com\r\nSubject: News\r\n\r\nbody\r\n")
    out = compliance.add_list_headers(raw, "https://bridge.example.net/u/T", "bulk.shop.example.com")
    lines = out.split(b"\r\n")
    assert lines[0].startswith(b"Received: from client.example") and lines[3].startswith(b"Received: from x")
    assert lines[4].startswith(b"List-Unsubscribe: <https://bridge.example.net/u/T>")
    assert out.endswith(b"From: shop@example.com\r\nSubject: News\r\n\r\nbody\r\n")
    plain = b"From: shop@example.com\r\n\r\nbody\r\n"
    assert compliance.add_list_headers(plain, "https://b/u/T", "l").startswith(b"List-Unsubscribe: <https://b/u/T>")
