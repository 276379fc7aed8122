"""queue: every state change of a message happens here, with the SQL in plain sight.

A recipient row moves ``queued -> sending -> delivered | failed | expired``, or back to
``queued`` with a later ``next_attempt_at`` after a temporary failure. Workers claim due rows
with a lease; a lease that runs out (worker killed) makes the row due again, so delivery is
at least once and nothing accepted is ever lost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from wpbridge.auth.dkim import body_hash
from wpbridge.classify import Classification
from wpbridge.ingest.message import Submission
from wpbridge.models import Attempt, Lane, Message, Recipient, Site, State
from wpbridge.relay import DELIVERED, PERMANENT, Reply
from wpbridge.events import Group, Reason, RecipientResult
from wpbridge.events.bounces import classify_reply, reply_numbers
from wpbridge.events.policy import Observed, Policy
from wpbridge.events.policy import apply as events_policy_apply
from wpbridge.route import Route
from wpbridge.status.metrics import Tally


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before try ``n + 1`` after ``n`` temporary failures::

        delay(n) = min(max_delay, base * factor ** (n - 1)) * (1 - jitter * u),  u ~ U[0, 1)

    The jitter only shortens a delay, so ``max_delay`` is a true upper bound, and retries of
    many recipients after one provider outage spread out instead of arriving together.
    """

    base: float = 60.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.25

    def delay(self, failures: int, u: float | None = None) -> float:
        u = random.random() if u is None else u
        return min(self.max_delay, self.base * self.factor ** (failures - 1)) * (1 - self.jitter * u)

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(settings.retry_base, settings.retry_factor, settings.retry_max_delay,
                   settings.retry_jitter)


_MESSAGES, _RECIPIENTS, _ATTEMPTS = Message.__table__, Recipient.__table__, Attempt.__table__


def rows(site_id: int, sub: Submission, cls: Classification, route: Route, now: datetime,
         idempotency_key: str | None = None, request_hash: str | None = None) -> tuple[dict, list[dict]]:
    """The message row and its recipient rows, ready for :func:`enqueue`."""
    message = {
        "id": sub.id, "site_id": site_id, "idempotency_key": idempotency_key,
        "request_hash": request_hash, "created_at": now,
        "expires_at": now + timedelta(seconds=route.max_age), "mail_from": sub.mail_from,
        "from_header": sub.from_header[:998], "subject": sub.subject[:998],
        "category": cls.category, "reasons": list(cls.reasons), "context": sub.context,
        "size": len(sub.raw), "recipient_count": len(sub.recipients), "raw": sub.raw,
        "body_hash": body_hash(sub.raw),
    }
    recipients = [{
        "message_id": sub.id, "site_id": site_id, "address": address,
        "domain": address.rpartition("@")[2].lower(), "lane": route.lane,
        "provider": route.providers[0],
        "state": State.queued.value, "attempts": 0, "next_attempt_at": now, "updated_at": now,
    } for address in sub.recipients]
    return message, recipients


def enqueue(conn: Connection, messages: list[dict], recipients: list[dict]) -> None:
    """Insert messages and their recipient rows (from :func:`rows`) in the caller's
    transaction: two statements however many messages."""
    if messages:
        conn.execute(insert(_MESSAGES), messages)
    if recipients:
        conn.execute(insert(_RECIPIENTS), recipients)


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    site_id: int
    address: str
    provider: str
    attempts: int


# -- claim --  One statement per lane, best lane first. PostgreSQL skips rows another
# worker holds locked; SQLite has one writer at a time, so the UPDATE alone is atomic.
_CLAIM = """
UPDATE recipients SET state = 'sending', lease_until = :lease_until, leased_by = :worker,
       updated_at = :now
 WHERE id IN (SELECT id FROM recipients
               WHERE state = 'queued' AND lane = :lane AND next_attempt_at <= :now {exclude}
               ORDER BY next_attempt_at
               LIMIT :limit {lock})
RETURNING id, message_id, site_id, address, provider, attempts
"""


