"""What the status page, /metrics, alerts and reports show, read from the database.

Volumes, rates and latencies come from the counters (``stats``), never from the message
table; only the gauges (queue depth, oldest queued message) and the lists (failures,
suppressions, the message log) read live rows, each bounded by an index and a limit.
Every function takes the site's id: one site never sees another's rows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, insert, not_, or_, select, text, update
from sqlalchemy.engine import Connection

from wpbridge.models import Attempt, Lane, Message, Recipient, Stat, Suppression, WorkerBeat, WriteProbe
from wpbridge.status.metrics import DOMAIN_GROUPS, DOMAIN_PREFIXES, FIELDS, GROUPS, LATENCY_BOUNDS_MS

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
LANES = {lane.value: lane.name for lane in Lane}
FAILED_STATES = ("failed", "expired")


@dataclass
class Counts:
    """Counter sums over some buckets."""

    accepted: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    expired: int = 0
    suppressed: int = 0
    complained: int = 0
    rewritten: int = 0  # messages whose From the bridge rewrote (from_policy rewrite)
    latency_ms_sum: int = 0
    lat: list[int] = field(default_factory=lambda: [0] * 8)

    def add(self, row) -> None:
        for name in FIELDS + ("latency_ms_sum",):
            setattr(self, name, getattr(self, name) + int(getattr(row, name) or 0))
        for i in range(8):
            self.lat[i] += int(getattr(row, f"lat_{i}") or 0)

    def merge(self, other: "Counts") -> None:
        for name in FIELDS + ("latency_ms_sum",):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lat = [a + b for a, b in zip(self.lat, other.lat)]

    @property
    def bounce_rate(self) -> float | None:
        """Bounced share of the recipients whose fate is decided (delivered or bounced)."""
        decided = self.delivered + self.bounced
        return self.bounced / decided if decided else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complained / self.delivered if self.delivered else None

    @property
    def tries(self) -> int:
        return self.delivered + self.deferred + self.bounced + self.expired

    @property
    def deferred_share(self) -> float | None:
        return self.deferred / self.tries if self.tries else None

    def percentile(self, q: float) -> float | None:
        """Delivery latency in seconds at quantile ``q``, interpolated inside its histogram
        bucket; the open last bucket (over 5 min) answers with its lower bound."""
        total = sum(self.lat)
        if not total:
            return None
        rank, seen = q * total, 0
        for i, n in enumerate(self.lat):
            if n and seen + n >= rank:
                low = LATENCY_BOUNDS_MS[i - 1] if i else 0
                if i == len(LATENCY_BOUNDS_MS):
                    return low / 1000
                high = LATENCY_BOUNDS_MS[i]
                return (low + (high - low) * (rank - seen) / n) / 1000
            seen += n
        return LATENCY_BOUNDS_MS[-1] / 1000


_SUMS = [func.coalesce(func.sum(getattr(Stat, name)), 0).label(name)
         for name in FIELDS + ("latency_ms_sum",) + tuple(f"lat_{i}" for i in range(8))]


def _period_since(window: timedelta, now: datetime) -> tuple[str, datetime]:
    """Minute buckets for the last hour, hour buckets beyond (the current one included)."""
    if window <= timedelta(hours=1):
        return "m", now.replace(second=0, microsecond=0) - window + timedelta(minutes=1)
    return "h", now.replace(minute=0, second=0, microsecond=0) - window + timedelta(hours=1)


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    group: str | None = None

    def stat_conditions(self) -> list:
        cond = []
        if self.category:
            cond.append(Stat.category == self.category)
        if self.group:
            cond.append(Stat.domain_group == self.group)
        return cond


def counts_by(conn: Connection, site_id: int, window: timedelta, now: datetime,
              filters: Filters = Filters(), by: tuple[str, ...] = ()) -> dict[tuple, Counts]:
    """Counter sums over ``window`` up to ``now``, keyed by the ``by`` columns of stats."""
    period, since = _period_since(window, now)
    cols = [getattr(Stat, c) for c in by]
    rows = conn.execute(select(*cols, *_SUMS).where(
        Stat.site_id == site_id, Stat.period == period, Stat.bucket >= since,
        *filters.stat_conditions()).group_by(*cols))
    out: dict[tuple, Counts] = {}
    for row in rows:
        c = out.setdefault(tuple(row[:len(by)]), Counts())
        c.add(row)
    return out


def totals(conn: Connection, site_id: int, window: timedelta, now: datetime,
           filters: Filters = Filters()) -> Counts:
    return counts_by(conn, site_id, window, now, filters).get((), Counts())


def counts_between(conn: Connection, site_id: int, start: datetime, end: datetime,
                   by: tuple[str, ...] = ()) -> dict[tuple, Counts]:
    """Hour-bucket sums for ``start <= bucket < end`` (reports), keyed by ``by``."""
    cols = [getattr(Stat, c) for c in by]
    rows = conn.execute(select(*cols, *_SUMS).where(
        Stat.site_id == site_id, Stat.period == "h", Stat.bucket >= start, Stat.bucket < end)
        .group_by(*cols))
    out: dict[tuple, Counts] = {}
    for row in rows:
        out.setdefault(tuple(row[:len(by)]), Counts()).add(row)
    return out


def series(conn: Connection, site_id: int, now: datetime, hours: int = 24,
           filters: Filters = Filters()) -> list[tuple[datetime, Counts]]:
    """One :class:`Counts` per hour for the last ``hours`` hours, oldest first, gaps filled."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    rows = conn.execute(select(Stat.bucket, *_SUMS).where(
        Stat.site_id == site_id, Stat.period == "h", Stat.bucket >= start,
        *filters.stat_conditions()).group_by(Stat.bucket))
    by_hour: dict[datetime, Counts] = {}
    for row in rows:
        by_hour.setdefault(row.bucket, Counts()).add(row)
    return [(start + timedelta(hours=i), by_hour.get(start + timedelta(hours=i), Counts()))
            for i in range(hours)]


