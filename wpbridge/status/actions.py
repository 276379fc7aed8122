"""The status page's one state change: send a failed recipient again.

(Kept apart and with its SQL in sight, so it can move into :mod:`wpbridge.queue`, which
owns every other state change.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
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