def claim(engine: Engine, worker: str, limit: int, lease: float, now: datetime,
          bulk_limit: int | None = None, exclude: Iterable[str] = ()) -> list[Claimed]:
    """Lease up to ``limit`` due recipients, transactional lane first, at most ``bulk_limit``
    of the bulk lane, none queued for a provider in ``exclude`` (the worker has enough of
    its mail in hand); commits."""
    lock = "FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    exclude = sorted(exclude)
    sql = text(_CLAIM.format(lock=lock, exclude="AND provider NOT IN :exclude" if exclude else ""))
    if exclude:
        sql = sql.bindparams(bindparam("exclude", expanding=True))
    out: list[Claimed] = []
    with engine.begin() as conn:
        for lane in Lane:
            if len(out) >= limit:
                break
            room = limit - len(out)
            if lane is Lane.bulk and bulk_limit is not None:
                room = min(room, bulk_limit)
            rows = conn.execute(sql, {"lease_until": now + timedelta(seconds=lease),
                                      "worker": worker, "now": now, "lane": lane.value,
                                      "limit": room, **({"exclude": exclude} if exclude else {})})
            out.extend(Claimed(*row) for row in rows)
    return out


# -- reap --  A worker that died leaves rows in 'sending'; after the lease they are due again.
_REAP = """
UPDATE recipients SET state = 'queued', lease_until = NULL, leased_by = NULL, updated_at = :now
 WHERE state = 'sending' AND lease_until < :now
"""


def reap_expired_leases(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(text(_REAP), {"now": now}).rowcount


def release(engine: Engine, worker: str, ids: Iterable[int] | None, now: datetime) -> int:
    """Give back rows this worker claimed and did not finish (shutdown): due again at once.
    ``ids=None``: every row it still holds."""
    r = _RECIPIENTS.c
    where = [r.leased_by == worker, r.state == State.sending.value]
    if ids is not None:
        ids = list(ids)
        if not ids:
            return 0
        where.append(r.id.in_(ids))
    with engine.begin() as conn:
        return conn.execute(update(_RECIPIENTS).where(*where).values(
            state=State.queued.value, lease_until=None, leased_by=None, updated_at=now)).rowcount


@dataclass(frozen=True)
class Queued:
    """What the worker needs of a claimed message."""

    id: str
    site_id: int
    site_name: str
    mail_from: str
    raw: bytes
    category: str
    created_at: datetime
    expires_at: datetime
    body_hash: str | None = None


def messages_for(engine: Engine, ids: Iterable[str]) -> dict[str, Queued]:
    m, s = _MESSAGES.c, Site.__table__.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.id, m.site_id, s.name, m.mail_from, m.raw, m.category,
                                   m.created_at, m.expires_at, m.body_hash)
                            .join_from(_MESSAGES, Site.__table__, m.site_id == s.id)
                            .where(m.id.in_(set(ids))))
        return {r.id: Queued(*r) for r in rows}


SUPPRESSED = "suppressed"  # an outcome decided before relay: the address is suppressed
HELD_TOO_LONG = "held_too_long"  # decided before relay: held (shaping, DMARC) past the message's age


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    message: Queued
    reply: Reply  # reply.outcome: delivered, temporary, permanent, or SUPPRESSED
    duration_ms: int
    next_provider: str | None = None  # where a temporary failure is tried next
    at_once: bool = False  # tried again without a delay (its provider failed, the next one takes it)


_STATE_OF = {DELIVERED: State.delivered, PERMANENT: State.failed, SUPPRESSED: State.suppressed,
             HELD_TOO_LONG: State.expired}
_NOT_TRIED = (SUPPRESSED, HELD_TOO_LONG)
_COUNTER = {State.delivered: "delivered", State.failed: "bounced", State.suppressed: "suppressed",
            State.queued: "deferred", State.expired: "expired"}