def daily_series(conn: Connection, site_id: int, now: datetime, days: int = 7,
                 filters: Filters = Filters()) -> list[tuple[datetime, Counts]]:
    hourly = series(conn, site_id, now, days * 24, filters)
    out: list[tuple[datetime, Counts]] = []
    for i in range(0, len(hourly), 24):
        day = Counts()
        for _, c in hourly[i:i + 24]:
            day.merge(c)
        out.append((hourly[i][0], day))
    return out


@dataclass(frozen=True)
class LaneGauge:
    lane: str
    depth: int  # recipients queued or being sent
    due: int  # of which due now
    oldest_age: float | None  # seconds since the oldest of them was accepted


def queue_gauges(conn: Connection, site_id: int, now: datetime) -> list[LaneGauge]:
    """Live, per lane: the recipients waiting and the age of the oldest (every lane shown).

    Recipient ids grow with acceptance, so the lowest waiting id is the oldest waiting
    message: one count over the site's waiting rows, then one lookup per lane.
    """
    r, m = Recipient.__table__.c, Message.__table__.c
    rows = conn.execute(
        select(r.lane, func.count(), func.sum(case((r.next_attempt_at <= now, 1), else_=0)),
               func.min(r.id))
        .where(r.site_id == site_id, r.state.in_(("queued", "sending")))
        .group_by(r.lane)).all()
    found = {row[0]: row for row in rows}
    out = []
    for lane, name in LANES.items():
        row = found.get(lane)
        oldest = None
        if row:
            created = conn.execute(select(m.created_at).join_from(
                Recipient.__table__, Message.__table__, m.id == r.message_id)
                .where(r.id == row[3])).scalar()
            oldest = (now - created).total_seconds() if created else None
        out.append(LaneGauge(name, int(row[1]) if row else 0, int(row[2] or 0) if row else 0, oldest))
    return out


