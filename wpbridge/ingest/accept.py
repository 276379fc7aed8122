"""The room behind both doors: check a site's submissions, classify, queue, commit.

Only after :func:`accept` returns is the client told yes (HTTP 202, SMTP 250). Everything
in one call is committed together or not at all.
"""

from __future__ import annotations

import math
import threading
import weakref
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import timedelta
from queue import Empty, SimpleQueue

from email.utils import getaddresses
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from wpbridge import queue
from wpbridge.classify import classify
from wpbridge.ingest.message import InvalidInput, Submission
from wpbridge.models import Message, utcnow
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


def check_sender(site: SiteAuth, sub: Submission, where: str = "") -> None:
    """The envelope sender and the From header must both be of the site's sending domains."""
    from_addrs = [a for _, a in getaddresses([sub.from_header]) if a]
    for field, address in ((where + "from", from_addrs[0] if from_addrs else ""),
                           (where + "envelope.from", sub.mail_from)):
        if not site.sender_allowed(address):
            domain = address.rpartition("@")[2] or "(none)"
            raise InvalidInput(
                422, "sender_domain", field,
                f"site {site.name}: sender domain {domain} is not one of this site's sending "
                f"domains ({', '.join(sorted(site.domains))})",
                f"send from one of them, or add it with 'wpbridge site domains add {site.name} {domain}'")


def accept(engine, settings, site: SiteAuth, items: list[Item]) -> list[Accepted]:
    """Queue ``items`` for ``site``: committed together, or not at all.

    Requests that arrive at the same moment share one transaction (group commit, see
    :class:`GroupCommit`): one fsync for many messages, without weaker durability.

    :raise InvalidInput: a sender domain is not the site's, or an Idempotency-Key was reused
        with a different body; nothing is stored.
    :raise QuotaExceeded: the site's hourly or daily quota would be passed.
    :raise StorageError: the database failed; nothing is stored.
    """
    for i, item in enumerate(items):
        check_sender(site, item.submission, f"messages[{i}]." if len(items) > 1 else "")
    return GroupCommit.of(engine, settings).submit(site, items)


class GroupCommit:
    """Requests that arrive together share one transaction. There is no committer thread:
    the first waiting request leads, drains what is pending and commits it in its own thread
    (no hand-off when alone); the others wait for their result or lead the next round. Each
    request gets a savepoint inside the shared transaction, so one refused request does not
    undo the others; results are handed out only after the COMMIT returned."""

    MAX_REQUESTS = 64
    _instances: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
    _instances_lock = threading.Lock()

    def __init__(self, engine, settings):
        self.engine, self.settings = engine, settings
        self.pending: SimpleQueue = SimpleQueue()
        self.leader = threading.Lock()

    @classmethod
    def of(cls, engine, settings) -> "GroupCommit":
        with cls._instances_lock:
            gc = cls._instances.get(engine)
            if gc is None:
                gc = cls._instances[engine] = cls(engine, settings)
            return gc

    def submit(self, site: SiteAuth, items: list[Item]) -> list[Accepted]:
        future: Future = Future()
        self.pending.put((site, items, future))
        while not future.done():
            if self.leader.acquire(blocking=False):
                try:
                    batch = self._drain()
                    if batch:
                        self._commit(batch)
                finally:
                    self.leader.release()
            else:
                wait([future], timeout=0.002)  # the leader may take ours, or we lead next
        return future.result()

    def _drain(self) -> list:
        batch = []
        while len(batch) < self.MAX_REQUESTS:
            try:
                batch.append(self.pending.get_nowait())
            except Empty:
                break
        return batch

    def _commit(self, batch) -> None:
        outcomes: list = []
        tally = Tally()
        try:
            with self.engine.begin() as conn:
                for site, items, _ in batch:
                    outcomes.append(self._store_one(conn, site, items, tally))
                tally.flush(conn, utcnow())
        except DBAPIError as exc:
            failure = StorageError(f"could not store the message: {exc.orig or exc}")
            for *_, future in batch:
                future.set_exception(failure)
            return
        except Exception as exc:  # a bug must not leave a client waiting forever
            for *_, future in batch:
                future.set_exception(StorageError(f"could not store the message: {exc!r}"))
            raise
        for (*_, future), outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _store_one(self, conn, site, items, tally: Tally):
        for attempt in range(2):
            try:
                with conn.begin_nested():
                    accepted, counted = _store(conn, self.settings, site, items)
                tally.merge(counted)
                return accepted
            except (InvalidInput, QuotaExceeded) as exc:
                return exc
            except IntegrityError:
                # Another process committed the same Idempotency-Key first: the second
                # pass finds its message and answers as a replay.
                if attempt:
                    return StorageError("could not store the message (integrity conflict)")
        raise AssertionError("unreachable")


def _store(conn, settings, site: SiteAuth, items: list[Item]) -> tuple[list[Accepted], Tally]:
    now = utcnow()
    out: list[Accepted] = []
    tally = Tally()
    _check_quota(conn, site, sum(len(i.submission.recipients) for i in items), now)
    m = Message.__table__.c
    for item in items:
        sub = item.submission
        if item.idempotency_key:
            prior = conn.execute(
                select(m.id, m.request_hash, m.recipient_count, m.category)
                .where(m.site_id == site.id, m.idempotency_key == item.idempotency_key)).first()
            if prior is not None:
                if prior.request_hash != item.request_hash:
                    raise InvalidInput(
                        422, "idempotency_key_reused", "Idempotency-Key",
                        f"the key {item.idempotency_key!r} was used before with a different body",
                        "use a new Idempotency-Key for a new message; reuse a key only to "
                        "retry the very same request")
                out.append(Accepted(prior.id, prior.recipient_count, prior.category, True))
                continue
        cls = classify(sub.headers, sub.context, recipients=sub.recipients,
                       body=sub.raw.partition(b"\r\n\r\n")[2],
                       rules=settings.site_classify_rules.get(site.name, ()) + settings.classify_rules)
        route = route_for(settings, site.name, cls.category)
        queue.enqueue(conn, site.id, sub, cls, route, now, item.idempotency_key, item.request_hash)
        for address in sub.recipients:
            tally.add(site.id, cls.category, route.providers[0], address.rpartition("@")[2], "accepted")
        out.append(Accepted(sub.id, len(sub.recipients), cls.category, False))
    return out, tally


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
