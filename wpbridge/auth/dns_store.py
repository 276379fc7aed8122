"""DNS check results per sending domain, in the database (``dns_checks``): re-checked as
they expire, shown on the status page, and used to hold bulk mail from a domain without
DMARC.

- **Re-check** (:func:`recheck_due`): a worker calls it from its periodic block. At most
  every :data:`RECHECK_EVERY` seconds per process it looks for due checks, in a thread of
  its own so that a slow or dead DNS server never holds up delivery, and checks at most
  :data:`BUDGET` domains (looking again after :data:`BEHIND_EVERY` seconds while more are
  due). A row is due at its ``expires_at`` (the shortest TTL of the
  answers, at most 5 minutes when something needs fixing); a worker takes a due row by
  moving ``expires_at`` ahead first, so that of many workers one checks it.
- **Hold** (:class:`BulkGate`): the worker asks which claimed bulk messages to hold. The
  answer comes from the stored results, read at most every :data:`GATE_TTL` seconds, never
  from DNS. A domain whose stored check found no valid DMARC record holds its bulk mail
  (transactional and notification mail are never held) unless the site allows it
  (``allow_bulk_without_dmarc``). No stored verdict (not checked yet, DNS did not answer,
  a verdict older than :data:`VERDICT_MAX_AGE`) holds nothing.
- **Release**: a check that finds DMARC where the last one found none makes the site's
  held recipients of that domain due at once.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from wpbridge.auth import dkim, dns_check
from wpbridge.auth.models import DnsCheck
from wpbridge.models import DkimKey, Recipient, Site, SiteDomain, utcnow

log = logging.getLogger("wpbridge.auth.dns")

RECHECK_EVERY = 120.0  # seconds between two looks for due checks, per worker process (default)
BEHIND_EVERY = 5.0  # seconds until the next look while more checks are due than a look takes
BUDGET = 5  # domains checked per look at most
TIME_BUDGET = 60.0  # seconds: no further check is started in a look after this
LEASE = 600.0  # seconds a taken check is left to the worker that took it
RETRY_AFTER_ERROR = 900.0  # seconds until a check that could not be made is tried again
GATE_TTL = 30.0  # seconds a worker reuses the stored results it read
HOLD_FOR = 900.0  # seconds a held bulk recipient waits before it is looked at again
VERDICT_MAX_AGE = 86400.0  # seconds: an older "no DMARC" (re-checks failing) holds nothing
HOLD_PREFIX = "held: bulk mail from {domain} needs a DMARC record"  # dns_check.hold_reason

_T = DnsCheck.__table__
_EPOCH = datetime(2000, 1, 1)


def allows_bulk_without_dmarc(settings, site_name: str) -> bool:
    """The site's ``allow_bulk_without_dmarc``, else the bridge-wide one (default false)."""
    per_site = getattr(settings, "site_allow_bulk_without_dmarc", None) or {}
    return per_site.get(site_name.strip().lower().rstrip("."),
                        bool(getattr(settings, "allow_bulk_without_dmarc", False)))


# -- storing results -----------------------------------------------------------------------

def _verdict(result: dns_check.CheckResult) -> str | None:
    if "dmarc" in result.unresolved or result.exists is not True:
        return None
    return result.dmarc_policy or "missing"


def store(engine, site_id: int, domain: str, result: dns_check.CheckResult,
          now: datetime | None = None) -> None:
    """Keep ``result`` as the last check of the site's ``domain``, due again after its TTL.
    When DMARC turned up where the last check found none, the held bulk recipients of the
    domain become due at once."""
    now = now or utcnow()
    values = {"level": result.level, "findings": result.to_dict(), "dmarc": _verdict(result),
              "hold_reason": dns_check.hold_reason(result, "bulk", allow_without_dmarc=False),
              "checked_at": now, "expires_at": now + timedelta(seconds=result.ttl), "error": None}
    key = (_T.c.site_id == site_id) & (_T.c.domain == domain)
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                before = conn.execute(select(_T.c.dmarc).where(key)).first()
                if before is None:
                    conn.execute(insert(_T).values(site_id=site_id, domain=domain, **values))
                else:
                    conn.execute(update(_T).where(key).values(**values))
                if before is not None and before.dmarc == "missing" and values["hold_reason"] is None:
                    released = _release_held(conn, site_id, domain, now)
                    if released:
                        log.info("site %s: %s has DMARC now; %d held bulk recipients are due again",
                                 site_id, domain, released)
            return
        except IntegrityError:  # another process inserted the row first: update it
            if attempt == 2:
                raise