def _site_of_attempt(site_id: int):
    # "+ 0" keeps the planner on the attempts' time index: without statistics SQLite would
    # otherwise walk every recipient of the site first.
    return (Recipient.__table__.c.site_id + 0) == site_id


_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_NOISE = re.compile(r"^\s*(?:\d{3}[ -])?(?:[245]\.\d{1,3}\.\d{1,3}\s*)?")


def reason_key(code: int | None, response: str | None) -> str:
    """A failure reason for grouping: ``550 5.1.1``, ``421``, or ``no connection``."""
    if code is None:
        return "no connection"
    enhanced = _ENHANCED.search(response or "")
    return f"{code} {enhanced.group(1)}" if enhanced else str(code)


@dataclass(frozen=True)
class Reason:
    key: str
    count: int
    example: str


def failure_reasons(conn: Connection, site_id: int, since: datetime, limit: int = 8,
                    scan: int = 2000, until: datetime | None = None) -> list[Reason]:
    """The commonest reasons among the newest ``scan`` failed or deferred attempts."""
    a, r = Attempt.__table__.c, Recipient.__table__.c
    cond = [a.at >= since, _site_of_attempt(site_id), a.outcome.in_(("failed", "deferred", "expired"))]
    if until is not None:
        cond.append(a.at < until)
    rows = conn.execute(
        select(a.code, a.response).join_from(Attempt.__table__, Recipient.__table__,
                                             r.id == a.recipient_id)
        .where(*cond)
        .order_by(a.at.desc()).limit(scan))
    counts: Counter = Counter()
    examples: dict[str, str] = {}
    for code, response in rows:
        key = reason_key(code, response)
        counts[key] += 1
        examples.setdefault(key, _NOISE.sub("", response or "")[:200])
    return [Reason(k, n, examples[k]) for k, n in counts.most_common(limit)]


def per_domain(conn: Connection, site_id: int, window: timedelta, now: datetime,
               category: str | None = None) -> list[tuple[str, Counts]]:
    """Counts per recipient domain group, every group listed in a fixed order."""
    found = counts_by(conn, site_id, window, now, Filters(category=category), by=("domain_group",))
    return [(g, found.get((g,), Counts())) for g in GROUPS]


def group_condition(group: str):
    """SQL: recipients whose domain falls in ``group`` (as metrics.domain_group decides)."""
    d = Recipient.__table__.c.domain

    def _of(g):
        exact = [name for name, grp in DOMAIN_GROUPS.items() if grp == g]
        prefixes = [p for p, grp in DOMAIN_PREFIXES.items() if grp == g]
        return or_(d.in_(exact), *[d.like(p + ".%") for p in prefixes])

    if group == "other":
        return not_(or_(*[_of(g) for g in GROUPS if g != "other"]))
    return _of(group)


@dataclass(frozen=True)
class LogRow:
    recipient_id: int
    message_id: str
    created_at: datetime
    subject: str
    category: str
    address: str
    state: str
    attempts: int
    provider: str
    last_code: int | None
    last_response: str | None
    updated_at: datetime

    @property
    def can_resend(self) -> bool:
        return self.state in FAILED_STATES


FRAGMENT_SCAN = 10_000  # the newest messages a search for text inside addresses or subjects (without a date) looks through
_SORT_AT_MOST = 5_000  # fewer matches than this: take them from the index and sort them


