"""Limits in the database: slot reservations (GCRA), counting windows, holds set by
reactions, connection leases and warm-up days. Every worker goes through these, so a limit
holds however many workers there are.

A reservation is one transaction for a whole claimed batch: the state of every limit the
batch touches is read once (locked on PostgreSQL; SQLite has one writer at a time), the
batch's transactions are given their send times in memory, and the new state is written
back. Transactions that cannot go within the horizon (and, for a short-period rate, within
a quarter of its period: see the shaper's make-up slots) are not reserved at all: they go
back to the queue with the time they are projected to go.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

from sqlalchemy import bindparam, delete, event, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from wpbridge.shape.models import ConnectionLease, Hold, RateCount, RateState, WarmupStart
from wpbridge.shape.rates import Rate, bucket_of, gcra_slot, window_wait

DAY = 86400.0
_RATES, _COUNTS, _HOLDS = RateState.__table__, RateCount.__table__, Hold.__table__
_LEASES, _WARMUP = ConnectionLease.__table__, WarmupStart.__table__


def state_engine(settings) -> Engine:
    """An engine for shaping state: the same database, with commits that do not wait for the
    disk (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL ``synchronous_commit=off``).
    Shaping state is advice, written once per batch and more: a crash of the machine loses
    at most its last moments, which lets at most one horizon's worth of slots be handed out
    twice. Messages' states never go through it."""
    from wpbridge import db

    engine = db.make_engine(settings)
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _no_wait(dbapi_conn, _record):  # runs after make_engine's own pragmas
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=NORMAL" if sqlite else "SET synchronous_commit TO OFF")
        cur.close()
        if not sqlite:
            dbapi_conn.commit()

    return engine


def to_dt(epoch: float) -> datetime:
    """Epoch seconds -> the naive UTC datetime the tables hold."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def to_epoch(dt: datetime) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Limit:
    """One limit a transaction must fit: a short rate (``interval`` > 0: GCRA), a long rate
    (counting window) or a daily cap (warm-up, counted per UTC day)."""

    key: str
    label: str  # for people: "provider ses rate 14/s"
    rate: Rate | None = None
    interval: float = 0.0
    cap: int | None = None

    @property
    def gcra(self) -> bool:
        return self.interval > 0


def _insert(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _lock(conn: Connection, stmt):
    return stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt


def _tats(conn: Connection, keys: list[str]) -> dict[str, float]:
    stmt = _lock(conn, select(_RATES.c.key, _RATES.c.tat).where(_RATES.c.key.in_(keys))
                 .order_by(_RATES.c.key))
    tats = dict(conn.execute(stmt).all())
    missing = [k for k in keys if k not in tats]
    if missing:
        conn.execute(_insert(conn)(_RATES).values([{"key": k, "tat": 0.0} for k in missing])
                     .on_conflict_do_nothing(index_elements=["key"]))
        tats.update(conn.execute(_lock(conn, select(_RATES.c.key, _RATES.c.tat)
                                             .where(_RATES.c.key.in_(missing)))).all())
    return tats


def reserve(engine: Engine, asks: Sequence[tuple[Sequence[Limit], int]], now: float,
            horizon: float) -> list[tuple[float, str | None]]:
    """Give each ask (its limits, its recipients) a send time, in order.

    Returns per ask ``(send time, None)`` when it was reserved, or ``(when, label)`` when it
    cannot go within ``horizon``: ``when`` is when it is projected to fit and ``label``
    the limit that holds it. Waiting asks are spread along their limit's slots, so that
    they do not all come back at the same moment.
    """
    windows = {lim.key: lim for limits, _ in asks for lim in limits if not lim.gcra}
    out: list[tuple[float, str | None]] = []
    with engine.begin() as conn:
        # Every limit's state row is locked, counting windows' too (their TAT is unused):
        # on PostgreSQL that is what makes two workers' counts add up instead of race.
        tats = _tats(conn, sorted({lim.key for limits, _ in asks for lim in limits}))
        counts: dict[str, dict[int, int]] = defaultdict(dict)
        if windows:
            oldest = min(now - DAY if lim.cap else now - lim.rate.period - lim.rate.bucket
                         for lim in windows.values())
            for key, bucket, n in conn.execute(select(_COUNTS.c.key, _COUNTS.c.bucket, _COUNTS.c.count)
                                               .where(_COUNTS.c.key.in_(list(windows)),
                                                      _COUNTS.c.bucket >= int(oldest))):
                counts[key][bucket] = n
        added: dict[tuple[str, int], int] = defaultdict(int)
        projected: dict[str, float] = {}
        changed: set[str] = set()
        day = bucket_of(now, DAY)
        used = {key: counts[key].get(day, 0) if lim.cap is not None else
                sum(n for b, n in counts[key].items() if b + lim.rate.bucket > now - lim.rate.period)
                for key, lim in windows.items()}
        for limits, units in asks:
            wait, why = None, None
            for lim in limits:
                if lim.gcra or not used[lim.key] or used[lim.key] + units <= (lim.cap or lim.rate.count):
                    continue
                w = day + DAY if lim.cap is not None else window_wait(counts[lim.key], now, lim.rate, units)
                if w is not None and (wait is None or w > wait):
                    wait, why = w, lim.label
            if wait is not None:
                out.append((wait, why))
                continue
            gcra = [lim for lim in limits if lim.gcra]
            at = max([now] + [tats[lim.key] for lim in gcra])
            if at > now + min([horizon] + [lim.rate.period / 4 for lim in gcra]):
                binding = max(gcra, key=lambda lim: tats[lim.key])
                at = max(projected.get(lim.key, tats[lim.key]) for lim in gcra)
                for lim in gcra:
                    projected[lim.key] = at + units * lim.interval
                out.append((at, binding.label))
                continue
            for lim in gcra:
                tats[lim.key] = gcra_slot(tats[lim.key], at, units, lim.interval)[1]
                changed.add(lim.key)
            for lim in limits:
                if not lim.gcra:
                    bucket = day if lim.cap is not None else bucket_of(now, lim.rate.bucket)
                    counts[lim.key][bucket] = counts[lim.key].get(bucket, 0) + units
                    used[lim.key] += units
                    added[(lim.key, bucket)] += units
            out.append((at, None))
        if changed:
            conn.execute(update(_RATES).where(_RATES.c.key == bindparam("k")).values(tat=bindparam("t")),
                         [{"k": k, "t": tats[k]} for k in sorted(changed)])
        if added:
            stmt = _insert(conn)(_COUNTS)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["key", "bucket"], set_={"count": _COUNTS.c.count + stmt.excluded.count}),
                [{"key": k, "bucket": b, "count": n} for (k, b), n in sorted(added.items())])
    return out


def take_slot(engine: Engine, limits: Sequence[Limit], units: int, now: float) -> float:
    """Take the next free slot of ``limits`` (GCRA) and return it: the make-up slot the
    shaper gives up after a transaction that reached the provider late."""
    keys = sorted(lim.key for lim in limits)
    with engine.begin() as conn:
        tats = _tats(conn, keys)
        at = max([now] + list(tats.values()))
        conn.execute(update(_RATES).where(_RATES.c.key == bindparam("k")).values(tat=bindparam("t")),
                     [{"k": lim.key, "t": at + units * lim.interval} for lim in sorted(limits, key=lambda x: x.key)])
    return at


# -- holds -------------------------------------------------------------------------------

def add_hold(engine: Engine, *, key: str, provider: str, destination: str | None, action: str,
             rate: str | None, rule: str, reply: str, now: datetime, until: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_HOLDS).values(key=key, provider=provider, destination=destination,
                                           action=action, rate=rate, rule=rule, reply=reply[:1000],
                                           created_at=now, until=until))


def active_holds(conn: Connection, now: datetime) -> list:
    return conn.execute(select(_HOLDS).where(_HOLDS.c.until > now).order_by(_HOLDS.c.until)).all()


# -- connection leases -------------------------------------------------------------------

_ACQUIRE = """
UPDATE shape_connections SET holder = :holder, until = :until
 WHERE provider = :provider AND slot IN (
       SELECT slot FROM shape_connections
        WHERE provider = :provider AND slot < :limit AND (holder IS NULL OR until < :now)
        ORDER BY slot LIMIT :want {lock})
