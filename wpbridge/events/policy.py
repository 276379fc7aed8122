"""From events to the suppression list, by the site's policy:

- ``hard``: suppress every message at once;
- ``soft``: suppress every message after ``soft_limit`` soft events within ``soft_days``
  days, for ``soft_suppress_days`` days;
- ``complaint``: suppress bulk mail at once (receipts still go out);
- ``block``: never suppress: the sender's problem; counted for the reputation alarms;
- ``autoreply`` and ``delivered``: recorded, nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from wpbridge import suppressions
from wpbridge.events import Group, RecipientResult
from wpbridge.events.store import FIRST, Event
from wpbridge.models import Message, Recipient, Site
from wpbridge.status.metrics import Tally

_E = Event.__table__


@dataclass(frozen=True)
class Policy:
    soft_limit: int = 3
    soft_days: float = 7
    soft_suppress_days: float = 30
    # site name -> that site's own policy ([sites."name".bounce_policy] in the TOML file)
    sites: Mapping[str, "Policy"] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        base = cls(getattr(settings, "soft_limit", 3), getattr(settings, "soft_days", 7),
                   getattr(settings, "soft_suppress_days", 30))
        sites = {name: dataclasses.replace(base, **table)
                 for name, table in (getattr(settings, "site_bounce_policy", None) or {}).items()}
        return dataclasses.replace(base, sites=sites)

    def for_site(self, conn: Connection, site_id: int) -> "Policy":
        if not self.sites:
            return self
        name = conn.execute(select(Site.name).where(Site.id == site_id)).scalar()
        return self.sites.get(name, self)


@dataclass(frozen=True)
class Observed:
    """One recipient result, with what it belongs to."""

    site_id: int
    result: RecipientResult
    source: str
    message_id: str | None = None
    raw: str | None = None


def apply(conn: Connection, observed: list[Observed], policy: Policy, now: datetime) -> list[str]:
    """Store the events and suppress where the policy says so; returns what was suppressed
    (``"address scope reason"`` lines, for logs and tests). Bounces and complaints that
    arrive after relay are added to the counters too.

    A result counts once per (message, address, group): a repeat is stored with
    ``duplicate_of`` set and changes no suppression and no counter. A recipient counts once
    as bounced (and once as complained) per message, whatever number of reports of either
    kind say so, so the rates and the reputation guard count distinct recipients."""
    done: list[str] = []
    tally = Tally()
    for o in observed:
        address, group = (o.result.address or "").lower(), o.result.group
        counted = o.source != "relay" and _counted(conn, o, address)
        if not _store(conn, o, address, now):
            continue
        if o.source != "relay" and not counted:
            _count_late(conn, tally, o, address)
        if not address:
            continue
        source = f"{o.source} {o.result.status or o.result.code or ''} {o.result.reason}".strip()
        if group is Group.HARD:
            scope, expires = "all", None
        elif group is Group.COMPLAINT:
            scope, expires = "bulk", None
        elif group is Group.SOFT:
            site_policy = policy.for_site(conn, o.site_id)
            recent = conn.execute(select(func.count()).select_from(_E).where(
                _E.c.site_id == o.site_id, _E.c.address == address, _E.c.group == "soft",
                _E.c.duplicate_of.is_(None),
                _E.c.created_at >= now - timedelta(days=site_policy.soft_days))).scalar()
            if recent < site_policy.soft_limit:
                continue
            scope, expires = "all", now + timedelta(days=site_policy.soft_suppress_days)
        else:
            continue
        reason = {Group.HARD: "hard_bounce", Group.SOFT: "soft_bounces",
                  Group.COMPLAINT: "complaint"}[group]
        if suppressions.add(conn, o.site_id, address, scope, reason, source, now, expires):
            done.append(f"{address} {scope} {reason}")
    tally.flush(conn, now)
    return done


def _store(conn: Connection, o: Observed, address: str, now: datetime) -> bool:
    """Insert the event; True if it is the first of its (message, address, group), False
    if it was stored as a duplicate. ON CONFLICT against the partial unique index decides,
    so two processes storing the same report at once cannot both count it."""
    row = {"site_id": o.site_id, "message_id": o.message_id, "address": address,
           "group": str(o.result.group), "reason": str(o.result.reason), "status": o.result.status,
           "code": o.result.code, "source": o.source, "diagnostic": o.result.diagnostic[:2000] or None,
           "raw": o.raw, "created_at": now}
    if o.message_id is None:  # nothing to tell a repeat by
        conn.execute(insert(_E).values(row))
        return True
    stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(_E).values(row)
    first = conn.execute(stmt.on_conflict_do_nothing(
        index_elements=["site_id", "message_id", "address", "group"], index_where=FIRST)
        .returning(_E.c.id)).first()
    if first is not None:
        return True
    original = conn.execute(select(_E.c.id).where(
        _E.c.site_id == o.site_id, _E.c.message_id == o.message_id, _E.c.address == address,
        _E.c.group == row["group"], _E.c.duplicate_of.is_(None))).scalar()
    conn.execute(insert(_E).values({**row, "duplicate_of": original}))
    return False


_FIELD = {Group.HARD: "bounced", Group.SOFT: "bounced", Group.COMPLAINT: "complained"}


def _counted(conn: Connection, o: Observed, address: str) -> bool:
    """Whether an earlier event already counted this message's recipient in the counter
    this one would add to (a failure during relay counted it as bounced)."""
    field = _FIELD.get(o.result.group)
    if field is None or not o.message_id or not address:
        return False
    groups = [str(g) for g, f in _FIELD.items() if f == field]
    earlier = _E.c.group.in_(groups)
    if field == "bounced":
        earlier = or_(earlier, _E.c.source == "relay")
    return conn.execute(select(_E.c.id).where(
        _E.c.site_id == o.site_id, _E.c.message_id == o.message_id, _E.c.address == address,
        _E.c.duplicate_of.is_(None), earlier).limit(1)).first() is not None


def _count_late(conn: Connection, tally: Tally, o: Observed, address: str) -> None:
    field = _FIELD.get(o.result.group)
    if field is None or not o.message_id or not address:
        return
    m, r = Message.__table__.c, Recipient.__table__.c
    row = conn.execute(select(m.category, r.provider).join_from(Message.__table__, Recipient.__table__,
                                                                 r.message_id == m.id)
                       .where(m.id == o.message_id, m.site_id == o.site_id,
                              r.address == address)).first()
    if row is not None:
        tally.add(o.site_id, row.category, row.provider, address.rpartition("@")[2], field)
