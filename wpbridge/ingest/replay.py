"""Replay protection: each signed POST, PUT or DELETE carries a nonce (see
:mod:`wpbridge.ingest.signing`), remembered in the database until its timestamp leaves the
window, so every web process refuses a second use.

The primary key is the uniqueness guard (``INSERT ... ON CONFLICT DO NOTHING``): of two
concurrent uses, one inserts and the other finds the row. A message request's nonce is
inserted in the group commit's transaction (no extra round trip or fsync); other requests
insert theirs in a transaction of their own before they change anything.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wpbridge.ingest.signing import NONCE_HEADER, SignatureError
from wpbridge.models import RequestNonce

PRUNE_EVERY = 60.0  # seconds between deletions of stale nonces, per process

_table = RequestNonce.__table__
# Built once: SQLAlchemy then caches the compiled form (executemany, one statement per round).
_INSERT = {pg: insert(_table).on_conflict_do_nothing().returning(_table.c.key)
           for pg, insert in ((True, pg_insert), (False, sqlite_insert))}
_pruned = {"at": 0.0}
_prune_lock = threading.Lock()


@dataclass(frozen=True)
class Nonce:
    key: str  # until (10 digits) + SHA-256 of key id and nonce (54 hex digits)


def nonce_of(key_id: str, nonce: str, timestamp: str, window: int) -> Nonce:
    """The stored form of a verified request's nonce. ``until`` leads: past it the request's
    timestamp is stale anyway, and rows are pruned by it; since the timestamp is signed, a
    replay has the same key. Nonces of different key ids never collide."""
    until = max(0, min(int(timestamp) + window + 1, 10**10 - 1))
    return Nonce(f"{until:010d}" + hashlib.sha256(f"{key_id}\n{nonce}".encode()).hexdigest()[:54])


def replayed() -> SignatureError:
    return SignatureError(
        "replayed", "this request was already received (nonce reused); nothing was done again",
        f"send each request with a new {NONCE_HEADER} (and sign it); to retry a message "
        "safely, keep its Idempotency-Key and sign again with a new nonce")


def claim(conn, nonces: list[Nonce]) -> set[str]:
    """Insert ``nonces`` in ``conn``'s transaction; the keys that were new. A key given twice
    counts once (the caller answers its second use as a replay)."""
    if not nonces:
        return set()
    now = time.time()
    if now - _pruned["at"] > PRUNE_EVERY and _prune_lock.acquire(blocking=False):
        try:
            _pruned["at"] = now
            conn.execute(delete(_table).where(_table.c.key < f"{int(now):010d}"))
        finally:
            _prune_lock.release()
    rows = [{"key": k} for k in dict.fromkeys(n.key for n in nonces)]
    return set(conn.scalars(_INSERT[conn.dialect.name == "postgresql"], rows))


def claim_alone(engine, nonce: Nonce) -> None:
    """Claim one nonce in a transaction of its own.

    :raise SignatureError: it was used before (a replay).
    """
    with engine.begin() as conn:
        if not claim(conn, [nonce]):
            raise replayed()
