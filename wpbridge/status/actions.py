"""The status page's one state change: send a failed recipient again.

(Kept apart and with its SQL in sight, so it can move into :mod:`wpbridge.queue`, which
owns every other state change.)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from wpbridge import suppressions

# -- resend --  Only a bounced or expired recipient of this site goes back to the queue, due
# at once; its message gets a new expiry so that retries have the usual time again.
_RESEND = """
UPDATE recipients SET state = 'queued', next_attempt_at = :now, lease_until = NULL,
       leased_by = NULL, updated_at = :now
 WHERE id = :rid AND site_id = :site_id AND state IN ('failed', 'expired')
RETURNING message_id
"""
_EXTEND = """
UPDATE messages SET expires_at = :expires_at
 WHERE id = :message_id AND site_id = :site_id AND expires_at < :expires_at
"""


_DATE_AND_ID = re.compile(rb"^(?:Date|Message-ID):.*\r\n(?:[ \t].*\r\n)*", re.I | re.M)

QUEUED, NOT_FAILED, SUPPRESSED = "queued", "not_failed", "suppressed"


def resend(conn: Connection, site_id: int, recipient_id: int, now: datetime, max_age: float) -> str:
    """Queue a failed recipient again in the caller's transaction. Returns QUEUED;
    NOT_FAILED when it is not a failed recipient of ``site_id`` (already resent, delivered,
    another site's); SUPPRESSED when its address is suppressed for such mail (the worker
    would only suppress it again: remove it from the list first)."""
    found = conn.execute(text(
        "SELECT r.address, m.category FROM recipients r JOIN messages m ON m.id = r.message_id"
        " WHERE r.id = :rid AND r.site_id = :site_id AND r.state IN ('failed', 'expired')"),
        {"rid": recipient_id, "site_id": site_id}).first()
    if found is None:
        return NOT_FAILED
    entry = suppressions.active(conn, [(site_id, found.address)], now).get((site_id, found.address.lower()))
    if suppressions.blocks(entry, found.category):
        return SUPPRESSED
    row = conn.execute(text(_RESEND), {"rid": recipient_id, "site_id": site_id, "now": now}).first()
    if row is None:
        return NOT_FAILED
    conn.execute(text(_EXTEND), {"message_id": row[0], "site_id": site_id,
                                 "expires_at": now + timedelta(seconds=max_age)})
    return QUEUED


class ResendRefused(ValueError):
    """A whole-message resend cannot go ahead; ``code`` and ``address`` say why."""

    def __init__(self, code: str, message: str, fix: str, address: str | None = None):
        super().__init__(message)
        self.code, self.fix, self.address = code, fix, address


def resend_message(engine, settings, site, message_id: str, only: list[str] | None = None):
    """Send a logged message of ``site`` (a :class:`wpbridge.sites.SiteAuth`) again, whatever
    became of it (delivered too), as a new message with the same bytes; the original's record
    stays as it was. ``only``: a subset of its recipients. Returns the
    :class:`wpbridge.ingest.accept.Accepted` of the copy (its context names the original in
    ``resent_from``).

    :raise ResendRefused: no such message of this site (``not_found``), its body was pruned
        (``body_pruned``), an address is not one of its recipients (``not_a_recipient``) or is
        on the suppression list for such mail (``suppressed``, naming it).
    """
    from wpbridge.ingest.accept import Item, accept
    from wpbridge.ingest.message import from_raw
    from wpbridge.models import Message, Recipient, utcnow

    m, r = Message.__table__.c, Recipient.__table__.c
    with engine.connect() as conn:
        msg = conn.execute(select(m.id, m.mail_from, m.raw, m.category, m.context).where(
            m.id == message_id, m.site_id == site.id)).first()
        if msg is None:
            raise ResendRefused("not_found", f"no message {message_id[:64]!r} for site {site.name}",
                                "use an id from the message log")
        addresses = list(dict.fromkeys(conn.execute(
            select(r.address).where(r.message_id == msg.id).order_by(r.id)).scalars()))
        if not msg.raw:
            raise ResendRefused("body_pruned", f"the body of message {msg.id} is no longer kept "
                                f"(bodies are kept {settings.body_retention_days:g} days, "
                                "body_retention_days)",
                                "send the mail again from WordPress; only the delivery record is kept")
        if only:
            lower = {a.lower(): a for a in addresses}
            missing = [a for a in only if a.lower() not in lower]
            if missing:
                raise ResendRefused("not_a_recipient", f"{missing[0]} is not a recipient of message "
                                    f"{msg.id}", "leave recipients out to resend to all of them",
                                    missing[0])
            addresses = [lower[a.lower()] for a in dict.fromkeys(only)]
        found = suppressions.active(conn, [(site.id, a) for a in addresses], utcnow())
    for a in addresses:
        why = suppressions.blocks(found.get((site.id, a.lower())), msg.category)
        if why:
            raise ResendRefused("suppressed", f"{a} is on the suppression list of {site.name} "
                                f"({why})", f"remove it first (DELETE /api/v1/suppressions/{a}) "
                                "if you are sure it receives mail again", a)
    context = {**(msg.context or {}), "resent_from": msg.id}
    # A new Date and Message-ID: mailboxes drop a message whose Message-ID they have seen.
    head, sep, body = bytes(msg.raw).partition(b"\r\n\r\n")
    head = _DATE_AND_ID.sub(b"", head + b"\r\n")[:-2]
    sub = from_raw(msg.mail_from, addresses, head + sep + body, settings.max_message_bytes, context)
    [done] = accept(engine, settings, site, [Item(sub)])
    return done
