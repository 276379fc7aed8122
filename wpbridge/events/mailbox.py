"""The bounce mailbox poller, for setups where the bounce domain's MX cannot point at the
bridge: bounces land in an ordinary mailbox, and the bridge fetches them by IMAP or POP3.

``WPBRIDGE_BOUNCE_MAILBOX`` is a URL: ``imaps://user:pass@host/INBOX``, ``imap+starttls://``,
``pop3s://``, ``pop3+starttls://`` (and plain ``imap://`` / ``pop3://`` for loopback only).
A message is deleted from the mailbox only after its events are committed; messages that
name no VERP or mailto: unsubscribe address of ours are left where they are.
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import re
from email.parser import BytesHeaderParser
from urllib.parse import unquote, urlsplit

from wpbridge.events import verp
from wpbridge.events.inbound import BounceHandler
from wpbridge.events.unsubscribe import mailto_recipient
from wpbridge.relay.smtp import tls_context

log = logging.getLogger("wpbridge.bounces")
_ADDRESS = re.compile(r"(?:b|unsubscribe)\+[0-9a-z]+-[a-z2-7]+@[a-z0-9.-]+", re.I)
_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")


class MailboxError(RuntimeError):
    """The mailbox URL is wrong or the server refused us; the message says which."""


def verp_addresses(raw: bytes, handler: BounceHandler) -> list[str]:
    """Our addresses the message was sent to: VERP return paths (a bounce) and mailto:
    unsubscribe targets (the header of a mail whose List-Unsubscribe mailto was used)."""
    head = BytesHeaderParser().parsebytes(raw)
    key = handler.settings.secret_key
    found = []
    for name in _HEADERS:
        for value in head.get_all(name, []):
            for addr in _ADDRESS.findall(str(value)):
                ours = (verp.recipient_id(key, addr, handler.domains) is not None
                        or mailto_recipient(key, addr, handler.domains) is not None)
                if ours and addr.lower() not in found:
                    found.append(addr.lower())
    return found


def poll(url: str, handler: BounceHandler) -> int:
    """Fetch, apply and delete the bounces waiting in the mailbox; returns how many."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not parts.hostname or not user:
        raise MailboxError(f"bounce mailbox URL needs user, password and host, e.g. "
                           f"imaps://bounces:secret@mail.example.com/INBOX (got scheme {scheme!r})")
    if scheme.startswith("imap"):
        return _poll_imap(scheme, parts, user, password, handler)
    if scheme.startswith("pop3"):
        return _poll_pop3(scheme, parts, user, password, handler)
    raise MailboxError(f"unknown bounce mailbox scheme {scheme!r}; use imaps, imap+starttls, "
                       "pop3s or pop3+starttls")


def _process(raw: bytes, handler: BounceHandler) -> bool:
    rcpts = verp_addresses(raw, handler)
    if not rcpts:
        return False
    handler.receive(rcpts, raw)
    return True


def _poll_imap(scheme, parts, user, password, handler) -> int:
    ctx = tls_context(handler.settings)
    if scheme == "imaps":
        conn = imaplib.IMAP4_SSL(parts.hostname, parts.port or 993, ssl_context=ctx)
    else:
        conn = imaplib.IMAP4(parts.hostname, parts.port or 143)
        if scheme == "imap+starttls":
            conn.starttls(ssl_context=ctx)
    done = 0
    try:
        conn.login(user, password)
        folder = parts.path.strip("/") or "INBOX"
        status, detail = conn.select(folder)
        if status != "OK":
            raise MailboxError(f"IMAP server {parts.hostname}: cannot open {folder}: {detail}")
        _, data = conn.uid("SEARCH", None, "ALL")
        for uid in data[0].split():
            _, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
            if raw and _process(raw, handler):
                conn.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
                done += 1
        conn.expunge()
    except imaplib.IMAP4.error as exc:
        raise MailboxError(f"IMAP server {parts.hostname}: {exc}") from None
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return done


def _poll_pop3(scheme, parts, user, password, handler) -> int:
    ctx = tls_context(handler.settings)
    if scheme == "pop3s":
        conn = poplib.POP3_SSL(parts.hostname, parts.port or 995, context=ctx)
    else:
        conn = poplib.POP3(parts.hostname, parts.port or 110)
        if scheme == "pop3+starttls":
            conn.stls(context=ctx)
    done = 0
    try:
        conn.user(user)
        conn.pass_(password)
        count, _ = conn.stat()
        for n in range(1, count + 1):
            raw = b"\r\n".join(conn.retr(n)[1]) + b"\r\n"
            if _process(raw, handler):
                conn.dele(n)
                done += 1
        conn.quit()  # deletions take effect only here, after every commit
    except poplib.error_proto as exc:
        raise MailboxError(f"POP3 server {parts.hostname}: {exc}") from None
    return done
