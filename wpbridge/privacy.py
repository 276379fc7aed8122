"""Data protection: message bodies are kept only as long as needed, and everything about one
recipient can be erased on request (GDPR art. 17; the plugin wires it to WordPress's
personal-data eraser).

Erasure removes the recipient's delivery rows, their attempts and events, and messages that
have no recipient left. The suppression list keeps the address: an unsubscribe or a hard
bounce must keep being honoured, which is the legitimate interest the law allows for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import Engine

from wpbridge.events.store import Event
from wpbridge.models import Message, Recipient, State

_M, _R, _E = Message.__table__, Recipient.__table__, Event.__table__
_OPEN = (State.queued.value, State.sending.value)


def erase(engine: Engine, address: str, site_id: int | None = None) -> dict[str, int]:
    """Erase what the bridge holds about ``address`` (for one site, or all). Mail still
    queued for it is erased too: the request wins over delivery."""
    address = address.strip().lower()
    with engine.begin() as conn:
        cond = [func.lower(_R.c.address) == address]
        if site_id is not None:
            cond.append(_R.c.site_id == site_id)
        message_ids = {r[0] for r in conn.execute(select(_R.c.message_id).where(*cond))}
        recipients = conn.execute(delete(_R).where(*cond)).rowcount
        ev = [_E.c.address == address] + ([_E.c.site_id == site_id] if site_id is not None else [])
        events = conn.execute(delete(_E).where(*ev)).rowcount
        messages = 0
        if message_ids:
            orphan = ~exists().where(_R.c.message_id == _M.c.id)
            messages = conn.execute(delete(_M).where(_M.c.id.in_(message_ids), orphan)).rowcount
    return {"recipients": recipients, "messages": messages, "events": events}


def prune_bodies(engine: Engine, keep_days: float, now: datetime) -> int:
    """Drop the bodies of finished messages older than ``keep_days``; the delivery record
    (who, when, what the provider said) stays."""
    cutoff = now - timedelta(days=keep_days)
    still_open = exists().where(_R.c.message_id == _M.c.id, _R.c.state.in_(_OPEN))
    with engine.begin() as conn:
        return conn.execute(update(_M).where(_M.c.created_at < cutoff, _M.c.size > 0, ~still_open)
                            .values(raw=b"", size=0)).rowcount