def _release_held(conn, site_id: int, domain: str, now: datetime) -> int:
    prefix = HOLD_PREFIX.format(domain=domain).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    r = Recipient.__table__.c
    return conn.execute(update(Recipient.__table__).where(
        r.site_id == site_id, r.state == "queued", r.next_attempt_at > now,
        r.last_response.like(prefix + "%", escape="\\")).values(next_attempt_at=now)).rowcount


def _failed(engine, site_id: int, domain: str, error: str, now: datetime) -> None:
    """The check could not be made: say why, try again later, keep the last verdict."""
    with engine.begin() as conn:
        conn.execute(update(_T).where(_T.c.site_id == site_id, _T.c.domain == domain).values(
            error=error[:2000], expires_at=now + timedelta(seconds=RETRY_AFTER_ERROR)))


# -- which checks are due ------------------------------------------------------------------

def sync(engine) -> None:
    """A row for every sending domain of every site (a new one due at once); none for a
    domain a site no longer sends from."""
    sd = SiteDomain.__table__.c
    try:
        with engine.begin() as conn:
            conn.execute(delete(_T).where(~exists().where(
                sd.site_id == _T.c.site_id, sd.domain == _T.c.domain)))
            missing = conn.execute(select(sd.site_id, sd.domain).where(
                ~exists().where(_T.c.site_id == sd.site_id, _T.c.domain == sd.domain))).all()
            if missing:
                conn.execute(insert(_T), [{"site_id": site_id, "domain": domain, "expires_at": _EPOCH}
                                          for site_id, domain in missing])
    except IntegrityError:  # another worker added them at the same moment
        pass


def make_due(conn, site_id: int, now: datetime) -> int:
    """Make the site's sending domains due for a check now (the status page's "re-check
    DNS"). Returns how many."""
    return conn.execute(update(_T).where(_T.c.site_id == site_id, _T.c.expires_at > now)
                        .values(expires_at=now)).rowcount


def take_due(engine, now: datetime, budget: int | None = None) -> list[tuple[int, str]]:
    """Up to ``budget`` due (site_id, domain) pairs, each taken for :data:`LEASE` seconds by
    a guarded UPDATE: of several workers, one gets each."""
    with engine.connect() as conn:
        due = conn.execute(select(_T.c.site_id, _T.c.domain).where(_T.c.expires_at <= now)
                           .order_by(_T.c.expires_at).limit(BUDGET if budget is None else budget)).all()
        conn.rollback()
    taken = []
    for site_id, domain in due:
        with engine.begin() as conn:
            if conn.execute(update(_T).where(
                    _T.c.site_id == site_id, _T.c.domain == domain, _T.c.expires_at <= now)
                    .values(expires_at=now + timedelta(seconds=LEASE))).rowcount:
                taken.append((site_id, domain))
    return taken


# -- checking ------------------------------------------------------------------------------

def check(engine, settings, site_id: int, domain: str, resolver) -> dns_check.CheckResult:
    """Check one of a site's sending domains with its DKIM keys and routes. The database is
    read first and let go before the first DNS query (a SQLite transaction holds the write
    lock, and DNS can take seconds)."""
    with engine.connect() as conn:
        name = conn.execute(select(Site.name).where(Site.id == site_id)).scalar_one()
        rows = conn.execute(select(DkimKey.id, DkimKey.domain, DkimKey.selector, DkimKey.algorithm,
                                   DkimKey.public_key, DkimKey.active)
                            .where(DkimKey.site_id == site_id)).all()
        conn.rollback()
    return dns_check.check_domain(domain, resolver, sendings=dns_check.sendings_for(settings, name, domain),
                                  dkim=dns_check.expectations(rows, domain))


_resolver_lock = threading.Lock()
_resolver = None


def default_resolver():
    """The system's resolver, one per process (its TTL cache shared by the checks).

    :raise dns_check.LookupFailed: this machine has no resolver configured.
    """
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = dns_check.make_resolver()
        return _resolver