RETURNING slot
"""


def acquire_connections(engine: Engine, provider: str, limit: int, want: int, holder: str,
                        now: datetime, ttl: float, create: bool = False) -> list[int]:
    """Take up to ``want`` of the provider's ``limit`` connection slots that nobody holds
    (or whose holder's lease ran out); returns the slot numbers taken. ``create`` first
    makes sure the provider's slot rows exist (once per process is enough)."""
    lock = "FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        if create:
            conn.execute(_insert(conn)(_LEASES).values(
                [{"provider": provider, "slot": i, "holder": None, "until": None} for i in range(limit)])
                .on_conflict_do_nothing(index_elements=["provider", "slot"]))
        return list(conn.execute(text(_ACQUIRE.format(lock=lock)), {
            "holder": holder, "until": now + timedelta(seconds=ttl), "provider": provider,
            "limit": limit, "now": now, "want": want}).scalars())


def renew_connections(engine: Engine, provider: str, holder: str, until: datetime) -> None:
    t = _LEASES.c
    with engine.begin() as conn:
        conn.execute(update(_LEASES).where(t.provider == provider, t.holder == holder).values(until=until))


def release_connections(engine: Engine, providers: Sequence[str], holder: str) -> None:
    t = _LEASES.c
    with engine.begin() as conn:
        conn.execute(update(_LEASES).where(t.provider.in_(providers), t.holder == holder)
                     .values(holder=None, until=None))


# -- warm-up -----------------------------------------------------------------------------

def warmup_start(engine: Engine, domain: str, provider: str, today: datetime) -> datetime:
    """Day 1 of a warm-up: the first day bulk mail of ``domain`` went through ``provider``
    (recorded now if it never did)."""
    t = _WARMUP.c
    with engine.begin() as conn:
        conn.execute(_insert(conn)(_WARMUP).values(domain=domain, provider=provider, started_on=today)
                     .on_conflict_do_nothing(index_elements=["domain", "provider"]))
        return conn.execute(select(t.started_on).where(t.domain == domain, t.provider == provider)).scalar_one()


# -- housekeeping ------------------------------------------------------------------------

def prune(engine: Engine, now: float) -> None:
    """Drop counting buckets no window can reach and holds that lifted over a week ago."""
    with engine.begin() as conn:
        conn.execute(delete(_COUNTS).where(_COUNTS.c.bucket < int(now - 2 * DAY - 3600)))
        conn.execute(delete(_HOLDS).where(_HOLDS.c.until < to_dt(now - 7 * DAY)))