@dataclass(frozen=True)
class AddressSearch:
    """What the recipient box asks for, told by its shape, so that the usual searches are
    index lookups on (site_id, lower(address)) or (site_id, domain):

    ``alice@example.org``: that address; ``alice@`` or ``alice@exa``: addresses starting so;
    ``@example.org``: domains starting so; ``alice`` or ``example.org``: addresses or
    domains starting so; ``*lic*``: the text anywhere in the address, which no index can
    find, so only the newest :data:`FRAGMENT_SCAN` messages are looked through.
    """

    kind: str  # address | prefix | domain | start | fragment
    value: str

    @classmethod
    def parse(cls, text: str) -> "AddressSearch | None":
        t = text.strip().lower()
        if "*" in t:
            kind, t = "fragment", t.replace("*", "")
        elif t.startswith("@"):
            kind, t = "domain", t[1:]
        elif "@" in t:
            domain = t.rpartition("@")[2]
            kind = "address" if "." in domain.strip(".") and not domain.endswith(".") else "prefix"
        else:
            kind = "start"
        return cls(kind, t) if t else None

    def condition(self):
        r = Recipient.__table__.c
        address = func.lower(r.address)
        if self.kind == "address":
            return address == self.value
        if self.kind == "fragment":
            return address.like(f"%{_like(self.value)}%", escape="\\")
        on_address = _starts(address, self.value)
        on_domain = _starts(r.domain, self.value)
        return {"prefix": on_address, "domain": on_domain}.get(self.kind, or_(on_address, on_domain))

    @property
    def explain(self) -> str:
        v = self.value
        if self.kind == "address":
            return f"Mail to {v} (upper and lower case alike)."
        if self.kind == "prefix":
            return f"Addresses starting with {v}."
        if self.kind == "domain":
            return f"Addresses whose domain starts with {v}."
        if self.kind == "start":
            return (f"Addresses or domains starting with {v}. To find {v} anywhere in an "
                    f"address, search *{v} (looks through the newest {FRAGMENT_SCAN:,} messages).")
        return (f"Addresses containing {v}, among the newest {FRAGMENT_SCAN:,} messages only: "
                "text inside an address cannot be looked up in an index. A full address, the "
                "start of one, or @domain searches all mail.")