def recheck(engine, settings, resolver=None, now: datetime | None = None, budget: int | None = None,
            time_budget: float = TIME_BUDGET) -> list[dns_check.CheckResult]:
    """Check the due domains now (at most ``budget``) and store the results; the results
    (a full ``budget`` of them: more may be due)."""
    now = now or utcnow()
    sync(engine)
    taken = take_due(engine, now, budget)
    if not taken:
        return []
    if resolver is None:
        try:
            resolver = default_resolver()
        except dns_check.LookupFailed as exc:
            for site_id, domain in taken:
                _failed(engine, site_id, domain, str(exc), now)
            log.warning("DNS checks of sending domains cannot run: %s", exc)
            return []
    deadline = time.monotonic() + time_budget
    results = []
    for site_id, domain in taken:
        if time.monotonic() > deadline:  # out of time: give the rest back, due as before
            with engine.begin() as conn:
                conn.execute(update(_T).where(_T.c.site_id == site_id, _T.c.domain == domain)
                             .values(expires_at=now))
            continue
        try:
            result = check(engine, settings, site_id, domain, resolver)
        except Exception as exc:  # noqa: BLE001 - one domain's failure must not stop the rest
            log.exception("DNS check of %s (site %s) failed", domain, site_id)
            _failed(engine, site_id, domain, f"{type(exc).__name__}: {exc}", now)
            continue
        store(engine, site_id, domain, result)
        results.append(result)
    return results


@dataclass
class _Due:
    next_run: float = 0.0
    thread: threading.Thread | None = None


_DUE: "weakref.WeakKeyDictionary[object, _Due]" = weakref.WeakKeyDictionary()
_DUE_LOCK = threading.Lock()


def recheck_due(engine, settings, every: float | None = None, background: bool = True) -> None:
    """What a worker calls often: at most every ``every`` seconds (``dns_recheck_interval``;
    0: never), :func:`recheck` in a thread of its own (one at a time). Never raises: DNS or
    database trouble here is logged and must not stop delivery."""
    every = float(getattr(settings, "dns_recheck_interval", RECHECK_EVERY)) if every is None else every
    if every <= 0:
        return
    try:
        with _DUE_LOCK:
            state = _DUE.setdefault(engine, _Due())
            if time.monotonic() < state.next_run or (state.thread and state.thread.is_alive()):
                return
            state.next_run = time.monotonic() + every
            if background:
                state.thread = threading.Thread(target=_recheck_logged, args=(engine, settings, state),
                                                name="dns-recheck", daemon=True)
                state.thread.start()
                return
        _recheck_logged(engine, settings, state)
    except Exception:  # noqa: BLE001 - see above
        log.exception("DNS re-check could not start")


def _recheck_logged(engine, settings, state: _Due) -> None:
    try:
        if len(recheck(engine, settings)) >= BUDGET:  # more may be due: look again soon
            state.next_run = min(state.next_run, time.monotonic() + BEHIND_EVERY)
    except Exception as exc:  # noqa: BLE001 - a thread's last word: log, never raise
        log.warning("DNS re-check of sending domains failed (%s: %s); tried again later",
                    type(exc).__name__, exc)


# -- holding bulk mail ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Verdict:
    reason: str
    checked_at: datetime
    expires_at: datetime


