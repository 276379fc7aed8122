"""Closing the loop: replies during relay, DSNs and ARF reports at the bounce listener
(VERP), the site's policy, and the suppression check on the next message."""

from __future__ import annotations

import smtplib

import pytest

from tests.conftest import make_site, message
from tests.smtp_sink import free_port
from tests.test_relay import drain, provider_settings, states
from wpbridge.app import create_app
from wpbridge.events import verp
from wpbridge.events.inbound import start_listener
from wpbridge.worker import Worker

DSN = """From: MAILER-DAEMON@mx.example.org
To: {verp}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.example.org. Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

--B
Content-Type: message/rfc822

From: shop@example.com
To: {rcpt}
Subject: Your order #1001

--B--
"""

ARF = """From: feedback@fbl.example.net
To: {verp}
Subject: FW: Your order #1001
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeFBL/1.0
Version: 1
Original-Rcpt-To: {rcpt}

--F
Content-Type: message/rfc822

From: shop@example.com
To: {rcpt}
Subject: Our autumn news

--F--
"""


@pytest.fixture
def loop(settings, engine, sink):
    s = provider_settings(settings, f"smtp://127.0.0.1:{sink.port}", bounce_domains=("bounces.example.com",),
                          routes={c: {"return_path": "bounces.example.com", "verp": True}
                                  for c in ("transactional", "notification", "bulk")})
    app = create_app(s, engine)
    site = make_site(app, s)
    worker = Worker(s, engine)
    port = free_port()
    listener = start_listener(engine, s, "127.0.0.1", port)
    yield app, site, worker, s, port
    listener.stop()
    worker.close()


def _deliver(site, worker, to):
    mid = site.post("/api/v1/messages", message(to=to)).json["id"]
    drain(worker, lambda: "queued" not in states(site, mid).values())
    return mid


def test_bounces_by_every_channel_end_on_the_suppression_list(loop, sink):
    app, site, worker, s, port = loop
    sink.handler.rcpt_script = {"one@example.org": ["550 5.1.1 <one@example.org>: user unknown"]}
    _deliver(site, worker, ["one@example.org", "two@example.org", "three@example.org", "four@example.org"])
    verps = {m.rcpt_tos[0]: m.mail_from for m in sink.received}
    assert set(verps) == {"two@example.org", "three@example.org", "four@example.org"}
    assert all(v.startswith("b+") and v.endswith("@bounces.example.com") for v in verps.values())
    with smtplib.SMTP("127.0.0.1", port) as bounce_mx:
        bounce_mx.sendmail("", [verps["two@example.org"]],
                           DSN.format(verp=verps["two@example.org"], rcpt="two@example.org").replace("\n", "\r\n"))
        bounce_mx.sendmail("", [verps["three@example.org"]],
                           ARF.format(verp=verps["three@example.org"], rcpt="three@example.org").replace("\n", "\r\n"))
    listed = {e["address"]: (e["scope"], e["reason"]) for e in site.get("/api/v1/suppressions").json["suppressions"]}
    assert listed == {"one@example.org": ("all", "hard_bounce"), "two@example.org": ("all", "hard_bounce"),
                      "three@example.org": ("bulk", "complaint")}

    sink.received.clear()
    mid = _deliver(site, worker, ["one@example.org", "two@example.org", "three@example.org", "four@example.org"])
    assert states(site, mid) == {"one@example.org": "suppressed", "two@example.org": "suppressed",
                                 "three@example.org": "delivered", "four@example.org": "delivered"}


def test_forged_bounces_change_nothing(loop, sink):
    app, site, worker, s, port = loop
    _deliver(site, worker, ["two@example.org"])
    real = sink.received[0].mail_from
    rid = int(real.split("+")[1].split("-")[0], 36)
    forged = verp.address("another-key", rid, "bounces.example.com")
    with smtplib.SMTP("127.0.0.1", port) as bounce_mx:
        bounce_mx.ehlo()
        assert bounce_mx.mail("")[0] == 250
        assert bounce_mx.rcpt(forged)[0] == 550
        assert bounce_mx.rcpt("postmaster@example.com")[0] == 550  # no relay, no other mailboxes
        assert bounce_mx.rcpt(real.replace("bounces.example.com", "elsewhere.example"))[0] == 550
    assert site.get("/api/v1/suppressions").json["suppressions"] == []


def test_soft_bounces_suppress_after_the_limit(loop):
    app, site, worker, s, port = loop
    from wpbridge.events import Group, Reason, RecipientResult
    from wpbridge.events.policy import Observed, Policy, apply
    from wpbridge.models import utcnow

    site_id = 1
    full = RecipientResult("full@example.org", "4.2.2", Group.SOFT, Reason.MAILBOX_FULL, 452, "mailbox full")
    policy = Policy(soft_limit=3, soft_days=7, soft_suppress_days=30)
    with app.extensions["wpbridge"].engine.begin() as conn:
        assert apply(conn, [Observed(site_id, full, "dsn")], policy, utcnow()) == []
        assert apply(conn, [Observed(site_id, full, "dsn")], policy, utcnow()) == []
        assert apply(conn, [Observed(site_id, full, "dsn")], policy, utcnow()) == ["full@example.org all soft_bounces"]
    [entry] = site.get("/api/v1/suppressions").json["suppressions"]
    assert entry["expires_at"] is not None
    blocked = RecipientResult("x@example.org", "5.7.1", Group.BLOCK, Reason.SPAM_DETECTED, 550, "spam")
    with app.extensions["wpbridge"].engine.begin() as conn:
        assert apply(conn, [Observed(site_id, blocked, "relay")] * 5, policy, utcnow()) == []


def test_a_site_can_have_its_own_soft_bounce_policy(loop, tmp_path):
    app, site, worker, s, port = loop
    from wpbridge import settings as settings_mod
    from wpbridge.events import Group, Reason, RecipientResult
    from wpbridge.events.policy import Observed, Policy, apply
    from wpbridge.models import utcnow

    (tmp_path / "wpbridge.toml").write_text('[sites."shop.example.com".bounce_policy]\nsoft_limit = 1\n')
    loaded = settings_mod.load({"WPBRIDGE_DATA": str(tmp_path)})
    policy = Policy.from_settings(loaded.replace(soft_limit=5))
    assert policy.soft_limit == 5 and policy.sites["shop.example.com"].soft_limit == 1
    full = RecipientResult("full@example.org", "4.2.2", Group.SOFT, Reason.MAILBOX_FULL, 452, "mailbox full")
    with app.extensions["wpbridge"].engine.begin() as conn:
        assert apply(conn, [Observed(1, full, "dsn")], policy, utcnow()) == ["full@example.org all soft_bounces"]
    (tmp_path / "wpbridge.toml").write_text('[sites."shop.example.com".bounce_policy]\nsoft_limit = -1\n')
    with pytest.raises(settings_mod.SettingsError, match="bounce_policy"):
        settings_mod.load({"WPBRIDGE_DATA": str(tmp_path)})