def _starts(column, prefix: str):
    """``column`` starts with ``prefix``, as a range the index can serve; the LIKE keeps the
    answer exact under any collation."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper, column.like(f"{_like(prefix)}%", escape="\\"))


@dataclass(frozen=True)
class LogQuery:
    recipient: str = ""
    subject: str = ""
    status: str = ""
    date: str = ""  # YYYY-MM-DD, UTC
    category: str = ""
    group: str = ""
    before: str = ""  # where the next page starts: see :meth:`cursor`
    limit: int = 50

    @property
    def search(self) -> AddressSearch | None:
        return AddressSearch.parse(self.recipient)

    @property
    def subject_note(self) -> str:
        if self.subject and not self.date:
            return (f"Subjects are searched among the newest {FRAGMENT_SCAN:,} messages; choose a "
                    "date to search all of that day's.")
        return ""

    @property
    def by_change(self) -> bool:
        """With a status chosen, the newest change comes first (the (site, state,
        updated_at) index gives that order); else the newest message."""
        return bool(self.status)

    def cursor(self, row: LogRow) -> str:
        at = row.updated_at if self.by_change else row.created_at
        return f"{at.isoformat()},{row.recipient_id}"


def message_log(conn: Connection, site_id: int, q: LogQuery) -> list[LogRow]:
    """The site's recipients narrowed by ``q``, newest first (see :attr:`LogQuery.by_change`).

    :raise ValueError: ``q.date`` is not YYYY-MM-DD, or ``q.before`` is not a cursor.
    """
    r, m = Recipient.__table__.c, Message.__table__.c
    key = r.updated_at if q.by_change else m.created_at
    cond = [m.site_id == site_id]
    search = q.search
    if search:
        cond.append(search.condition())
    if (search and search.kind == "fragment") or (q.subject and not q.date):
        # Text inside addresses or subjects has no index: look through the newest messages.
        oldest = conn.execute(select(m.created_at).where(m.site_id == site_id)
                              .order_by(m.created_at.desc()).offset(FRAGMENT_SCAN - 1).limit(1)).scalar()
        if oldest is not None:
            cond.append(m.created_at >= oldest)
    if q.by_change or (search and search.kind != "fragment" and _few(conn, site_id, search)):
        # Walk the site's recipients (by state, or the search's matches from its index)
        # instead of its messages by time. Many matches are found sooner by walking time.
        cond.append(r.site_id == site_id)
    if q.subject:
        cond.append(func.lower(m.subject).like(f"%{_like(q.subject.strip().lower())}%", escape="\\"))
    if q.status:
        cond.append(r.state == q.status)
    if q.category:
        cond.append(m.category == q.category)
    if q.group:
        cond.append(group_condition(q.group))
    if q.date:
        try:
            day = datetime.strptime(q.date, "%Y-%m-%d")
        except ValueError:
            raise ValueError(f"{q.date!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-27") from None
        cond.append(and_(m.created_at >= day, m.created_at < day + timedelta(days=1)))
    if q.before:
        at, _, rid = q.before.partition(",")
        try:
            at, rid = datetime.fromisoformat(at), int(rid)
        except ValueError:
            raise ValueError("the link to older messages is damaged; start again from the "
                             "newest") from None
        cond.append(or_(key < at, and_(key == at, r.id < rid)))
    rows = conn.execute(
        select(r.id, m.id, m.created_at, m.subject, m.category, r.address, r.state, r.attempts,
               r.provider, r.last_code, r.last_response, r.updated_at)
        .join_from(Message.__table__, Recipient.__table__, m.id == r.message_id)
        .where(*cond).order_by(key.desc(), r.id.desc()).limit(q.limit))
    return [LogRow(*row[:6], getattr(row[6], "value", row[6]), *row[7:]) for row in rows]


def _few(conn: Connection, site_id: int, search: AddressSearch) -> bool:
    """Whether the search has few enough matches to sort them all (counted in the index)."""
    r = Recipient.__table__.c
    matches = select(r.id).where(r.site_id == site_id, search.condition()).limit(_SORT_AT_MOST + 1)
    return conn.execute(select(func.count()).select_from(matches.subquery())).scalar() <= _SORT_AT_MOST


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def recent_failures(conn: Connection, site_id: int, limit: int = 15,
                    filters: Filters = Filters()) -> list[LogRow]:
    """Recipients that bounced or expired, newest first, with the provider's answer (one
    query per state, each walking the (site, state, updated_at) index backwards)."""
    out: list[LogRow] = []
    for state in FAILED_STATES:
        out += _newest_in_state(conn, site_id, state, [], filters, limit)
    return sorted(out, key=lambda row: row.updated_at, reverse=True)[:limit]


def _newest_in_state(conn: Connection, site_id: int, state, extra: list, filters: Filters,
                     limit: int) -> list[LogRow]:
    """A site's newest recipients in one state (and ``extra`` conditions), with their
    message, walking the (site, state, updated_at) index backwards."""
    r, m = Recipient.__table__.c, Message.__table__.c
    cond = [r.site_id == site_id, r.state == state, *extra]
    if filters.category:
        cond.append(m.category == filters.category)
    if filters.group:
        cond.append(group_condition(filters.group))
    rows = conn.execute(
        select(r.id, m.id, m.created_at, m.subject, m.category, r.address, r.state,
               r.attempts, r.provider, r.last_code, r.last_response, r.updated_at)
        .join_from(Recipient.__table__, Message.__table__, m.id == r.message_id)
        .where(*cond).order_by(r.updated_at.desc()).limit(limit))
    return [LogRow(*row[:6], getattr(row[6], "value", row[6]), *row[7:]) for row in rows]


def suppression_summary(conn: Connection, site_id: int, now: datetime, limit: int = 10):
    """(count by reason, the newest entries) of the site's active suppressions."""
    s = Suppression.__table__.c
    active = [s.site_id == site_id, or_(s.expires_at.is_(None), s.expires_at > now)]
    by_reason = dict(conn.execute(select(s.reason, func.count()).where(*active)
                                  .group_by(s.reason)).all())
    newest = conn.execute(select(s.address, s.scope, s.reason, s.created_at).where(*active)
                          .order_by(s.created_at.desc(), s.id.desc()).limit(limit)).all()
    return by_reason, newest


