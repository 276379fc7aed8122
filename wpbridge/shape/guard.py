"""Reputation guard: a site whose bulk mail bounces or draws complaints too often stops
sending bulk mail before mailbox providers stop taking any of its mail.

Over the last hour of counters (``stats``, bulk category), a bounce rate (bounced /
(delivered + bounced)) at or above ``bounce_rate`` with at least ``bounce_min_volume``
recipients decided, or a complaint rate (complained / delivered) at or above
``complaint_rate`` with at least ``complaint_min_volume`` delivered, pauses the site's bulk
lane. Transactional and notification mail keep flowing. The pause ends when an admin
resumes it (rates are then counted afresh from that moment) or when the last hour no
longer crosses a threshold (nothing new is sent meanwhile, so the hour empties).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from wpbridge.models import Site, Stat
from wpbridge.shape.config import ShapingConfig
from wpbridge.shape.models import BulkPause

PAUSED, RESUMED, CLEARED = "paused", "resumed", "cleared"
WINDOW = timedelta(hours=1)
_P = BulkPause.__table__


@dataclass(frozen=True)
class Verdict:
    site_id: int
    reason: str | None  # None: within the thresholds


def paused(conn: Connection) -> dict[int, str]:
    """Site id -> why its bulk lane is paused, for every paused site."""
    return dict(conn.execute(select(_P.c.site_id, _P.c.reason).where(_P.c.state == PAUSED)).all())


def pause_of(conn: Connection, site_id: int) -> dict | None:
    """The guard's current word on one site, for the status page: ``{"state", "reason",
    "paused_at", "resumed_by", "updated_at"}``, or None if it never paused."""
    row = conn.execute(select(_P).where(_P.c.site_id == site_id)).first()
    return None if row is None else {"state": row.state, "reason": row.reason,
                                     "paused_at": row.paused_at, "resumed_by": row.resumed_by,
                                     "updated_at": row.updated_at}


def _since(now: datetime, counted_from: datetime | None) -> datetime:
    since = now.replace(second=0, microsecond=0) - WINDOW + timedelta(minutes=1)
    if counted_from is not None:
        # Minute buckets: the minute of the resume still holds what came before it.
        since = max(since, counted_from.replace(second=0, microsecond=0) + timedelta(minutes=1))
    return since


def judge(delivered: int, bounced: int, complained: int, config: ShapingConfig) -> str | None:
    decided = delivered + bounced
    if decided >= config.bounce_min_volume and decided and bounced / decided >= config.bounce_rate:
        return (f"bounce rate {bounced / decided:.1%} over the last hour ({bounced} of {decided} "
                f"bulk recipients), at or above {config.bounce_rate:.1%}")
    if delivered >= config.complaint_min_volume and delivered and complained / delivered >= config.complaint_rate:
        return (f"complaint rate {complained / delivered:.2%} over the last hour ({complained} of "
                f"{delivered} delivered bulk messages), at or above {config.complaint_rate:.2%}")
    return None


def evaluate(engine: Engine, site_ids: set[int], now: datetime, config: ShapingConfig) -> dict[int, str]:
    """Pause or clear the given sites by their last hour; returns the paused ones' reasons."""
    if not site_ids:
        return {}
    with engine.begin() as conn:
        state = {r.site_id: r for r in conn.execute(select(_P).where(_P.c.site_id.in_(site_ids)))}
        floor = _since(now, None)  # a resume only moves a site's start later
        sums: dict[int, list[int]] = {}
        rows = conn.execute(select(Stat.site_id, Stat.bucket, func.sum(Stat.delivered),
                                   func.sum(Stat.bounced), func.sum(Stat.complained))
                            .where(Stat.period == "m", Stat.category == "bulk",
                                   Stat.site_id.in_(site_ids), Stat.bucket >= floor)
                            .group_by(Stat.site_id, Stat.bucket))
        for site_id, bucket, d, b, c in rows:
            prior = state.get(site_id)
            if bucket >= _since(now, prior.counted_from if prior else None):
                s = sums.setdefault(site_id, [0, 0, 0])
                s[0], s[1], s[2] = s[0] + int(d or 0), s[1] + int(b or 0), s[2] + int(c or 0)
        names = dict(conn.execute(select(Site.id, Site.name).where(Site.id.in_(site_ids))).all())
        out = {}
        for site_id in site_ids:
            why = judge(*sums.get(site_id, (0, 0, 0)), config)
            prior = state.get(site_id)
            if why:
                reason = (f"bulk mail of {names.get(site_id, site_id)} paused: {why}; clean the list, "
                          f"then resume with: wpbridge bulk resume --site {names.get(site_id, site_id)}")
                if prior is None:
                    conn.execute(insert(_P).values(site_id=site_id, state=PAUSED, reason=reason,
                                                   paused_at=now, updated_at=now))
                elif prior.state != PAUSED:
                    conn.execute(update(_P).where(_P.c.site_id == site_id).values(
                        state=PAUSED, reason=reason, paused_at=now, resumed_by=None, updated_at=now))
                out[site_id] = prior.reason if prior is not None and prior.state == PAUSED else reason
            elif prior is not None and prior.state == PAUSED:
                conn.execute(update(_P).where(_P.c.site_id == site_id, _P.c.state == PAUSED)
                             .values(state=CLEARED, updated_at=now))
        return out


def resume(engine: Engine, site_name: str, by: str, now: datetime) -> bool:
    """Resume a site's paused bulk lane; its rates are counted afresh from now. Returns
    False if it was not paused.

    :raise LookupError: no such site.
    """
    with engine.begin() as conn:
        site_id = conn.execute(select(Site.id).where(Site.name == site_name)).scalar()
        if site_id is None:
            raise LookupError(f"no site named {site_name!r}; 'wpbridge site list' shows them")
        return bool(conn.execute(update(_P).where(_P.c.site_id == site_id, _P.c.state == PAUSED)
                                 .values(state=RESUMED, counted_from=now, resumed_by=by,
                                         updated_at=now)).rowcount)


def pauses(conn: Connection) -> list[dict]:
    """Every site the guard ever paused, newest change first."""
    rows = conn.execute(select(Site.name, _P).join_from(_P, Site.__table__, Site.id == _P.c.site_id)
                        .order_by(_P.c.updated_at.desc()))
    return [{"site": r.name, "state": r.state, "reason": r.reason, "paused_at": r.paused_at,
             "resumed_by": r.resumed_by, "updated_at": r.updated_at} for r in rows]