def record(engine: Engine, worker: str, outcomes: Sequence[Outcome], policy: RetryPolicy,
           now: datetime, events_policy: Policy = Policy()) -> None:
    """Store the outcomes: one attempt row each, the new state per recipient. Temporary
    failures are retried after ``policy.delay`` unless that would pass the message's
    expiry. A recipient that failed or expired becomes a bounce event, judged by the same
    rules as bounce messages (and may land on the suppression list), except one held back
    by the bridge itself until its message expired. Rows whose lease this worker lost are
    left to their new owner."""
    if not outcomes:
        return
    changes, attempts, bounces = [], [], []
    tally = Tally()
    for o in outcomes:
        tries = o.claimed.attempts + (o.reply.outcome not in _NOT_TRIED)
        next_at = now
        state = _STATE_OF.get(o.reply.outcome)
        if state is None:  # temporary
            next_at = now if o.at_once else now + timedelta(seconds=policy.delay(tries))
            state = State.expired if next_at > o.message.expires_at else State.queued
        latency = int((now - o.message.created_at).total_seconds() * 1000) \
            if state is State.delivered else None
        tally.add(o.claimed.site_id, o.message.category, o.claimed.provider,
                  o.claimed.address.rpartition("@")[2], _COUNTER[state], latency)
        if state in (State.failed, State.expired) and o.reply.outcome != HELD_TOO_LONG:
            bounces.append(_bounce(o, state))  # held mail says nothing about the recipient
        text_ = o.reply.text[:2000]
        changes.append({"rid": o.claimed.id, "worker": worker, "state": state.value,
                        "provider": o.next_provider or o.claimed.provider, "attempts": tries,
                        "next_at": next_at, "code": o.reply.code, "response": text_, "now": now})
        attempts.append({"recipient_id": o.claimed.id, "at": now, "provider": o.claimed.provider,
                         "outcome": "deferred" if state is State.queued else state.value,
                         "code": o.reply.code, "response": text_, "duration_ms": o.duration_ms})
    with engine.begin() as conn:
        conn.execute(
            text("""UPDATE recipients SET state = :state, provider = :provider, attempts = :attempts,
                           next_attempt_at = :next_at, last_code = :code,
                           last_response = :response, lease_until = NULL, leased_by = NULL,
                           updated_at = :now
                     WHERE id = :rid AND leased_by = :worker AND state = 'sending'"""),
            changes)
        conn.execute(insert(_ATTEMPTS), attempts)
        tally.flush(conn, now)
        events_policy_apply(conn, bounces, events_policy, now)


def _bounce(o: Outcome, state: State) -> Observed:
    if state is State.expired:
        group, reason = Group.SOFT, Reason.EXPIRED
    else:
        group, reason = classify_reply(o.reply.code, None, o.reply.text, o.reply.command)
    _, status = reply_numbers(o.reply.text)
    return Observed(o.claimed.site_id, RecipientResult(
        o.claimed.address.lower(), status, group, reason, o.reply.code, o.reply.text[:500]),
        "relay", o.message.id)


# -- postpone --  Rows a worker claimed but shaping holds back (a rate, a hold, a pause, a
# window): due again at their time, with the reason to read, and no attempt counted.
_POSTPONE = """
UPDATE recipients SET state = 'queued', next_attempt_at = :until, last_response = :reason,
       lease_until = NULL, leased_by = NULL, updated_at = :now
 WHERE id = :rid AND leased_by = :worker AND state = 'sending'
"""


def postpone(engine: Engine, worker: str, rows_until_reason: Iterable[tuple[int, datetime, str]],
             now: datetime) -> None:
    """Put claimed rows back to 'queued' until the given time; rows whose lease this worker
    lost are left to their new owner."""
    params = [{"rid": rid, "until": until, "reason": reason[:2000], "worker": worker, "now": now}
              for rid, until, reason in rows_until_reason]
    if params:
        with engine.begin() as conn:
            conn.execute(text(_POSTPONE), params)
