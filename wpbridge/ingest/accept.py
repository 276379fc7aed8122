"""The room behind both doors: check a site's submissions, classify, queue, commit.

Only after :func:`accept` returns is the client told yes (HTTP 202, SMTP 250). Everything
in one call is committed together or not at all.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from wpbridge import queue
from wpbridge.ingest import replay
from wpbridge.classify import classify
from wpbridge.ingest.message import InvalidInput, Submission
from wpbridge.ingest.sender import check_sender
from wpbridge.models import Message, Site, utcnow
from wpbridge.route import route_for
from wpbridge.sites import SiteAuth
from wpbridge.status.metrics import Tally


class StorageError(RuntimeError):
    """The queue could not commit (HTTP 503, SMTP 451): nothing was accepted."""


class QuotaExceeded(RuntimeError):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Item:
    submission: Submission
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class Accepted:
    id: str
    recipients: int
    category: str
    replayed: bool


def accept(engine, settings, site: SiteAuth, items: list[Item],
           nonce: "replay.Nonce | None" = None) -> list[Accepted]:
    """Queue ``items`` for ``site``: committed together, or not at all. ``nonce``, the signed
    request's, is claimed in the same transaction (see :mod:`wpbridge.ingest.replay`).

    Checks, classification and routing happen here, in the caller's thread; the shared
    transaction (group commit, see :class:`GroupCommit`) only looks up Idempotency-Keys and
    quotas and inserts rows: one fsync for many messages, without weaker durability.

    :raise InvalidInput: a sender domain is not the site's, or an Idempotency-Key was reused
        with a different body; nothing is stored.
    :raise QuotaExceeded: the site's hourly or daily quota would be passed.
    :raise StorageError: the database failed; nothing is stored.
    :raise SignatureError: ``nonce`` was used before (a replay); nothing is stored.
    """
    return GroupCommit.of(engine, settings).submit(site, prepare(settings, site, items), nonce)


def prepare(settings, site: SiteAuth, items: list[Item]) -> list["_Prepared"]:
    """Check the senders, classify, route and build the rows, outside any transaction.

    :raise InvalidInput: a sender is refused (see :func:`wpbridge.ingest.sender.check_sender`,
        which may also rewrite it).
    """
    now = utcnow()
    rules = settings.site_classify_rules.get(site.name, ()) + settings.classify_rules
    prepared = []
    for i, item in enumerate(items):
        sub = item.submission
        check_sender(site, sub, f"messages[{i}]." if len(items) > 1 else "")
        cls = classify(sub.headers, sub.context, recipients=sub.recipients,
                       body=sub.raw.partition(b"\r\n\r\n")[2], rules=rules)
        route = route_for(settings, site.name, cls.category)
        message, recipients = queue.rows(site.id, sub, cls, route, now, item.idempotency_key,
                                         item.request_hash)
        prepared.append(_Prepared(item.idempotency_key, item.request_hash, message, recipients,
                                  Accepted(sub.id, len(sub.recipients), cls.category, False),
                                  route.providers[0], sub.rewritten_from))
    return prepared


@dataclass(frozen=True)
class _Prepared:
    idempotency_key: str | None
    request_hash: str | None
    message: dict
    recipients: list[dict]
    accepted: Accepted
    provider: str
    rewritten_from: str | None = None


class _Request:
    __slots__ = ("site", "items", "nonce", "future", "turn")

    def __init__(self, site: SiteAuth, items: list, nonce: "replay.Nonce | None" = None):
        self.site, self.items, self.nonce = site, items, nonce
        self.future: Future = Future()
        self.turn = threading.Event()


class GroupCommit:
    """Requests that arrive together share one transaction. Threaded callers (the HTTP
    door) need no committer thread: the first waiting request leads, drains what is pending
    and commits it in its own thread (no hand-off when alone); the others sleep until their
    result is set or until the leader, done, wakes the oldest of them to lead the next round
    (no polling). An event loop (the SMTP door) queues with :meth:`submit_nowait` and lets
    one thread of its own lead (:meth:`commit_pending`). A refused request
    (quota, reused key) adds no rows and does not undo the others; should an insert still
    conflict, the round is redone with one savepoint per request. Results are handed out
    only after the COMMIT returned."""

    MAX_REQUESTS = 64

    _instances: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
    _instances_lock = threading.Lock()

    def __init__(self, engine, settings):
        self.engine, self.settings = engine, settings
        self.pending: deque[_Request] = deque()  # append/popleft are atomic
        self.leader = threading.Lock()

    @classmethod
    def of(cls, engine, settings) -> "GroupCommit":
        with cls._instances_lock:
            gc = cls._instances.get(engine)
            if gc is None:
                gc = cls._instances[engine] = cls(engine, settings)
            return gc

    def submit(self, site: SiteAuth, items: list["_Prepared"],
               nonce: "replay.Nonce | None" = None) -> list[Accepted]:
        """Queue prepared items and return once they are committed (or raise why not)."""
        request = _Request(site, items, nonce)
        self.pending.append(request)
        while not request.future.done():
            if self.leader.acquire(blocking=False):
                self._round()
            else:
                # Woken when our result is in or when it is our turn to lead; the timeout
                # only guards against a wake-up lost to a race.
                request.turn.wait(0.05)
                request.turn.clear()
        return request.future.result()

    def submit_nowait(self, site: SiteAuth, items: list["_Prepared"]) -> Future:
        """Queue prepared items; the returned future is resolved by whoever leads next (an
        event loop hands them over this way and runs :meth:`commit_pending` in a thread)."""
        request = _Request(site, items)
        self.pending.append(request)
        return request.future

    def commit_pending(self) -> None:
        """Lead rounds until nothing is pending (blocks while another thread leads)."""
        while self.pending:
            self.leader.acquire()
            self._round()

    def _round(self) -> None:
        """One round, with the leader lock held by the caller; releases it."""
        batch = []
        try:
            batch = self._drain()
            if batch:
                self._commit(batch)
        finally:
            self.leader.release()
            for r in batch:
                r.turn.set()
        if self.pending:  # arrived during our commit: their oldest leads next
            self.pending[0].turn.set()

    def _drain(self) -> list["_Request"]:
        batch = []
        while len(batch) < self.MAX_REQUESTS:
            try:
                batch.append(self.pending.popleft())
            except IndexError:
                break
        return batch

    def _commit(self, batch: list["_Request"]) -> None:
        try:
            try:
                outcomes = self._transaction(batch, self._store_together)
            except IntegrityError:
                # Another process committed one of these Idempotency-Keys first (or two
                # requests here share one): again, each request in its own savepoint.
                outcomes = self._transaction(batch, self._store_apart)
        except DBAPIError as exc:
            failure = StorageError(f"could not store the message: {exc.orig or exc}")
            for r in batch:
                r.future.set_exception(failure)
            return
        except Exception as exc:  # a bug must not leave a client waiting forever
            for r in batch:
                r.future.set_exception(StorageError(f"could not store the message: {exc!r}"))
            raise
        for r, outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                r.future.set_exception(outcome)
            else:
                r.future.set_result(outcome)

    def _transaction(self, batch, store) -> list:
        tally = Tally()
        with self.engine.begin() as conn:
            outcomes = store(conn, batch, tally)
            tally.flush(conn, utcnow())
        return outcomes

    @staticmethod
    def _store_together(conn, batch, tally: Tally) -> list:
        """Every request's rows in two INSERTs (three with nonces); a refused request adds none."""
        outcomes, messages, recipients = [], [], []
        counted: dict[int, int] = {}  # recipients added per site in this batch, for quotas
        fresh = replay.claim(conn, [r.nonce for r in batch if r.nonce is not None])
        for r in batch:
            if r.nonce is not None:
                if r.nonce.key not in fresh:
                    outcomes.append(replay.replayed())
                    continue
                fresh.discard(r.nonce.key)  # a second use in this round is a replay too
            try:
                out, new = _check(conn, r.site, r.items, counted.get(r.site.id, 0))
            except (InvalidInput, QuotaExceeded) as exc:
                outcomes.append(exc)
                continue
            for p in new:
                messages.append(p.message)
                recipients.extend(p.recipients)
                _count(tally, p)
                counted[r.site.id] = counted.get(r.site.id, 0) + len(p.recipients)
            outcomes.append(out)
        queue.enqueue(conn, messages, recipients)
        _note_rewrites(conn, [p for r, o in zip(batch, outcomes) if not isinstance(o, Exception)
                              for p in r.items])
        return outcomes

    @staticmethod
    def _store_apart(conn, batch, tally: Tally) -> list:
        outcomes = []
        for r in batch:
            outcomes.append(_store_one(conn, r, tally))
        return outcomes


