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

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from wpbridge.classify import Classification
from wpbridge.ingest.message import Submission
from wpbridge.models import Attempt, Lane, Message, Recipient, State
from wpbridge.relay import DELIVERED, PERMANENT, Reply


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


def enqueue(conn: Connection, site_id: int, sub: Submission, cls: Classification, provider: str,
            now: datetime, max_age: float, idempotency_key: str | None = None,
            request_hash: str | None = None) -> None:
    """Insert one message and its recipient rows in the caller's transaction."""
    conn.execute(insert(_MESSAGES), [{
        "id": sub.id, "site_id": site_id, "idempotency_key": idempotency_key,
        "request_hash": request_hash, "created_at": now,
        "expires_at": now + timedelta(seconds=max_age), "mail_from": sub.mail_from,
        "from_header": sub.from_header[:998], "subject": sub.subject[:998],
        "category": cls.category, "reasons": list(cls.reasons), "context": sub.context,
        "size": len(sub.raw), "recipient_count": len(sub.recipients), "raw": sub.raw,
    }])
    lane = Lane[cls.category].value
    conn.execute(insert(_RECIPIENTS), [{
        "message_id": sub.id, "site_id": site_id, "address": address,
        "domain": address.rpartition("@")[2].lower(), "lane": lane, "provider": provider,
        "state": State.queued.value, "attempts": 0, "next_attempt_at": now, "updated_at": now,
    } for address in sub.recipients])


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    address: str
    provider: str
    attempts: int


# -- claim --  One statement per lane, best lane first. PostgreSQL skips rows another
# worker holds locked; SQLite has one writer at a time, so the UPDATE alone is atomic.
_CLAIM = """
UPDATE recipients SET state = 'sending', lease_until = :lease_until, leased_by = :worker,
       updated_at = :now
 WHERE id IN (SELECT id FROM recipients
               WHERE state = 'queued' AND lane = :lane AND next_attempt_at <= :now
               ORDER BY next_attempt_at
               LIMIT :limit {lock})
RETURNING id, message_id, address, provider, attempts
"""


def claim(engine: Engine, worker: str, limit: int, lease: float, now: datetime) -> list[Claimed]:
    """Lease up to ``limit`` due recipients, transactional lane first; commits."""
    lock = "FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    sql = text(_CLAIM.format(lock=lock))
    out: list[Claimed] = []
    with engine.begin() as conn:
        for lane in Lane:
            if len(out) >= limit:
                break
            rows = conn.execute(sql, {"lease_until": now + timedelta(seconds=lease),
                                         "worker": worker, "now": now, "lane": lane.value,
                                         "limit": limit - len(out)})
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


def release(engine: Engine, worker: str, ids: Iterable[int], now: datetime) -> None:
    """Give back rows this worker claimed but did not try (shutdown)."""
    ids = list(ids)
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(
            update(_RECIPIENTS)
            .where(_RECIPIENTS.c.id.in_(ids), _RECIPIENTS.c.leased_by == worker,
                   _RECIPIENTS.c.state == State.sending.value)
            .values(state=State.queued.value, lease_until=None, leased_by=None, updated_at=now))


def messages_for(engine: Engine, ids: Iterable[str]) -> dict[str, tuple[str, bytes, datetime]]:
    """Envelope sender, bytes and expiry of the claimed messages."""
    m = _MESSAGES.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.id, m.mail_from, m.raw, m.expires_at).where(m.id.in_(set(ids))))
        return {r.id: (r.mail_from, r.raw, r.expires_at) for r in rows}


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    reply: Reply
    expires_at: datetime
    duration_ms: int


def record(engine: Engine, worker: str, outcomes: Sequence[Outcome], policy: RetryPolicy,
           now: datetime) -> None:
    """Store what the providers answered: one attempt row per try, the new state per
    recipient. Temporary failures are retried after ``policy.delay`` unless that would pass
    the message's expiry. Rows whose lease this worker lost are left to their new owner."""
    if not outcomes:
        return
    changes, attempts = [], []
    for o in outcomes:
        failures = o.claimed.attempts + 1
        next_at = now
        if o.reply.outcome == DELIVERED:
            state = State.delivered
        elif o.reply.outcome == PERMANENT:
            state = State.failed
        else:
            next_at = now + timedelta(seconds=policy.delay(failures))
            state = State.expired if next_at > o.expires_at else State.queued
        changes.append({"rid": o.claimed.id, "worker": worker, "state": state.value,
                        "attempts": failures, "next_at": next_at, "code": o.reply.code,
                        "response": o.reply.text[:2000], "now": now})
        attempts.append({"recipient_id": o.claimed.id, "at": now, "provider": o.claimed.provider,
                         "outcome": {State.queued: "deferred"}.get(state, state.value),
                         "code": o.reply.code, "response": o.reply.text[:2000],
                         "duration_ms": o.duration_ms})
    with engine.begin() as conn:
        conn.execute(
            text("""UPDATE recipients SET state = :state, attempts = :attempts,
                           next_attempt_at = :next_at, last_code = :code,
                           last_response = :response, lease_until = NULL, leased_by = NULL,
                           updated_at = :now
                     WHERE id = :rid AND leased_by = :worker AND state = 'sending'"""),
            changes)
        conn.execute(insert(_ATTEMPTS), attempts)
