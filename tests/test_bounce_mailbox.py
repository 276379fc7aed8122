"""Bounces fetched from a real mailbox (Dovecot on loopback) by IMAP and by POP3."""

from __future__ import annotations

import os

import pytest

from tests.mail_server import DOVECOT, MailServer
from tests.test_bounce_loop import DSN, _deliver, loop  # noqa: F401  (the fixture)
from wpbridge.events.inbound import BounceHandler
from wpbridge.events.mailbox import MailboxError, poll


@pytest.fixture
def mail_server():
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)")
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