def connection_failures(conn: Connection, site_id: int, since: datetime) -> tuple[int, int]:
    """(tries that got no answer from the provider, all tries) since ``since``."""
    a, r = Attempt.__table__.c, Recipient.__table__.c
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((a.code.is_(None), 1), else_=0)), 0))
        .join_from(Attempt.__table__, Recipient.__table__, r.id == a.recipient_id)
        .where(a.at >= since, _site_of_attempt(site_id),
               a.outcome.in_(("delivered", "deferred", "failed", "expired")))).one()
    return int(row[1]), int(row[0])


def heartbeat_age(conn: Connection, now: datetime) -> float | None:
    """Seconds since the freshest worker beat; None when no worker ever ran."""
    newest = conn.execute(select(func.max(WorkerBeat.beat_at))).scalar()
    return (now - newest).total_seconds() if newest else None


def database_ok(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1")).scalar() == 1


def today(conn: Connection, site_id: int, now: datetime) -> Counts:
    """Counter sums since midnight UTC (the dashboard widget's "today")."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return counts_between(conn, site_id, midnight, now + timedelta(hours=1)).get((), Counts())


# Answers that point at the sending domain's DNS (SPF, DKIM, DMARC, reverse DNS): the fix is
# a DNS record, so the page offers a re-check of the sending domains beside them.
_DNS_ANSWER = re.compile(r"\b(spf|dkim|dmarc|authenticat\w*|unauthenticated|ptr|reverse dns|"
                         r"5\.7\.(?:1|2[3-9]|7))\b", re.I)


@dataclass
class Attention:
    """One recipient that needs a person: ``kind`` failed (bounced or expired) or held
    (suppressed, or waiting after deferrals), with what to do about it."""

    row: LogRow
    kind: str
    suppressed: str | None  # the suppression reason, when the address is on the list
    dns: bool  # the provider's answer is about the sending domain's DNS

    @property
    def can_resend(self) -> bool:
        return self.row.can_resend and not self.suppressed


def attention(conn: Connection, site_id: int, now: datetime, filters: Filters = Filters(),
              limit: int = 10) -> list[Attention]:
    """Failed recipients, then held ones (suppressed in the last 7 days, or queued after at
    least one deferral), newest first within each; each with the actions that apply."""
    from wpbridge import suppressions

    r = Recipient.__table__.c
    held: list[LogRow] = []
    for state, extra in (("suppressed", [r.updated_at >= now - timedelta(days=7)]),
                         ("queued", [r.attempts > 0])):
        held += _newest_in_state(conn, site_id, state, extra, filters, limit)
    held.sort(key=lambda row: row.updated_at, reverse=True)
    rows = [("failed", row) for row in recent_failures(conn, site_id, limit, filters)] + \
           [("held", row) for row in held]
    rows = rows[:limit]
    listed = suppressions.active(conn, [(site_id, row.address) for _, row in rows], now)
    out = []
    for kind, row in rows:
        entry = listed.get((site_id, row.address.lower()))
        reason = suppressions.blocks(entry, row.category) if entry else None
        out.append(Attention(row, kind, reason, bool(_DNS_ANSWER.search(row.last_response or ""))))
    return out


def probe_write(conn: Connection, name: str, now: datetime) -> None:
    """One small write (``/readyz``): this process's row in write_probes."""
    table = WriteProbe.__table__
    if not conn.execute(update(table).where(table.c.name == name).values(written_at=now)).rowcount:
        conn.execute(insert(table).values(name=name, written_at=now))
