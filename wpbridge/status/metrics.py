"""Counters recorded as mail flows, so that pages and alerts never recount the message table.

Each event adds to two rows of ``stats``: its minute bucket (kept 48 h) and its hour bucket
(kept 90 days), keyed by site, category, provider and recipient domain group. The adds of one
transaction are summed in memory first and written with one upsert per row.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from wpbridge.models import Stat

# Mailbox providers whose limits and reputations differ; everything else is "other".
DOMAIN_GROUPS = {
    **dict.fromkeys(["gmail.com", "googlemail.com"], "gmail"),
    **dict.fromkeys(["outlook.com", "hotmail.com", "live.com", "msn.com"], "microsoft"),
    **dict.fromkeys(["yahoo.com", "aol.com", "ymail.com", "rocketmail.com"], "yahoo"),
    **dict.fromkeys(["gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de"], "gmx"),
    **dict.fromkeys(["icloud.com", "me.com", "mac.com"], "icloud"),
}
# Country variants: hotmail.co.uk, yahoo.fr, outlook.de, live.nl ...
DOMAIN_PREFIXES = {"hotmail": "microsoft", "outlook": "microsoft", "live": "microsoft",
                   "yahoo": "yahoo", "gmx": "gmx"}
GROUPS = ("gmail", "microsoft", "yahoo", "gmx", "icloud", "other")

# Upper bounds (ms) of the latency buckets lat_0 .. lat_6; lat_7 holds the rest.
LATENCY_BOUNDS_MS = (500, 1000, 2000, 5000, 15000, 60000, 300000)
FIELDS = ("accepted", "delivered", "deferred", "bounced", "expired", "suppressed", "complained",
          "rewritten")
MINUTE_KEEP, HOUR_KEEP = timedelta(hours=48), timedelta(days=90)
# Only bench/counters_bench.py turns this off (in a worker process of its own), to measure
# what recording costs the relay.
RECORDING = True


def domain_group(domain: str) -> str:
    domain = domain.lower().rstrip(".")
    if domain in DOMAIN_GROUPS:
        return DOMAIN_GROUPS[domain]
    return DOMAIN_PREFIXES.get(domain.split(".", 1)[0], "other")


class Tally:
    """Adds waiting for one :meth:`flush` inside the caller's transaction."""

    def __init__(self) -> None:
        self.rows: dict[tuple, Counter] = defaultdict(Counter)

    def add(self, site_id: int, category: str, provider: str, domain: str, field: str,
            latency_ms: int | None = None) -> None:
        row = self.rows[(site_id, category, provider, domain_group(domain))]
        row[field] += 1
        if latency_ms is not None:
            row["latency_ms_sum"] += latency_ms
            row[f"lat_{bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)}"] += 1

    def merge(self, other: "Tally") -> None:
        for key, counts in other.rows.items():
            self.rows[key].update(counts)

    def flush(self, conn: Connection, now: datetime) -> None:
        if not self.rows or not RECORDING:
            self.rows.clear()
            return
        minute = now.replace(second=0, microsecond=0)
        hour = minute.replace(minute=0)
        values = []
        for (site_id, category, provider, group), counts in self.rows.items():
            for period, bucket in (("m", minute), ("h", hour)):
                values.append({"period": period, "bucket": bucket, "site_id": site_id,
                               "category": category, "provider": provider, "domain_group": group,
                               **{c: counts.get(c, 0) for c in COLUMNS}})
        # One order for every writer, so two transactions never lock rows crosswise.
        values.sort(key=lambda v: (v["period"], v["site_id"], v["category"], v["provider"],
                                   v["domain_group"]))
        conn.execute(_upsert(conn.dialect.name), values)
        self.rows.clear()


COLUMNS = FIELDS + ("latency_ms_sum",) + tuple(f"lat_{i}" for i in range(8))
_UPSERTS: dict[str, object] = {}


def _upsert(dialect: str):
    """The add-to-counters statement, built once per dialect so its compiled form is cached."""
    if dialect not in _UPSERTS:
        table = Stat.__table__
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["period", "bucket", "site_id", "category", "provider", "domain_group"],
            set_={c: table.c[c] + stmt.excluded[c] for c in COLUMNS})
    return _UPSERTS[dialect]


def prune(conn: Connection, now: datetime) -> None:
    """Drop minute buckets older than 48 h and hour buckets older than 90 days."""
    t = Stat.__table__
    conn.execute(delete(t).where(t.c.period == "m", t.c.bucket < now - MINUTE_KEEP))
    conn.execute(delete(t).where(t.c.period == "h", t.c.bucket < now - HOUR_KEEP))
