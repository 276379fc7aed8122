"""Data protection: message bodies are kept only as long as needed, and everything about one
recipient can be erased on request (GDPR art. 17; the plugin wires it to WordPress's
personal-data eraser).

Retention runs by itself in the workers (:func:`prune_due`): bodies (and the raw bounce and
complaint reports about them) after ``body_retention_days`` (30), whole log entries after
``log_retention_days`` (0: kept).

Erasure removes the recipient's delivery rows, their attempts and events, and messages that
have no recipient left. The suppression list keeps the address: an unsubscribe or a hard
bounce must keep being honoured, which is the legitimate interest the law allows for.
"""

from __future__ import annotations

import time
import weakref
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import Engine

from wpbridge.events.store import Event
from wpbridge.models import Message, Recipient, Site, State, utcnow
from wpbridge.settings import Settings

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
    (who, when, what the provider said) stays. Returns how many bodies were dropped."""
    return Retention(keep_days, 0).run(engine, now)


def prune_due(engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """What a worker calls often: applies ``body_retention_days`` and ``log_retention_days``
    at most once per ``retention_interval`` seconds, a bounded slice per call (so that a
    large backlog never holds up delivery), sooner again while a backlog remains."""
    wanted = (settings.body_retention_days, settings.log_retention_days, settings.retention_interval)
    state = _DUE.get(engine)
    if state is None or state.settings != wanted:
        state = _DUE[engine] = Retention(*wanted)
    if time.monotonic() < state.next_run:
        return 0
    changed = state.run(engine, now or utcnow(), budget=_SLICE)
    state.next_run = time.monotonic() + (0 if state.behind else state.interval)
    return changed


_SLICE = 2000  # messages looked at per worker call: milliseconds, not seconds
_BATCH = 500


class Retention:
    """Walks each site's messages in (created_at, id) order along the (site_id, created_at)
    index, up to the cutoff, remembering where it stopped: a run looks only at what aged
    past the cutoff since the last one, never at the whole table again.

    Bodies: the raw message becomes empty. Logs: the message goes with its recipients and
    their attempts (foreign-key cascade) and its events. Messages with a recipient still
    queued or sending are skipped.
    """

    def __init__(self, body_days: float, log_days: float, interval: float = 0.0):
        self.body_days, self.log_days, self.interval = body_days, log_days, interval
        self.settings = (body_days, log_days, interval)
        self.marks: dict[tuple[str, int], tuple[datetime, str]] = {}
        self.next_run = 0.0  # time.monotonic() of the next run (prune_due)
        self.behind = False  # the last run stopped at its budget, not at the cutoff

    def run(self, engine: Engine, now: datetime, budget: int | None = None) -> int:
        changed, self.behind = 0, False
        with engine.connect() as conn:
            site_ids = list(conn.execute(select(Site.id)).scalars())
        for kind, days in (("logs", self.log_days), ("bodies", self.body_days)):
            if days <= 0:
                continue
            cutoff = now - timedelta(days=days)
            for site_id in site_ids:
                while True:
                    limit = _BATCH if budget is None else min(_BATCH, budget)
                    seen, n = self._batch(engine, kind, site_id, cutoff, limit)
                    changed += n
                    if seen < limit:
                        break  # this site has caught up with the cutoff
                    if budget is not None:
                        budget -= seen
                        if budget <= 0:
                            self.behind = True
                            return changed
        return changed

    def _batch(self, engine: Engine, kind: str, site_id: int, cutoff: datetime,
               limit: int) -> tuple[int, int]:
        m = _M.c
        cond = [m.site_id == site_id, m.created_at < cutoff]
        mark = self.marks.get((kind, site_id))
        if mark:
            cond.append(or_(m.created_at > mark[0], and_(m.created_at == mark[0], m.id > mark[1])))
        still_open = exists().where(_R.c.message_id == m.id, _R.c.state.in_(_OPEN))
        with engine.begin() as conn:
            rows = conn.execute(select(m.created_at, m.id).where(*cond)
                                .order_by(m.created_at, m.id).limit(limit)).all()
            if not rows:
                return 0, 0
            ids = [r.id for r in rows]
            if kind == "bodies":
                done = list(conn.execute(select(m.id).where(m.id.in_(ids), ~still_open)).scalars())
                n = conn.execute(update(_M).where(m.id.in_(done), m.size > 0)
                                 .values(raw=b"", size=0)).rowcount
                # The bounce and complaint reports about them quote the message too.
                conn.execute(update(_E).where(_E.c.message_id.in_(done), _E.c.site_id == site_id,
                                              _E.c.raw.is_not(None)).values(raw=None))
            else:
                gone = list(conn.execute(select(m.id).where(m.id.in_(ids), ~still_open)).scalars())
                n = 0
                if gone:  # recipients and their attempts go by foreign-key cascade
                    conn.execute(delete(_E).where(_E.c.site_id == site_id, _E.c.message_id.in_(gone)))
                    n = conn.execute(delete(_M).where(m.id.in_(gone))).rowcount
        self.marks[(kind, site_id)] = tuple(rows[-1])
        return len(rows), n


_DUE: "weakref.WeakKeyDictionary[Engine, Retention]" = weakref.WeakKeyDictionary()
