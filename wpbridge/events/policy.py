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

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from wpbridge import suppressions
from wpbridge.events import Group, RecipientResult
from wpbridge.events.store import Event
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
    arrive after relay are added to the counters too."""
    done: list[str] = []
    if not observed:
        return done
    _count_late(conn, [o for o in observed if o.source != "relay"], now)
    conn.execute(insert(_E), [{
        "site_id": o.site_id, "message_id": o.message_id, "address": (o.result.address or "").lower(),
        "group": str(o.result.group), "reason": str(o.result.reason), "status": o.result.status,
        "code": o.result.code, "source": o.source, "diagnostic": o.result.diagnostic[:2000] or None,
        "raw": o.raw, "created_at": now} for o in observed])
    for o in observed:
        address, group = (o.result.address or "").lower(), o.result.group
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
    return done


def _count_late(conn: Connection, observed: list[Observed], now: datetime) -> None:
    field = {Group.HARD: "bounced", Group.SOFT: "bounced", Group.COMPLAINT: "complained"}
    tally = Tally()
    m, r = Message.__table__.c, Recipient.__table__.c
    for o in observed:
        if o.result.group not in field or not o.message_id or not o.result.address:
            continue
        row = conn.execute(select(m.category, r.provider).join_from(Message.__table__, Recipient.__table__,
                                                                     r.message_id == m.id)
                           .where(m.id == o.message_id, m.site_id == o.site_id,
                                  r.address == o.result.address)).first()
        if row is not None:
            tally.add(o.site_id, row.category, row.provider, o.result.address.rpartition("@")[2],
                      field[o.result.group])
    tally.flush(conn, now)
