"""Bounces fetched from a real mailbox (Dovecot on loopback) by IMAP and by POP3."""

from __future__ import annotations

import pytest

from tests.mail_server import DOVECOT, MailServer
from tests.tools import needs_tool
from tests.conftest import make_site
from tests.test_bounce_loop import DSN, _deliver, loop  # noqa: F401  (the fixture)
from tests.test_unsubscribe_mailto import UNSUBSCRIBE, _newsletter_to, bridge  # noqa: F401  (the fixture)
from wpbridge.events.inbound import BounceHandler
from wpbridge.events.mailbox import MailboxError, poll


@pytest.fixture
def mail_server():
    needs_tool(DOVECOT, "apt-get install dovecot-imapd dovecot-pop3d")
    with MailServer() as server:
        yield server


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_bounces_in_a_mailbox_are_applied_and_removed(loop, sink, mail_server, scheme):  # noqa: F811
    app, site, worker, s, _ = loop
    _deliver(site, worker, ["two@example.org", "fine@example.org"])
    verp_two = next(m.mail_from for m in sink.received if m.rcpt_tos == ["two@example.org"])
    mail_server.deliver("bounces", DSN.format(verp=verp_two, rcpt="two@example.org").replace("\n", "\r\n").encode())
    mail_server.deliver("bounces", b"From: someone@example.net\r\nTo: bounces@example.com\r\n"
                                   b"Subject: hello\r\n\r\nNot a bounce for us.\r\n")
    port = mail_server.imap_port if scheme == "imap" else mail_server.pop3_port
    url = f"{scheme}://bounces:secret@127.0.0.1:{port}/INBOX"
    handler = BounceHandler(app.extensions["wpbridge"].engine, s)
    assert poll(url, handler) == 1
    assert mail_server.count("bounces") == 1, "the unrelated message stays, the bounce is gone"
    listed = {e["address"]: e["reason"] for e in site.get("/api/v1/suppressions").json["suppressions"]}
    assert listed == {"two@example.org": "hard_bounce"}
    assert poll(url, handler) == 0


def test_wrong_password_names_the_server(loop, mail_server):  # noqa: F811
    app, site, worker, s, _ = loop
    handler = BounceHandler(app.extensions["wpbridge"].engine, s)
    with pytest.raises(MailboxError, match="IMAP server 127.0.0.1"):
        poll(f"imap://bounces:wrong@127.0.0.1:{mail_server.imap_port}/INBOX", handler)
    with pytest.raises(MailboxError, match="unknown bounce mailbox scheme"):
        poll("ftp://a:b@127.0.0.1/", handler)


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_mailto_unsubscribes_in_a_mailbox_are_applied(bridge, sink, mail_server, scheme):  # noqa: F811
    """Where the bounce domain's mail lands in a mailbox, a recipient's mail to the
    List-Unsubscribe mailto: target is acted on by the poller, as the listener would."""
    app, worker, s, _ = bridge
    site = make_site(app, s)
    delivered = _newsletter_to(site, worker, sink, "ann@example.org")
    target = UNSUBSCRIBE.fullmatch(delivered["List-Unsubscribe"]).group(2)
    forged = target[:-3] + ("aaa" if not target.endswith("aaa") else "bbb")
    for to in (target.upper(), forged):  # mail programs may change the case
        mail_server.deliver("bounces", f"From: ann@example.org\r\nTo: {to}\r\nSubject: unsubscribe\r\n"
                                       f"\r\nunsubscribe\r\n".encode())
    port = mail_server.imap_port if scheme == "imap" else mail_server.pop3_port
    handler = BounceHandler(app.extensions["wpbridge"].engine, s)
    assert poll(f"{scheme}://bounces:secret@127.0.0.1:{port}/INBOX", handler) == 1
    assert mail_server.count("bounces") == 1, "the forged one stays in the mailbox, unapplied"
    listed = [(e["address"], e["reason"], e["scope"]) for e in site.get("/api/v1/suppressions").json["suppressions"]]
    assert listed == [("ann@example.org", "unsubscribe", "bulk")]