def _store_one(conn, r: "_Request", tally: Tally):
    for _ in range(2):  # a key committed elsewhere meanwhile is found on the second pass
        try:
            with conn.begin_nested():
                if r.nonce is not None and not replay.claim(conn, [r.nonce]):
                    return replay.replayed()
                out, new = _check(conn, r.site, r.items, 0)
                queue.enqueue(conn, [p.message for p in new],
                              [row for p in new for row in p.recipients])
                _note_rewrites(conn, new)
        except (InvalidInput, QuotaExceeded) as exc:
            return exc
        except IntegrityError:
            continue
        for p in new:
            _count(tally, p)
        return out
    return StorageError("could not store the message (integrity conflict)")


def _count(tally: Tally, p: _Prepared) -> None:
    m = p.message
    for row in p.recipients:
        tally.add(m["site_id"], m["category"], p.provider, row["domain"], "accepted")
    if p.rewritten_from is not None and p.recipients:
        tally.add(m["site_id"], m["category"], p.provider, p.recipients[0]["domain"], "rewritten")


def _note_rewrites(conn, items: list[_Prepared]) -> None:
    """Remember each site's latest rewritten sender, for the status page's fix; written only
    when it changes, so a site whose every message is rewritten costs no extra row write."""
    last = {p.message["site_id"]: p.rewritten_from for p in items if p.rewritten_from is not None}
    for site_id, address in last.items():
        address = address[:320]
        conn.execute(update(Site).where(Site.id == site_id, or_(
            Site.last_rewritten_from.is_(None), Site.last_rewritten_from != address))
            .values(last_rewritten_from=address))