class BulkGate:
    """Which claimed bulk messages to hold because their From domain has no DMARC record,
    by the stored checks (re-read every ``ttl`` seconds: one query, not one per message)."""

    def __init__(self, engine, settings, ttl: float = GATE_TTL):
        self.engine, self.settings, self.ttl = engine, settings, ttl
        self._verdicts: dict[tuple[int, str], _Verdict] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _current(self) -> dict[tuple[int, str], _Verdict]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl:
                try:
                    with self.engine.connect() as conn:
                        rows = conn.execute(select(_T.c.site_id, _T.c.domain, _T.c.hold_reason,
                                                   _T.c.checked_at, _T.c.expires_at)
                                            .where(_T.c.hold_reason.is_not(None))).all()
                        conn.rollback()
                    self._verdicts = {(r.site_id, r.domain): _Verdict(r.hold_reason, r.checked_at, r.expires_at)
                                      for r in rows}
                except SQLAlchemyError as exc:  # e.g. 'wpbridge db upgrade' not run yet
                    log.warning("stored DNS checks cannot be read (%s); bulk mail is not held "
                                "for missing DMARC", type(exc).__name__)
                    self._verdicts = {}
                self._read_at = time.monotonic()
            return self._verdicts

    def forget(self) -> None:
        """Read the stored checks again at the next call."""
        with self._lock:
            self._read_at = float("-inf")

    def holds(self, messages: Iterable, now: datetime) -> dict[str, tuple[datetime, str]]:
        """Message id -> (until, reason) for the bulk ``messages`` (queue.Queued) to hold.
        Never raises: on any trouble here, nothing is held."""
        try:
            return self._holds(messages, now)
        except Exception:  # noqa: BLE001 - a bug here must not stop delivery
            log.exception("deciding which bulk mail to hold for missing DMARC failed; none is held")
            return {}

    def _holds(self, messages: Iterable, now: datetime) -> dict[str, tuple[datetime, str]]:
        bulk = [m for m in messages if m.category == "bulk"
                and not allows_bulk_without_dmarc(self.settings, m.site_name)]
        if not bulk:
            return {}
        verdicts = self._current()
        if not verdicts:
            return {}
        out = {}
        oldest = now - timedelta(seconds=VERDICT_MAX_AGE)
        for m in bulk:
            verdict = verdicts.get((m.site_id, from_domain(m.raw)))
            if verdict is None or verdict.checked_at < oldest:
                continue
            # Looked at again once a re-check after the stored one's expiry can have run.
            until = max(now + timedelta(seconds=HOLD_FOR),
                        verdict.expires_at + timedelta(seconds=RECHECK_EVERY))
            out[m.id] = (until, verdict.reason)
        return out


def from_domain(raw: bytes) -> str | None:
    """The domain of the message's single From address."""
    if not raw:
        return None
    return dkim.Prepared(raw).from_domain()


# -- the status page -----------------------------------------------------------------------

CHECKS = ("domain", "spf", "dkim", "dmarc", "alignment", "mx", "rdns")
CHECK_LABELS = {"domain": "Domain", "spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC",
                "alignment": "Alignment", "mx": "Bounce MX", "rdns": "Reverse DNS"}
_RANK = {dns_check.OK: 0, dns_check.WARNING: 1, dns_check.ERROR: 2}


def panel(conn, settings, site_id: int, site_name: str) -> list[dict]:
    """Per sending domain of the site: the last check, its level per record (SPF, DKIM,
    DMARC, ...), each finding with the record to add or change, and whether bulk mail from
    the domain is held."""
    domains = conn.execute(select(SiteDomain.domain).where(SiteDomain.site_id == site_id)
                           .order_by(SiteDomain.domain)).scalars().all()
    stored = {r.domain: r for r in conn.execute(select(_T).where(_T.c.site_id == site_id))}
    allowed = allows_bulk_without_dmarc(settings, site_name)
    out = []
    for domain in domains:
        row = stored.get(domain)
        checked = row is not None and row.checked_at is not None and row.findings
        findings = (row.findings or {}).get("findings", []) if checked else []
        # The checks' advice names the site as SITE; here the site is known.
        findings = [{**f, "message": f["message"].replace("--site SITE ", f"--site {site_name} ")}
                    for f in findings]
        checks = []
        for name in CHECKS:
            mine = [f for f in findings if f["check"] == name]
            if mine:
                level = max((f["level"] for f in mine), key=_RANK.__getitem__)
                checks.append({"check": name, "label": CHECK_LABELS[name], "level": level,
                               "findings": sorted(mine, key=lambda f: -_RANK[f["level"]])})
        out.append({
            "domain": domain, "checked": bool(checked),
            "level": row.level if checked else None,
            "checked_at": row.checked_at if row is not None else None,
            "expires_at": row.expires_at if checked else None,
            "error": row.error if row is not None else None,
            "checks": checks,
            "held": row.hold_reason if checked and row.hold_reason and not allowed else None,
            "allowed_without_dmarc": bool(checked and row.hold_reason and allowed),
        })
    return out