def _check(conn, site: SiteAuth, items: list[_Prepared], pending: int) -> tuple[list[Accepted], list[_Prepared]]:
    """The answer for each item (a replay answers with the earlier message) and the items to
    insert. ``pending``: recipients of this site already added in the same transaction."""
    _check_quota(conn, site, pending + sum(len(p.recipients) for p in items), utcnow())
    keys = [p.idempotency_key for p in items if p.idempotency_key]
    prior = {}
    if keys:
        m = Message.__table__.c
        prior = {row.idempotency_key: row for row in conn.execute(
            select(m.idempotency_key, m.id, m.request_hash, m.recipient_count, m.category)
            .where(m.site_id == site.id, m.idempotency_key.in_(keys)))}
    out, new = [], []
    for p in items:
        before = prior.get(p.idempotency_key) if p.idempotency_key else None
        if before is None:
            out.append(p.accepted)
            new.append(p)
        elif before.request_hash != p.request_hash:
            raise InvalidInput(
                422, "idempotency_key_reused", "Idempotency-Key",
                f"the key {p.idempotency_key!r} was used before with a different body",
                "use a new Idempotency-Key for a new message; reuse a key only to "
                "retry the very same request")
        else:
            out.append(Accepted(before.id, before.recipient_count, before.category, True))
    return out, new


def _check_quota(conn, site: SiteAuth, adding: int, now) -> None:
    for quota, window, label in ((site.hourly_quota, 3600, "hourly"),
                                 (site.daily_quota, 86400, "daily")):
        if not quota:
            continue
        since = now - timedelta(seconds=window)
        used, oldest = conn.execute(
            select(func.coalesce(func.sum(Message.recipient_count), 0), func.min(Message.created_at))
            .where(Message.site_id == site.id, Message.created_at >= since)).one()
        if used + adding > quota:
            retry = window - (now - oldest).total_seconds() if oldest else window
            raise QuotaExceeded(
                f"site {site.name}: {label} quota of {quota} recipients reached ({used} used)",
                max(1, math.ceil(retry)))
